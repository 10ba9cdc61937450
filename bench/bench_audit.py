"""`mci audit verify` in constant memory, and what an audited append costs (issue: bounded everywhere).

verify   peak RSS of a process that verifies a trail of SMALL and of LARGE records (the
         library function `mci audit verify` calls, on a real state DB built through
         StateStore), against the peak of a bare `python -c` in the same run.
         Target: peak(LARGE) <= 1.5x peak(SMALL), i.e. flat. Records/s informational.
append   median wall time of one audited transaction (one record: intent, COMMIT with
         synchronous=FULL, confirmation), on one connection (the anchor check is cached)
         and alternating two connections (each append re-reads the anchor and looks up
         the anchored record). Informational: the fsyncs dominate.

BENCH_AUDIT_RECORDS sets LARGE (default 200,000; the issue measured 1,000,000).
The exit status is non-zero if the memory target is missed or a trail does not verify intact.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mci.store.state import StateStore

SMALL = 10_000
LARGE = int(os.environ.get("BENCH_AUDIT_RECORDS", "200000"))
TARGET = 1.5
START = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)

# VmHWM, the peak RSS of this process image: getrusage's ru_maxrss would carry the peak of
# the (larger) bench process that forked it across the exec.
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])"  # KiB
PEAK = f"print({HWM})"
VERIFY = f"""
import json, sys, time
from pathlib import Path
from mci.store.audit_trail import verify
start = time.perf_counter()
verdict = verify(Path(sys.argv[1]))
print(json.dumps({{"status": verdict.status, "records": verdict.records, "seconds": time.perf_counter() - start,
                  "peak_kib": {HWM}}}))
"""


def build(home: Path, n: int) -> None:
    store = StateStore.open(home)
    try:
        for chunk in range(0, n, 10_000):
            with store.transaction():
                for i in range(chunk, min(n, chunk + 10_000)):
                    store.append_audit(
                        "order",
                        {
                            "event": "order.place.after",
                            "order_id": f"2611230000{i:08d}",
                            "symbol": "INFY",
                            "qty": 10 + i % 90,
                            "price": "1523.45",
                        },
                        START + timedelta(milliseconds=i),
                        profile="paper",
                    )
    finally:
        store.close()


def run_verify(home: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", VERIFY, str(home)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def baseline_kib() -> int:
    return int(subprocess.run([sys.executable, "-c", PEAK], capture_output=True, text=True, check=True).stdout)


def append_latency(home: Path, connections: int, n: int = 200) -> float:
    stores = [StateStore.open(home) for _ in range(connections)]
    try:
        samples = []
        for i in range(n):
            start = time.perf_counter()
            stores[i % connections].append_audit("order", {"event": "tick", "i": i}, START, profile="paper")
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)
    finally:
        for s in stores:
            s.close()


def main() -> int:
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in (SMALL, LARGE):
            home = Path(tmp) / f"trail-{n}"
            home.mkdir()
            t = time.perf_counter()
            build(home, n)
            built = time.perf_counter() - t
            results[n] = run_verify(home)
            if results[n]["status"] != "intact" or results[n]["records"] != n:
                failures.append(f"the {n:,}-record trail verified {results[n]['status']} with {results[n]['records']}")
            print(f"built {n:>9,} records in {built:5.1f}s ({n / built:,.0f} appends/s in 10k-record transactions)")
        base = baseline_kib()
        print(f"python -c (baseline)           peak {base / 1024:7.1f} MiB")
        for n, r in results.items():
            print(
                f"verify {n:>9,} records       peak {r['peak_kib'] / 1024:7.1f} MiB  "
                f"{r['peak_kib'] / base:5.2f}x baseline  {n / r['seconds']:10,.0f} records/s"
            )
        ratio = results[LARGE]["peak_kib"] / results[SMALL]["peak_kib"]
        ok = ratio <= TARGET
        print(
            f"verify peak {LARGE:,} / {SMALL:,} records: {ratio:.2f}x (target <= {TARGET}x)  {'ok' if ok else 'MISS'}"
        )
        if not ok:
            failures.append(f"verify's peak grows {ratio:.2f}x from {SMALL:,} to {LARGE:,} records")

        home = Path(tmp) / "appends"
        home.mkdir()
        build(home, 100)
        one = append_latency(home, 1)
        two = append_latency(home, 2)
        print(f"append, one connection (anchor check cached)       {one * 1e6:8.0f} us median")
        print(
            f"append, two connections (anchor re-read, checked)  {two * 1e6:8.0f} us median "
            f"(the check: {max(two - one, 0) * 1e6:.0f} us)"
        )
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
