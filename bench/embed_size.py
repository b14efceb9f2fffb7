"""(f) The embed's weight on a merchant's page: embed.js and embed.css as served, raw and
gzipped (level 6, as the reverse proxy compresses).

    python bench/embed_size.py
Target: embed.js <= 3 KB gzipped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _setup import bench_app
from wire_bytes import gz

TARGET = 3 * 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = bench_app(Path(tmp)).test_client()
        script = client.get("/embed.js").data
        stylesheet = client.get("/embed.css").data
    print("(f) the embed on a merchant's page")
    for name, body in (("/embed.js", script), ("/embed.css", stylesheet)):
        print(f"    {name:34} {len(body):7,} B raw {gz(body):7,} B gzip")
    verdict = "ok" if gz(script) <= TARGET else "MISSED"
    print(f"    embed.js {gz(script):,} B gzip (target <= 3 KB: {verdict})")


if __name__ == "__main__":
    main()
