"""Run one flatten against a Kite simulator, in its own process (the crash/resume test kills it).

    python flatten_child.py URL API_KEY ACCESS_TOKEN RUN_ID RATE [PRODUCTS]

PRODUCTS: comma-separated (e.g. MIS), to flatten only those (two children can then share one account).
Its KiteBroker uses the account's rate limiter in $MCI_RATE_DIR, as every mci process does.
Prints one JSON line per event, then the report.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from mci.brokers.kite import KiteBroker
from mci.clock import Clock
from mci.flatten import flatten
from mci.store.token_store import TokenRecord


def main() -> int:
    url, api_key, token, run_id, rate = sys.argv[1:6]
    products = sys.argv[6].split(",") if len(sys.argv) > 6 else None
    clock = Clock()
    broker = KiteBroker(
        api_key, clock=clock, token=TokenRecord.issued(token, "AB1234", api_key, clock.now()), root=url, timeout=5
    )

    def on_event(kind: str, data: dict) -> None:
        print(json.dumps({"kind": kind, **data}), flush=True)

    report = flatten(
        broker,
        deadline=timedelta(seconds=60),
        rate=float(rate),
        run_id=run_id,
        clock=clock,
        on_event=on_event,
        products=products,
    )
    print(json.dumps({"kind": "report", **report.as_dict()}), flush=True)
    return 0 if report.flat else 6


if __name__ == "__main__":
    sys.exit(main())
