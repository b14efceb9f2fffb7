"""gunicorn settings for cancelpage: ``gunicorn wsgi:app -c gunicorn.conf.py``.

Environment: ``GUNICORN_BIND`` (default 127.0.0.1:8000, behind a reverse proxy),
``WEB_CONCURRENCY`` (worker processes), ``GUNICORN_ACCESS_LOG`` (file, or "-" for stdout).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: a customer's final click waits on Stripe (10 s timeout, 2 retries), so allow a
# few more processes than cores. State lives in the database, so any number is safe.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))
worker_class = "sync"
timeout = 30  # above CANCELPAGE_STRIPE_TIMEOUT (10 s): a Stripe call never outlives its worker
graceful_timeout = 30  # a worker finishing a Stripe write on shutdown gets to record it
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# Build the app once in the master: unsafe production settings (default secret key, missing
# encryption keys, SQLite, in-memory rate limits) stop gunicorn at start with the reason.
preload_app = True
# gunicorn 27 opens a control socket in the home directory by default; nothing here uses it.
control_socket_disable = True

# Link tokens and session capabilities are in URL paths: log redacted paths, no query strings,
# no Referer (docs/RELIABILITY.md 6).
logger_class = "cancelpage.web.logs.RedactingGunicornLogger"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_fork(server, worker):
    """Database connections must never be shared between processes.

    The app is the one gunicorn was told to serve (``wsgi:app``, ``'cancelpage:create_app()'``,
    from any folder): loaded once in the master when preloaded, else here in the worker.
    """
    from flask import Flask

    from cancelpage.extensions import db

    app = server.app.wsgi()
    if isinstance(app, Flask) and "sqlalchemy" in app.extensions:
        with app.app_context():
            db.engine.dispose(close=False)
