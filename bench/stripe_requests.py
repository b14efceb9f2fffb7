"""(c) Stripe requests per completed flow, for each path, counted on the recording HTTP client
(a live merchant whose requests are answered by the preview answers; nothing leaves the machine).

    python bench/stripe_requests.py
Target: at most 1 read + 1 write per flow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _setup import bench_app, link

from cancelpage.billing import Gateway, RecordingHTTPClient
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug

PATHS = {
    "accept discount (first ever: creates the coupon)": [
        ("survey", {"reason": "too_expensive"}),
        ("offer", {"offer": "discount_25_3m", "action": "accept"}),
    ],
    "accept discount (coupon exists)": [
        ("survey", {"reason": "too_expensive"}),
        ("offer", {"offer": "discount_25_3m", "action": "accept"}),
    ],
    "accept pause": [
        ("survey", {"reason": "unused"}),
        ("offer", {"offer": "pause_1m", "action": "accept"}),
    ],
    "accept free period": [
        ("survey", {"reason": "missing_features"}),
        ("offer", {"offer": "free_30d", "action": "accept"}),
    ],
    "decline all, cancel": [
        ("survey", {"reason": "too_expensive"}),
        ("offer", {"offer": "discount_25_3m", "action": "decline"}),
        ("offer", {"offer": "pause_1m", "action": "decline"}),
        ("confirm", {"action": "cancel"}),
    ],
    "skip, cancel": [("survey", {"action": "skip"}), ("confirm", {"action": "cancel"})],
    "skip, keep": [("survey", {"action": "skip"}), ("confirm", {"action": "keep"})],
}


def main() -> None:
    recorder = RecordingHTTPClient()
    gateway = Gateway.for_key("sk_test_bench", http_client=recorder, max_network_retries=0)
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp))
        app.extensions["cancelpage.gateway"] = lambda merchant: gateway
        with app.app_context():
            by_slug("acme").set_stripe_key("sk_test_bench")
            db.session.commit()
        client = app.test_client()
        print("(c) Stripe requests per completed flow (target: <= 1 read + 1 write)")
        for n, (name, steps) in enumerate(PATHS.items()):
            before = len(recorder.requests)
            step = client.get(link(app, n, customer="cus_preview")).headers["Location"]
            client.get(step)
            for form_step, data in steps:
                client.post(f"{step}/{form_step}", data=data)
            sent = recorder.requests[before:]
            reads = sum(r.method == "get" for r in sent)
            writes = len(sent) - reads
            verdict = "ok" if reads <= 1 and writes <= 1 else "over"
            print(f"    {name:50} {reads} read + {writes} write  ({verdict})")


if __name__ == "__main__":
    main()
