"""Every benchmark in one run, and one table: figure, min/median/max, target, met or MISSED.

    python bench/suite.py            # full sizes (about an hour on 2 cores: 1,000,000 sessions)
    python bench/suite.py --smoke    # small sizes, for CI: each figure measured, in seconds
    python bench/suite.py --only throughput --only analytics
    python bench/suite.py --pg postgresql://postgres@127.0.0.1:5432/cp_bench   # its own database

Each benchmark is a script in bench/ run as a subprocess with its own flags; the lines it prints
starting with "@figure " (bench/_setup.figure) are the table's rows, the rest is shown as it
runs. A benchmark that prints none is listed by its exit status. Add one with one line in BENCHES.
The PostgreSQL database is emptied by each benchmark that uses it: give the suite its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = "@figure "


@dataclass(frozen=True)
class Bench:
    name: str
    full: list[str]  # the script and its flags at full size
    smoke: list[str]  # the same, small
    engine: str = "sqlite"  # or postgresql: DATABASE_URL is the --pg URL


# {sqlite} and {pg} are replaced with a SQLite file of the run and the --pg URL.
BENCHES = [
    Bench("wire_bytes", ["wire_bytes.py"], ["wire_bytes.py"]),
    Bench("stripe_requests", ["stripe_requests.py"], ["stripe_requests.py"]),
    Bench("embed_size", ["embed_size.py"], ["embed_size.py"]),
    Bench("throughput", ["throughput.py"], ["throughput.py", "--seconds", "0.5", "--rounds", "1"]),
    Bench(
        "throughput",
        ["throughput.py"],
        ["throughput.py", "--seconds", "0.5", "--rounds", "1"],
        "postgresql",
    ),
    Bench(
        "analytics",
        ["analytics_bench.py", "{sqlite}"],
        ["analytics_bench.py", "{sqlite}", "--sessions", "3000", "--cases", "300"],
    ),
    Bench(
        "analytics",
        ["analytics_bench.py", "{pg}"],
        ["analytics_bench.py", "{pg}", "--sessions", "3000", "--cases", "300"],
        "postgresql",
    ),
    Bench(
        "webhook_ingest",
        ["webhook_ingest.py"],
        ["webhook_ingest.py", "--seconds", "0.5", "--clients", "2", "--rounds", "1"],
    ),
    Bench(
        "webhook_ingest",
        ["webhook_ingest.py"],
        ["webhook_ingest.py", "--seconds", "0.5", "--clients", "2", "--rounds", "1"],
        "postgresql",
    ),
    Bench("outbox_drain", ["outbox_drain.py"], ["outbox_drain.py", "--counts", "20,50"]),
    Bench(
        "event_burst",
        ["event_burst.py"],
        ["event_burst.py", "--events", "200", "--workers", "1,2", "--threads", "8"],
        "postgresql",
    ),
    Bench("revenue_scan", ["revenue_scan.py"], ["revenue_scan.py", "--sizes", "300:150,600:300"]),
]


@dataclass
class Row:
    bench: str
    name: str
    low: float | None = None
    median: float | None = None
    high: float | None = None
    unit: str = ""
    target: str = ""
    met: bool | None = None


def run(bench: Bench, smoke: bool, pg: str, workdir: Path) -> list[Row]:
    sqlite = f"sqlite:///{workdir}/{bench.name}.sqlite"
    args = [a.format(sqlite=sqlite, pg=pg) for a in (bench.smoke if smoke else bench.full)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if bench.engine == "postgresql":
        env["DATABASE_URL"] = pg
    label = f"{bench.name} ({'PostgreSQL' if bench.engine == 'postgresql' else 'SQLite'})"
    print(f"== {label}: {' '.join(args)}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(HERE / args[0]), *args[1:]],
        cwd=HERE,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    rows = []
    for line in process.stdout:
        if line.startswith(FIGURE):
            data = json.loads(line.removeprefix(FIGURE))
            rows.append(
                Row(
                    label,
                    data["name"],
                    data["min"],
                    data["median"],
                    data["max"],
                    data["unit"],
                    data["target"],
                    data["met"],
                )
            )
        else:
            print("   " + line, end="", flush=True)
    status = process.wait()
    took = time.monotonic() - started
    if status != 0 or not rows:
        verdict = None if status == 0 else False
        rows.append(Row(label, f"ran in {took:.0f} s, exit status {status}", met=verdict))
    return rows


def table(rows: list[Row]) -> None:
    print()
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores")
    print(f"{'figure':66} {'min':>9} {'median':>9} {'max':>9}  {'target':10} verdict")
    for row in rows:
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        if row.median is None:
            print(f"{row.bench + ': ' + row.name:66} {'':>9} {'':>9} {'':>9}  {'':10} {verdict}")
            continue
        print(
            f"{row.name[:66]:66} {row.low:9.3f} {row.median:9.3f} {row.high:9.3f}"
            f"  {row.target:10} {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes (CI): seconds")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/cp_bench")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--only", action="append", help="benchmarks by name (repeatable)")
    args = parser.parse_args()
    chosen = [
        b
        for b in BENCHES
        if (not args.only or b.name in args.only) and not (args.no_pg and b.engine == "postgresql")
    ]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for bench in chosen:
            rows += run(bench, args.smoke, args.pg, Path(tmp))
    table(rows)
    if any(row.met is False and row.median is None for row in rows):
        raise SystemExit("a benchmark failed")


if __name__ == "__main__":
    main()
