"""The bad hour of the rehearsed day: the guard watching, prices that cross the day's loss limit, the emergency
flatten it must run on its own, the latch that refuses ignition, and the operator's deliberate reset."""

from __future__ import annotations

import time
from typing import Any

from mci.units import format_duration, format_money
from mci.drill import proc
from mci.drill.breach import CANDIDATES, NoRoom, plan_breach
from mci.drill.day import DETECT_BOUND, ENGINE_GONE_BOUND, FLATTEN_BOUND, Day, Outcome, PhaseFailed, seconds, wait_for

WATCH_START_BOUND = 20.0  # from `mci watch` started to its first good poll


def breach(day: Day) -> Outcome:
    interval = day.profile.watch.interval.total_seconds()
    watcher = day.watcher = proc.Live.start(
        ("watch", "-p", str(day.profile_path), "-o", "json"), day.sandbox.env, day.clock
    )
    if watcher.wait_event(lambda e: e.get("event") == "poll", WATCH_START_BOUND * day.bound_scale) is None:
        raise PhaseFailed(
            f"`mci watch` made no good poll within {WATCH_START_BOUND * day.bound_scale:g}s" + _ended(watcher)
        )
    plan = day.plan = _plan(day)
    day.venue.seed(plan)
    day.venue.move(plan)
    day.moved_at = time.monotonic()
    seen = watcher.wait_event(
        lambda e: e.get("event") == "risk_breach", interval + max(FLATTEN_BOUND, DETECT_BOUND) * day.bound_scale
    )
    book = (
        f"{len(plan.legs)} MIS position(s) moved -10%: day loss {format_money(plan.loss)} over the "
        f"{format_money(plan.limit)} limit"
    )
    if seen is None:
        raise PhaseFailed(f"{book}; the watcher reported no breach" + _ended(watcher))
    day.breach_at, event = seen
    after = day.breach_at - day.moved_at
    rules = ", ".join(b.get("rule", "?") for b in event.get("breaches") or []) or "?"
    detail = (
        f"{book}; the watcher saw the breach ({rules}) {seconds(after)} after the move "
        f"(polls every {format_duration(day.profile.watch.interval)})"
    )
    facts = {
        "legs": [
            {"instrument": leg.instrument, "quantity": leg.quantity, "entry": str(leg.entry), "moved": str(leg.moved)}
            for leg in plan.legs
        ],
        "loss": str(plan.loss),
        "limit": str(plan.limit),
        "detected_s": round(after, 3),
        "rules": rules,
    }
    bound = interval + DETECT_BOUND * day.bound_scale
    if after > bound:
        raise PhaseFailed(f"{detail}: slower than the {bound:g}s bound", **facts)
    return detail, facts


def _plan(day: Day) -> Any:
    risk = day.profile.risk
    open_now = {f"{p.exchange}:{p.symbol}" for p in day.venue.positions()}
    prices = day.venue.last_prices([f"NSE:{s}" for s in CANDIDATES])
    try:
        return plan_breach(
            capital=day.venue.capital(),
            max_daily_loss=risk.max_daily_loss,
            max_position_loss=risk.max_position_loss,
            max_open_positions=risk.max_open_positions,
            open_instruments=open_now,
            day_pnl=day.venue.day_pnl(),
            prices=prices,
            prefer=getattr(day.venue, "circuits", ()),
        )
    except NoRoom as exc:
        raise PhaseFailed(f"no room to open a losing position: {exc}") from None


def _ended(watcher: proc.Live) -> str:
    code = watcher.proc.poll()
    if code is None:
        return ""
    report = _report(watcher)
    note = report.get("note") if report else (watcher.stderr.strip().splitlines() or [""])[-1]
    return f"; it exited {code}: {note}"


def _report(watcher: proc.Live) -> dict[str, Any]:
    reports = [e for _, e in watcher.events() if e.get("event") == "report"]
    return reports[-1] if reports else {}


def emergency(day: Day) -> Outcome:
    watcher, interval = day.watcher, day.profile.watch.interval.total_seconds()
    assert watcher is not None and day.moved_at is not None
    hard = interval + FLATTEN_BOUND * day.bound_scale + 60
    code = watcher.finish(timeout=max(hard - (time.monotonic() - day.moved_at), 1))
    if code is None:
        watcher.stop()
        raise PhaseFailed(f"the watcher was still running {hard:g}s after the breach; it was stopped")
    flat_after = time.monotonic() - day.moved_at
    report = _report(watcher)
    run = (report.get("outcome") or {}).get("run") or {}
    steps = run.get("steps") or []
    emergency_s = sum(float(s.get("duration_s") or 0) for s in steps)
    positions, orders, state = day.venue.positions(), day.venue.open_orders(), day.lifecycle()
    problems: list[str] = []
    locked = _locked_legs(day)
    stuck: dict[str, Any] = {}
    if locked:
        # circuit=: the locked legs cannot close. The emergency must say so (exit 6, by name, reason, quantity),
        # close everything else, and a `mci kill` after the lift must close them: anything else fails the drill.
        code, positions, orders, stuck = _locked_verdict(day, locked, code, report, positions, orders, problems)
    if code != 1:
        problems.append(
            f"the watcher exited {code} ({report.get('note') or watcher.stderr.strip()[-200:]}), "
            "expected 1: tripped and flat"
        )
    if positions or orders:
        left = [f"{p.exchange}:{p.symbol} {p.quantity:+d}" for p in positions] + [
            f"order {o.order_id} {o.status}" for o in orders
        ]
        problems.append(f"NOT FLAT: {', '.join(left)}")
    if state != "halted":
        problems.append(f"lifecycle is {state}, expected halted")
    if day.engine_pid is not None and not wait_for(
        lambda: day.engine_pid not in day.sandbox.engine_pids(), ENGINE_GONE_BOUND
    ):
        problems.append(f"the engine (pid {day.engine_pid}) still runs")
    refused = day.mci("ignite", "-o", "json", timeout=60)
    if refused.code != 4:
        problems.append(f"`mci ignite` while halted exited {refused.code}, expected 4 (refused)")
    bound = interval + FLATTEN_BOUND * day.bound_scale
    if flat_after > bound:
        problems.append(f"flat only {seconds(flat_after)} after the move, over the {bound:g}s bound")
    squared = _count(steps, "square_off", "placed")
    cancelled = _count(steps, "cancel_orders", "cancelled")
    facts = {
        "watch_exit": code,
        "flat_after_s": round(flat_after, 3),
        "emergency_s": round(emergency_s, 3),
        "squared_off": squared,
        "cancelled": cancelled,
        "lifecycle": state,
        "ignite_exit": refused.code,
        **stuck,
    }
    if problems:
        raise PhaseFailed("; ".join(problems), **facts)
    lifted = f"; {stuck['circuit_note']}" if stuck else ""
    state_after = "halted, the locked leg left," if stuck else "flat and halted"
    return (
        f"watcher exit {stuck.get('watch_exit', code)} (tripped): {state_after} {seconds(flat_after)} after the move "
        f"(emergency {seconds(emergency_s)}: {squared} squared off, {cancelled} cancelled){lifted}; "
        "ignite refused (exit 4)",
        facts,
    )


def _locked_legs(day: Day) -> dict[str, int]:
    """The breach's legs that --faults circuit= locked: instrument -> quantity."""
    circuits = set(getattr(day.venue, "circuits", ()))
    return {leg.instrument: leg.quantity for leg in (day.plan.legs if day.plan else ()) if leg.instrument in circuits}


def _locked_verdict(
    day: Day,
    locked: dict[str, int],
    code: int,
    report: dict[str, Any],
    positions: list[Any],
    orders: list[Any],
    problems: list[str],
) -> tuple[int, list[Any], list[Any], dict[str, Any]]:
    """Judge the emergency against locked legs; lift them and rerun `mci kill`; (code as if flat, book after, facts)."""
    left = {f"{p.exchange}:{p.symbol}": p.quantity for p in positions}
    unclosed = (((report.get("outcome") or {}).get("report") or {}).get("unclosed")) or []
    named = {u.get("instrument"): u for u in unclosed}
    if code != 6:
        problems.append(
            f"the watcher exited {code} with {', '.join(locked)} locked at the lower circuit, expected 6 "
            "(tripped, not flat)"
        )
    if set(left) != set(locked):
        problems.append(
            f"with {', '.join(locked)} locked the book left {left or 'nothing'}: only the locked legs "
            "should remain (a lock that closed is a fault that did not hold)"
        )
    for instrument in locked:
        entry = named.get(instrument)
        kinds = {r.get("kind") for r in (entry or {}).get("reasons") or []}
        if entry is None or "lower_circuit" not in kinds or entry.get("quantity") != left.get(instrument):
            problems.append(
                f"the emergency's report does not name {instrument} at its lower circuit with its quantity "
                f"{left.get(instrument)} (it said: {entry})"
            )
    lines = "; ".join(
        f"{i} {u.get('quantity'):+d}: " + ", ".join(r.get("text", "") for r in u.get("reasons") or [])
        for i, u in named.items()
    )
    day.venue.lift()
    kill = day.mci("kill", "-o", "json", timeout=120)
    after, still = day.venue.positions(), day.venue.open_orders()
    if kill.code != 0 or after or still:
        problems.append(
            f"after the circuit was lifted `mci kill` exited {kill.code}, expected 0 (flat); left: "
            + (
                ", ".join(
                    [f"{p.exchange}:{p.symbol} {p.quantity:+d}" for p in after]
                    + [f"order {o.order_id} {o.status}" for o in still]
                )
                or "nothing"
            )
        )
    sold = {
        i: sum(o.filled_quantity for o in day.venue.orders() if f"{o.exchange}:{o.symbol}" == i and o.side == "SELL")
        for i in locked
    }
    doubled = {i: n for i, n in sold.items() if n != locked[i]}
    if doubled:
        problems.append(f"the locked legs sold {doubled}, expected exactly {locked}: an exit was doubled or lost")
    facts = {
        "watch_exit": code,
        "locked": locked,
        "unclosed": unclosed,
        "kill_after_lift_exit": kill.code,
        "circuit_note": f"not flat as expected: {lines}; after the lift `mci kill` exit {kill.code}, flat",
    }
    return 1, after, still, facts


def _count(steps: list[dict[str, Any]], step_id: str, key: str) -> int:
    for step in steps:
        if step.get("id") == step_id:
            value = (step.get("facts") or {}).get(key)
            return len(value) if isinstance(value, (list, tuple)) else int(value or 0)
    return 0


def reset(day: Day) -> Outcome:
    done = day.mci("reset", "--confirm", "--reason", "mci drill: rehearsed reset", "-o", "json", timeout=30)
    day.expect(done, 0, "`mci reset --confirm`")
    day.expect_state("idle", "`mci reset --confirm`")
    return "halted → idle on purpose (audited)", {}
