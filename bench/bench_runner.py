"""The check runner runs independent checks concurrently: twelve checks, each delayed
200 ms, with one `needs:` edge, must finish within 1.3x their critical path (400 ms),
not their sum (2.4 s). Uses the real runner, real thread pool and real clock.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.clock import Clock
from mci.config.model import BrokerConfig, CheckSpec, Checklist, MarketConfig, Profile, RiskLimits, ScanConfig
from mci.engine.runner import run_checklist
from mci.store.state import StateStore

DELAY = 0.2


@register
class SleepCheck(Check):
    kind = "bench.sleep"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        time.sleep(DELAY)
        return CheckOutcome.passed(f"slept {DELAY}s")


def main() -> int:
    checks = [
        CheckSpec(
            id=f"c{i}",
            kind="bench.sleep",
            title=f"check {i}",
            params={},
            needs=("c0",) if i == 1 else (),
            timeout=timedelta(seconds=5),
        )
        for i in range(12)
    ]
    checklist = Checklist("bench", "twelve sleepers, one edge", tuple(checks))
    risk = RiskLimits(Decimal("0.02"), Decimal("0.06"), Decimal("0.15"), Decimal("0.05"), 5, Decimal(2), Decimal("0.1"))
    home = Path(tempfile.mkdtemp(prefix="mci-bench-"))
    profile = Profile(
        "bench",
        home / "bench.yaml",
        BrokerConfig("paper", Decimal(1_000_000)),
        MarketConfig(),
        risk,
        {},
        ScanConfig(checklist),
    )
    store = StateStore.open(home)
    ctx = CheckContext(profile, Clock(), home, lambda: store, lambda: None)
    critical_path = 2 * DELAY
    serial = len(checks) * DELAY
    best = None
    for _ in range(3):
        start = time.perf_counter()
        result = run_checklist(checklist, ctx)
        elapsed = time.perf_counter() - start
        assert result.status.value == "passed", result.status
        best = elapsed if best is None else min(best, elapsed)
    ratio = best / critical_path
    print(
        f"12 checks x {DELAY * 1000:.0f} ms, one needs edge: {best * 1000:.0f} ms "
        f"= {ratio:.2f}x the critical path ({critical_path * 1000:.0f} ms), "
        f"{best / serial:.2f}x the serial sum ({serial * 1000:.0f} ms); target <= 1.3x  "
        f"{'ok' if ratio <= 1.3 else 'MISS'}"
    )
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
