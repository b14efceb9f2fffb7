"""The hello baseline: a one-line Flask app, served by the benchmarks on the app's gunicorn
settings (`gunicorn hello_app:app --pythonpath bench -c gunicorn.conf.py`)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
