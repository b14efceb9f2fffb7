"""(a) Requests per second under gunicorn (the project's gunicorn.conf.py, 2 sync workers,
127.0.0.1, rate limits on against Redis) for the customer's pages, each as a ratio to hello (a
one-line Flask app, bench/hello_app.py, on the same settings), in interleaved rounds.

    python bench/throughput.py [--seconds 3] [--rounds 3] [--clients 4]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/cp_bench python bench/throughput.py

SQLite in a temporary folder unless DATABASE_URL is set (its tables are dropped and made anew).
Every survey POST answers a session of its own, opened beforehand (answering one session again
would measure the "already answered" path). Targets: step page >= 0.5x, survey POST >= 0.4x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from _setup import Request, bench_app, figure, gunicorn, link, rate_of

from cancelpage import cancel_sessions

FORM = urlencode({"reason": "too_expensive"}).encode()
PLAIN = {"Content-Type": "application/x-www-form-urlencoded"}
HTMX = {**PLAIN, "HX-Request": "true"}
TARGETS = {"GET /s/<cap> step page": 0.5, "POST survey (plain)": 0.4, "POST survey (htmx)": 0.4}
# Enough fresh sessions for a client at this many requests per second (the list may run out
# earlier on a fast machine: the rate is then over the time it took).
MAX_RATE = 400


def fresh_steps(app, first: int, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` newly opened sessions at the survey: their step paths."""
    paths = []
    with app.app_context():
        for n in range(first, first + count):
            token = link(app, n).removeprefix("/c/")
            cancel_sessions.open_link(token)
            paths.append("/s/" + cancel_sessions.capability(token))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    per_list = int(MAX_RATE * args.seconds / args.clients) + 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        app = bench_app(workdir)
        first_link = link(app, 0)
        step_page = app.test_client().get(first_link).headers["Location"]
        started = time.monotonic()
        fresh: dict[str, list[list[list[str]]]] = defaultdict(list)
        n = 1
        for name in ("POST survey (plain)", "POST survey (htmx)"):
            for _ in range(args.rounds):
                lists = []
                for _ in range(args.clients):
                    lists.append(fresh_steps(app, n, per_list))
                    n += per_list
                fresh[name].append(lists)
        print(
            f"(a) gunicorn.conf.py, 2 sync workers, {args.clients} clients, {engine}, rate limits"
            f" on Redis; {n - 1:,} fresh sessions opened in {time.monotonic() - started:.0f} s"
        )

        def same(request: Request) -> list[list[Request]]:
            # a list long enough for the round: the same request again and again
            return [[request] * (MAX_RATE * int(args.seconds + 1))] * args.clients

        def posts(name: str, round_: int, headers: dict[str, str]) -> list[list[Request]]:
            return [
                [("POST", f"{path}/survey", FORM, headers) for path in paths]
                for paths in fresh[name][round_]
            ]

        ratios: dict[str, list[float]] = defaultdict(list)
        rates: dict[str, list[float]] = defaultdict(list)
        with (
            gunicorn(workdir, app="hello_app:app") as hello_port,
            gunicorn(workdir) as port,
            ProcessPoolExecutor(args.clients) as pool,
        ):
            hello: Request = ("GET", "/", None, {})
            rate_of(pool, hello_port, same(hello), 0.5)  # warm-up
            rate_of(pool, port, same(("GET", step_page, None, {})), 0.5)
            for round_ in range(args.rounds):
                base = rate_of(pool, hello_port, same(hello), args.seconds)
                rates["hello"].append(base)
                scenarios = {
                    "GET /healthz": same(("GET", "/healthz", None, {})),
                    "GET /c/<token> (existing session)": same(("GET", first_link, None, {})),
                    "GET /s/<cap> step page": same(("GET", step_page, None, {})),
                    "POST survey (plain)": posts("POST survey (plain)", round_, PLAIN),
                    "POST survey (htmx)": posts("POST survey (htmx)", round_, HTMX),
                }
                for name, requests in scenarios.items():
                    measured = rate_of(pool, port, requests, args.seconds)
                    rates[name].append(measured)
                    ratios[name].append(measured / base)
        print(f"    hello: median {statistics.median(rates['hello']):,.0f} req/s")
        for name in ratios:
            print(f"    {name}: median {statistics.median(rates[name]):,.0f} req/s")
        for name, values in ratios.items():
            figure(f"{engine} {name} / hello", values, TARGETS.get(name), "x")


if __name__ == "__main__":
    main()
