"""(a) Requests per second under gunicorn (2 workers, 127.0.0.1) for the customer's first GET
(link -> 303, then the step page) and the survey -> offer POST, each against /healthz (a
hello-world route of the same app) in the same run, printed as a ratio.

    python bench/throughput.py [--seconds 5] [--clients 4]
SQLite in a temporary folder unless DATABASE_URL is set. Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from _setup import Request, bench_app, gunicorn, link, rate


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
        with gunicorn(workdir) as port:
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
                    base, _ = rate(pool, port, [hello] * args.clients, args.seconds)
                    measured, _ = rate(pool, port, [request] * args.clients, args.seconds)
                    ratio = measured / base
                    verdict = "ok" if ratio >= 0.5 else "MISSED"
                    print(
                        f"    {name:30} {measured:8.0f} req/s   /healthz {base:8.0f} req/s"
                        f"   ratio {ratio:.2f} (target >= 0.5: {verdict})"
                    )


if __name__ == "__main__":
    main()
