"""(a) Requests per second under gunicorn (2 workers, 127.0.0.1) for the customer's first GET
(link -> 303, then the step page) and the survey -> offer POST, each against /healthz (a
hello-world route of the same app) in the same run, printed as a ratio.

    python bench/throughput.py [--seconds 5] [--clients 4]
SQLite in a temporary folder unless DATABASE_URL is set. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from _setup import ROOT, SECRET_KEY, bench_app, database_url, link

Request = tuple[str, str, bytes | None, dict[str, str]]


def hammer(port: int, request: Request, seconds: float) -> int:
    """One client: requests back to back for `seconds`; returns how many completed OK."""
    method, path, body, headers = request
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        done += 1
    return done


def rate(pool: ProcessPoolExecutor, port: int, request: Request, args: argparse.Namespace) -> float:
    list(pool.map(hammer, [port] * args.clients, [request] * args.clients, [0.5] * args.clients))
    counts = pool.map(
        hammer, [port] * args.clients, [request] * args.clients, [args.seconds] * args.clients
    )
    return sum(counts) / args.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        app = bench_app(workdir)
        first_link, post_link = link(app, 1), link(app, 2)
        client = app.test_client()
        step_page = client.get(first_link).headers["Location"]
        post_step = client.get(post_link).headers["Location"]
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANCELPAGE_")}
        env.update(
            CANCELPAGE_SECRET_KEY=SECRET_KEY,
            DATABASE_URL=database_url(workdir),
            CANCELPAGE_RATELIMIT_ENABLED="false",
            CANCELPAGE_SEED_DEMO="false",
            GUNICORN_ACCESS_LOG="/dev/null",
        )
        command = [sys.executable, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "2"]
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(port)
            form = urlencode({"reason": "too_expensive"}).encode()
            post_headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "HX-Request": "true",
            }
            scenarios: dict[str, Request] = {
                "GET /c/<token> (303)": ("GET", first_link, None, {}),
                "GET /s/<cap> (step page)": ("GET", step_page, None, {}),
                "POST survey -> offer (htmx)": ("POST", f"{post_step}/survey", form, post_headers),
            }
            hello: Request = ("GET", "/healthz", None, {})
            engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
            print(f"(a) gunicorn, 2 sync workers, {args.clients} clients, {engine}")
            with ProcessPoolExecutor(args.clients) as pool:
                for name, request in scenarios.items():
                    base = rate(pool, port, hello, args)
                    measured = rate(pool, port, request, args)
                    ratio = measured / base
                    verdict = "ok" if ratio >= 0.5 else "MISSED"
                    print(
                        f"    {name:30} {measured:8.0f} req/s   /healthz {base:8.0f} req/s"
                        f"   ratio {ratio:.2f} (target >= 0.5: {verdict})"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
