"""Shared set-up for the benchmarks: an app on its own database with one merchant, and the app
under gunicorn (2 workers on 127.0.0.1) driven by clients in other processes."""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

from cancelpage import create_app  # noqa: E402
from cancelpage.cli.links import make_link  # noqa: E402
from cancelpage.extensions import db  # noqa: E402
from cancelpage.merchants.store import create_merchant  # noqa: E402

SECRET_KEY = "bench-secret-key"
# Rate limits on, against Redis, as production runs them: a database of the bench's own, and
# limits high enough that the clients (all on 127.0.0.1) measure their cost, not their refusals.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
BENCH_LIMIT = "100000000 per minute"


def database_url(workdir: Path) -> str:
    """PostgreSQL when DATABASE_URL is set, else a SQLite file in the bench's work folder."""
    url = os.environ.get("DATABASE_URL")
    return url if url else f"sqlite:///{workdir}/bench.sqlite"


def make_app(workdir: Path, **config: Any) -> Flask:
    """The app on the bench's database, as it is (see bench_app for a fresh one)."""
    from cancelpage.config import normalise_database_url

    return create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url(workdir)),
            "SEED_DEMO": False,
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            **config,
        }
    )


def bench_app(workdir: Path, **config: Any) -> Flask:
    """A fresh schema with the merchant "acme" (preview mode unless a key is given)."""
    app = make_app(workdir, **config)
    with app.app_context():
        db.drop_all()
        db.create_all()
        create_merchant("acme", "Acme", return_hosts=["127.0.0.1"])
        db.session.commit()
    return app


def link(app: Flask, n: int, customer: str | None = None) -> str:
    """A cancel link path for a price-sensitive customer (the discount offer comes first)."""
    with app.app_context():
        attributes = {"plan": "Pro", "mrr": "4900"}
        url = make_link("acme", customer or f"cus_{n}", f"sub_{n}", None, attributes)
    return url.removeprefix(app.config["PUBLIC_BASE_URL"])


# ---- the app under gunicorn, and clients ----------------------------------------------------

# One HTTP request: method, path, body, headers.
Request = tuple[str, str, bytes | None, dict[str, str]]
# What a client sends: the same request every time, or a new one per call (e.g. a new event id).
Source = Request | Callable[[], Request]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, path: str = "/healthz") -> None:
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gunicorn did not start")


SERVERS: dict[int, int] = {}  # port -> gunicorn master's pid


def rss(pid: int) -> int:
    """A process's resident memory now, in bytes (Linux /proc)."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker_pids(port: int) -> list[int]:
    """The gunicorn workers serving ``port`` (the master's children)."""
    master = SERVERS[port]
    with open(f"/proc/{master}/task/{master}/children") as children:
        return [int(pid) for pid in children.read().split()]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """min / median / max of interleaved rounds."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:.{digits}f} / median {mid:.{digits}f} / max {high:.{digits}f}"


@contextmanager
def gunicorn(
    workdir: Path, workers: int = 2, *, app: str = "wsgi:app", env: dict[str, str] | None = None
) -> Iterator[int]:
    """gunicorn serving ``app`` (the cancelpage app on the bench's database, rate limits on in
    Redis as production runs; or ``hello_app:app``, bench/hello_app.py) with the project's
    gunicorn.conf.py on 127.0.0.1; yields its port. ``env`` adds or overrides settings."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CANCELPAGE_")}
    environment.update(
        CANCELPAGE_SECRET_KEY=SECRET_KEY,
        DATABASE_URL=database_url(workdir),
        CANCELPAGE_RATELIMIT_ENABLED="true",
        CANCELPAGE_RATELIMIT_STORAGE_URI=REDIS_URL,
        CANCELPAGE_RATE_LIMIT_PER_IP=BENCH_LIMIT,
        CANCELPAGE_RATE_LIMIT_PER_LINK=BENCH_LIMIT,
        CANCELPAGE_SEED_DEMO="false",
        GUNICORN_ACCESS_LOG="/dev/null",
    )
    environment.update(env or {})
    command = [sys.executable, "-m", "gunicorn", app, "-c", "gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    if app != "wsgi:app":
        command += ["--pythonpath", str(ROOT / "bench")]
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    SERVERS[port] = server.pid
    try:
        wait_for(port, "/healthz" if app == "wsgi:app" else "/")
        yield port
    finally:
        SERVERS.pop(port, None)
        server.terminate()
        server.wait(timeout=30)


def hammer(port: int, source: Source, seconds: float) -> int:
    """One client: requests back to back for `seconds`; returns how many completed OK."""
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        method, path, body, headers = source() if callable(source) else source
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        done += 1
    return done


def rate(
    pool: ProcessPoolExecutor, port: int, sources: Sequence[Source], seconds: float
) -> tuple[float, int]:
    """Requests per second with one client per source (after a 0.5 s warm-up), and how many
    requests were sent in all, warm-up included."""
    clients = len(sources)
    warm = sum(pool.map(hammer, [port] * clients, sources, [0.5] * clients))
    done = sum(pool.map(hammer, [port] * clients, sources, [seconds] * clients))
    return done / seconds, warm + done


# ---- interleaved rounds, and one line per figure ------------------------------------------------


def drive(port: int, requests: Sequence[Request], seconds: float) -> tuple[int, float]:
    """One client: `requests` in order, back to back, for at most `seconds` (a list of fresh
    requests runs out: each is sent once); returns (requests answered below 400, seconds taken)."""
    done = 0
    started = time.monotonic()
    deadline = started + seconds
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for method, path, body, headers in requests:
        if time.monotonic() >= deadline:
            break
        conn.request(method, path, body=body, headers={"Connection": "keep-alive", **headers})
        response = conn.getresponse()
        response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        if response.will_close:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        done += 1
    conn.close()
    return done, time.monotonic() - started


def rate_of(
    pool: ProcessPoolExecutor, port: int, per_client: Sequence[Sequence[Request]], seconds: float
) -> float:
    """Requests per second of clients sending their lists at once."""
    clients = len(per_client)
    results = list(pool.map(drive, [port] * clients, per_client, [seconds] * clients))
    return sum(done for done, _ in results) / max(took for _, took in results)


FIGURE = "@figure "  # bench/suite.py reads these lines from every benchmark's output


def figure(
    name: str, values: Sequence[float], target: float | None, unit: str = "", *, lower: bool = False
) -> bool:
    """Print a figure's min/median/max beside its target (>= target, or < target when lower
    is better) and a machine-readable copy for bench/suite.py; returns whether it is met."""
    import json
    import statistics

    low, mid, high = min(values), statistics.median(values), max(values)
    met = None if target is None else (mid < target if lower else mid >= target)
    goal = "" if target is None else f"{'<' if lower else '>='} {target:g}{unit}"
    verdict = "" if met is None else ("met" if met else "MISSED")
    spread = f"min {low:8.3f}  median {mid:8.3f}  max {high:8.3f}{unit}"
    print(f"    {name:44} {spread}  {goal} {verdict}")
    record = {"name": name, "min": low, "median": mid, "max": high, "unit": unit}
    record.update(target=goal, met=met)
    print(FIGURE + json.dumps(record), flush=True)
    return bool(met) if met is not None else True
