"""The end of the rehearsed day: a new scan and ignition after the reset, the end-of-day shutdown, and the
final book, read from the exchange itself.

The shutdown is the end-of-day sequence, not the bare graceful one: it is the
same six CR-002 steps plus the square-off of intraday (MIS) positions, which
is what an operator runs at the close, and the drill's verdict requires a flat
account. A graceful shutdown keeps positions by design, so it could only pass
a drill whose engine happened to trade nothing.
"""

from __future__ import annotations

from mci.drill import morning
from mci.drill.day import ENGINE_GONE_BOUND, Day, Outcome, PhaseFailed, seconds, wait_for


def reignite(day: Day) -> Outcome:
    scanned, _ = morning.scan(day, "the new `mci scan`")
    ignited, facts = morning.ignite(day, "the new `mci ignite`")
    return f"scan {scanned.split(';')[0]}; {ignited}", facts


def shutdown(day: Day) -> Outcome:
    done = day.mci("shutdown", "--end-of-day", "-o", "json", timeout=150)
    doc = day.expect(done, 0, "`mci shutdown --end-of-day`") or {}
    day.expect_state("stopped", "`mci shutdown --end-of-day`")
    pid = day.engine_pid
    if pid is not None and not wait_for(lambda: pid not in day.sandbox.engine_pids(), ENGINE_GONE_BOUND):
        raise PhaseFailed(f"the shutdown said stopped, but the engine (pid {pid}) still runs")
    if day.health_url() and day.healthy():
        raise PhaseFailed(f"the shutdown said stopped, but {day.health_url()} still answers")
    steps = ((doc.get("run") or {}).get("steps") or []) if isinstance(doc, dict) else []
    passed = sum(1 for s in steps if s.get("status") == "passed")
    return (
        f"{passed}/{len(steps)} end-of-day steps passed in {seconds(done.seconds)}; stopped, engine pid {pid} gone",
        {"steps": [s.get("id") for s in steps]},
    )


def final_book(day: Day) -> Outcome:
    positions, orders = day.venue.positions(), day.venue.open_orders()
    watcher = day.watcher
    running = [f"the watcher (pid {watcher.proc.pid})"] if watcher is not None and watcher.proc.poll() is None else []
    running += [f"pid {pid}" for pid in day.sandbox.stray_pids() if watcher is None or pid != watcher.proc.pid]
    faults = _faults(day)
    facts = {"positions": len(positions), "open_orders": len(orders), "running": running, "faults_met": faults}
    problems = []
    if positions:
        problems.append(
            "NOT FLAT: " + ", ".join(f"{p.exchange}:{p.symbol} {p.product} {p.quantity:+d}" for p in positions)
        )
    if orders:
        problems.append(f"{len(orders)} open order(s): " + ", ".join(f"{o.order_id} {o.status}" for o in orders))
    if running:
        problems.append("still running: " + ", ".join(running))
    if problems:
        raise PhaseFailed("; ".join(problems), **facts)
    met = ", ".join(f"{kind} ×{n}" for kind, n in sorted(faults.items())) if faults else ""
    return (
        "flat: no open position, no open order; no engine or watcher left running"
        + (f"; faults met: {met}" if met else ""),
        facts,
    )


def _faults(day: Day) -> dict[str, int]:
    counters = getattr(day.venue, "counters", None)
    if counters is None:
        return {}
    return {str(k): int(v) for k, v in (counters().get("faults") or {}).items()}
