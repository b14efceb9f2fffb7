"""Entry point for gunicorn: `gunicorn wsgi:app`."""

from cancelpage import create_app

app = create_app()
