"""Sequences (shutdown, emergency, ignite) compared step by step, by id, and in their order.

In the emergency flatten the ranking of on_error turns round: every step must
run whatever failed before it, so `continue` is the strong choice there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from mci.config.model import Sequence
from mci.policy import fmt
from mci.policy.compare_items import Items, directed, moved
from mci.policy.findings import LOOSENING, NEUTRAL, TIGHTENING, Anchor

if TYPE_CHECKING:
    from mci.policy.findings import Change

STEP_DROPPED = {
    "engine.pause": "the engine keeps accepting new operations while the shutdown runs",
    "orders.complete": "pending orders are left open, to fill behind the operator's back",
    "engine.stop": "the engine is no longer stopped and may keep trading",
    "connections.close": "the connections to the broker stay open",
    "secrets.clear": "the access token and keys are no longer cleared at shutdown (CR-002 step 4): "
    "a live session outlives the day",
    "state.log": "the final state (positions, orders, P&L) is no longer recorded",
    "exit.clean": "the run no longer finishes cleanly",
    "orders.cancel_all": "open orders are no longer cancelled",
    "positions.square_off": "positions are no longer squared off",
    "gtt.delete_all": "active GTTs are no longer deleted: one can place a new order after the kill",
    "lifecycle.halt": "the kill switch no longer latches halted: the engine can be ignited again at once",
    "engine.start": "the engine is no longer started by this sequence",
    "engine.health": "ignition no longer waits for the engine to report healthy",
    "lifecycle.confirm": "ignition no longer confirms the running state",
}
# The `within` a step uses when its params leave it out (mci.steps.orders): a removed `within` is compared as this.
WITHIN_DEFAULT = {"orders.complete": "30s", "orders.cancel_all": "30s", "positions.square_off": "60s"}
# How firmly a step's failure is handled, weakest first.
ON_ERROR = {"continue": 0, "abort": 1, "escalate": 2}
# In the emergency flatten every step must run whatever failed before it: stopping is the weak choice.
ON_ERROR_EMERGENCY = {"abort": 0, "escalate": 0, "continue": 1}


def compare_sequences(old: Sequence, new: Sequence, label: str, prefix: str, *, emergency: bool) -> list[Change]:
    items = Items(label, prefix, "step")
    old_by, new_by = {s.id: s for s in old.steps}, {s.id: s for s in new.steps}
    common = items.membership(old_by, new_by, lambda s: STEP_DROPPED.get(s.kind, f"{s.title} no longer runs"))
    for step_id, step in new_by.items():
        if emergency and step_id not in old_by and step.on_error != "continue":
            items.add(
                LOOSENING,
                f"{step_id}.on_error",
                step.on_error,
                f"step {step_id} added with on_error: {step.on_error}",
                f"a failure of the new step {step_id} stops the emergency flatten before the steps after it",
                "give it on_error: continue, or remove it",
                ("item", step_id, "on_error"),
            )
    if emergency and old.scope != new.scope:
        _scope(items, old.scope, new.scope)
    before = [i for i in old_by if i in new_by]
    if before != common:
        first = next(n for o, n in zip(before, common) if o != n)
        order = [s.id for s in new.steps]
        items.add(
            LOOSENING,
            "order",
            ",".join(order),
            f"steps reordered: {' → '.join(before)} became {' → '.join(common)}",
            f"{first} now runs at another point: each step relies on the ones before it "
            "(e.g. secrets are cleared only after the engine stopped)",
            f"restore the order {', '.join(before)}",
            ("order", first),
        )
    for step_id in common:
        a, b = old_by[step_id], new_by[step_id]
        if items.kind_changed(step_id, a, b):
            continue
        after = [s.id for s in new.steps][[s.id for s in new.steps].index(step_id) + 1 :]
        _on_error(items, step_id, a.on_error, b.on_error, emergency, after)
        if a.timeout != b.timeout:
            kind = LOOSENING if emergency and b.timeout > a.timeout else NEUTRAL
            items.add(
                kind,
                f"{step_id}.timeout",
                b.timeout,
                f"step {step_id} timeout {moved(a.timeout, b.timeout)}",
                "a hung step holds back the rest of the emergency flatten longer"
                if kind == LOOSENING
                else "a change mci cannot rank as looser or tighter; review it",
                f"set timeout: {fmt.show(a.timeout)}",
                ("item", step_id, "timeout"),
            )
        if a.retry.attempts != b.retry.attempts:
            kind = directed(a.retry.attempts, b.retry.attempts, False) if emergency else NEUTRAL
            items.add(
                kind,
                f"{step_id}.retry.attempts",
                b.retry.attempts,
                f"step {step_id} attempts {moved(a.retry.attempts, b.retry.attempts)}",
                {
                    LOOSENING: "the emergency flatten gives up on this step after fewer tries",
                    TIGHTENING: "the emergency flatten tries this step more often",
                }.get(kind, "a change mci cannot rank as looser or tighter; review it"),
                f"set retry.attempts: {a.retry.attempts}",
                ("item", step_id, "retry"),
            )
        if a.breaker != b.breaker:
            _step_breaker(items, step_id, a.breaker, b.breaker, emergency)
        _step_params(items, b.kind, step_id, a.params, b.params, emergency)
    return items.changes


def _scope(items: Items, old: Any, new: Any) -> None:
    """An emergency's declared scope (mci.flatten.scope): any scope leaves part of the account open in an emergency."""
    from mci.flatten.scope import Selection

    a, b = Selection.from_dict(old), Selection.from_dict(new)
    was, now = (s.label() if s is not None else "the whole account" for s in (a, b))
    if b is None:
        items.add(
            TIGHTENING,
            "scope",
            now,
            f"emergency scope {was} became {now}",
            "the emergency closes and latches the whole account again",
            f"restore scope: {old}",
            ("scope",),
        )
        return
    items.add(
        LOOSENING,
        "scope",
        now,
        f"emergency scope {was} became {now}",
        f"an emergency (mci kill, a breach of mci watch) now closes only {now} and leaves the rest open, "
        "with the engine running",
        "remove `scope:` (account-wide)" if a is None else f"restore scope: {old}",
        ("scope",),
    )


def _step_breaker(items: Items, step_id: str, old: str | None, new: str | None, emergency: bool) -> None:
    # On a flatten step an open breaker refuses the flatten itself; elsewhere a breaker only shortens the wait.
    kind = (LOOSENING if new else TIGHTENING) if emergency and (old is None or new is None) else NEUTRAL
    why = {
        LOOSENING: "an open breaker can now refuse this emergency step",
        TIGHTENING: "no breaker can refuse this emergency step any more",
    }.get(kind, "another breaker guards the step")
    items.add(
        kind,
        f"{step_id}.breaker",
        new or "none",
        f"step {step_id} breaker changed from {old or 'none'} to {new or 'none'}",
        why,
        f"set breaker: {old}" if old else "remove breaker:",
        ("item", step_id, "breaker"),
    )


def _on_error(items: Items, step_id: str, old: str, new: str, emergency: bool, after: list[str]) -> None:
    if old == new:
        return
    rank = ON_ERROR_EMERGENCY if emergency else ON_ERROR
    kind = (
        NEUTRAL
        if rank.get(new, 0) == rank.get(old, 0)
        else (LOOSENING if rank.get(new, 0) < rank.get(old, 0) else TIGHTENING)
    )
    if kind == LOOSENING:
        why = {
            ("escalate", "abort"): "stops the sequence instead of switching to the emergency flatten: an engine "
            "that failed to stop can be left trading unattended",
            ("escalate", "continue"): "is recorded and passed over instead of switching to the emergency flatten",
            ("abort", "continue"): "is passed over: the sequence goes on as if the step had succeeded",
        }.get((old, new), f"now stops the emergency flatten: {', '.join(after) or 'nothing'} after it no longer run(s)")
        why = f"a failure of {step_id} {why}"
    else:
        why = f"a failure of {step_id} is now handled by {new} instead of {old}"
    items.add(
        kind,
        f"{step_id}.on_error",
        new,
        f"step {step_id} on_error changed from {old} to {new}",
        why,
        f"set on_error: {old}",
        ("item", step_id, "on_error"),
    )


def _step_params(
    items: Items, kind: str, step_id: str, old: Mapping[str, Any], new: Mapping[str, Any], emergency: bool
) -> None:
    for key in sorted(set(old) | set(new)):
        a: Any = old.get(key)  # a YAML value; None: not set (or null)
        b: Any = new.get(key)
        if a == b:
            continue
        anchor = ("item", step_id, "params", key) if b is not None else ("item", step_id, "params")
        name = f"{step_id}.params.{key}"
        if kind == "positions.square_off" and key == "products":
            # No list squares off every product; a list squares off only those.
            wider = b is None or (a is not None and set(b) >= set(a))
            items.add(
                TIGHTENING if wider else LOOSENING,
                name,
                "all" if b is None else list(b),
                f"{name} changed from {fmt.names(a) if a else 'all'} to {fmt.names(b) if b else 'all'}",
                "more positions are squared off"
                if wider
                else f"positions in {fmt.names(sorted(set(a or ['every other product']) - set(b)))} are no longer squared off",
                f"set products back to {fmt.names(a) if a else 'all (remove the list)'}",
                anchor,
            )
        elif kind == "secrets.clear" and key == "revoke":
            weaker = bool(a) and not b
            items.add(
                LOOSENING if weaker else TIGHTENING,
                name,
                bool(b),
                f"{name} changed from {bool(a)} to {bool(b)}",
                "the access token is no longer invalidated at the broker: a copy of it stays usable until 06:00"
                if weaker
                else "the access token is invalidated at the broker",
                f"set revoke: {bool(a)}",
                anchor,
            )
        elif kind == "gtt.delete_all" and key == "enabled":
            kept = a is not False and b is False  # absent is the default: on
            items.add(
                LOOSENING if kept else TIGHTENING,
                name,
                b is not False,
                f"{name} changed from {a} to {b}",
                "active GTTs survive the kill: one can place a new order when its price is crossed"
                if kept
                else "active GTTs are deleted by the kill",
                f"set enabled: {a if a is not None else 'true'}",
                anchor,
            )
        elif kind in WITHIN_DEFAULT and key == "within":
            _within(items, name, anchor, a, b, WITHIN_DEFAULT[kind], emergency)
        elif emergency and kind == "engine.stop" and key == "signal" and "KILL" in (a, b):
            weaker = a == "KILL"
            items.add(
                LOOSENING if weaker else TIGHTENING,
                name,
                b or "default",
                f"{name} changed from {a or 'the profile default'} to {b or 'the profile default'}",
                "the engine is asked to stop instead of killed: it can keep trading while it winds down"
                if weaker
                else "the engine is killed at once",
                f"set signal: {a or '(remove it)'}",
                anchor,
            )
        elif emergency and kind == "engine.stop" and key == "grace":
            change_kind = directed(a, b, True) if a is not None and b is not None else NEUTRAL
            items.add(
                change_kind,
                name,
                b if b is not None else "removed",
                f"{name} {moved(a, b)}",
                "a stopping engine is left running longer before it is killed"
                if change_kind == LOOSENING
                else "a change mci cannot rank as looser or tighter; review it",
                f"set grace: {fmt.show(a)}",
                anchor,
            )
        else:
            items.add(
                NEUTRAL,
                name,
                b if b is not None else "removed",
                f"{name} {moved(a, b)}",
                "a change mci cannot rank as looser or tighter; review it",
                f"set {key}: {fmt.show(a)}",
                anchor,
            )


def _within(items: Items, name: str, anchor: Anchor, old: object, new: object, default: str, emergency: bool) -> None:
    """How long a step keeps at its orders or positions. In the emergency flatten longer is looser: the account stays
    exposed, and the kill switch's verdict (not flat, could not verify) comes later. Elsewhere shorter is looser:
    the step gives up sooner and may leave orders or positions open."""
    from datetime import timedelta

    from mci.units import parse_duration

    def duration(value: object) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    try:
        a, b = duration(old if old is not None else default), duration(new if new is not None else default)
    except (TypeError, ValueError):
        items.add(
            NEUTRAL,
            name,
            new if new is not None else "removed",
            f"{name} {moved(old, new)}",
            "a change mci cannot rank as looser or tighter; review it",
            f"set within: {fmt.show(old)}",
            anchor,
        )
        return
    if a == b:
        return
    shown = {
        "old": fmt.show(old) if old is not None else f"the default {default}",
        "new": fmt.show(new) if new is not None else f"the default {default}",
    }
    kind = directed(a, b, emergency)
    if emergency:
        why = (
            f"the emergency flatten may take {shown['new']} instead of {shown['old']} before its verdict: positions "
            "stay open longer and the kill switch says later that it could not flatten"
            if kind == LOOSENING
            else "the emergency flatten reaches its verdict sooner"
        )
    else:
        why = (
            "it gives up sooner, and may leave orders or positions open"
            if kind == LOOSENING
            else "it keeps trying longer before it gives up"
        )
    items.add(
        kind,
        name,
        new if new is not None else "removed",
        f"{name} changed from {shown['old']} to {shown['new']}",
        why,
        f"set within: {fmt.show(old)}" if old is not None else "remove within (back to the default)",
        anchor,
    )
