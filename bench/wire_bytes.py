"""(b) Bytes on the wire: the first page with its CSS and JS, and each htmx partial, raw and
gzipped (a reverse proxy compresses; level 6 as nginx and Caddy use by default).

    python bench/wire_bytes.py
Targets: first page <= 25 KB gzipped, each partial <= 4 KB gzipped.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from pathlib import Path

from _setup import bench_app, link

HX = {"HX-Request": "true"}


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp))
        client = app.test_client()
        step = client.get(link(app, 1)).headers["Location"]
        page = client.get(step).data
        assets = re.findall(rb'(?:href|src)="(/(?:static|brand)/[^"]+)"', page)
        rows = [("step page (HTML)", page)]
        rows += [(path.decode(), client.get(path.decode()).data) for path in assets]
        total_raw = sum(len(body) for _, body in rows)
        total_gz = sum(gz(body) for _, body in rows)
        print("(b) first page: HTML + CSS + JS")
        for name, body in rows:
            print(f"    {name:34} {len(body):7,} B raw {gz(body):7,} B gzip")
        verdict = "ok" if total_gz <= 25 * 1024 else "MISSED"
        print(
            f"    {'total':34} {total_raw:7,} B raw {total_gz:7,} B gzip"
            f"  (target <= 25 KB: {verdict})"
        )
        partials = [
            ("survey -> offer 1", "survey", {"reason": "too_expensive"}),
            ("offer 1 -> offer 2", "offer", {"offer": "discount_25_3m", "action": "decline"}),
            ("offer 2 -> confirm", "offer", {"offer": "pause_1m", "action": "decline"}),
            ("confirm -> done", "confirm", {"action": "cancel"}),
        ]
        print("(b) htmx partials")
        worst = 0
        for name, form_step, data in partials:
            body = client.post(f"{step}/{form_step}", data=data, headers=HX).data
            worst = max(worst, gz(body))
            print(f"    {name:34} {len(body):7,} B raw {gz(body):7,} B gzip")
        verdict = "ok" if worst <= 4 * 1024 else "MISSED"
        print(f"    largest partial {worst:,} B gzip (target <= 4 KB: {verdict})")


if __name__ == "__main__":
    main()
