"""A profile's own policy compared: risk limits, watch, breakers, broker, scan freshness, engine,
and the checklists and sequences it uses (rules held at one version, so only the profile's doing shows).

Anchors are paths into the profile; ("ref", ref_path, item_anchor) for what lies
inside a `use:` reference (mci.policy.locate turns both into file:line:column).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from mci.config.model import Checklist, Profile, Sequence
from mci.policy import fmt
from mci.policy.compare_items import compare_checklists, directed
from mci.policy.compare_steps import compare_sequences
from mci.policy.findings import LOOSENING, NEUTRAL, TIGHTENING, Anchor, Change

# field: (unit, a higher value is looser, what the limit allows, with {old} and {new})
RISK: dict[str, tuple[str, bool, str]] = {
    "max_risk_per_trade": ("percent", True, "one trade may lose {new} of capital at its stop loss, instead of {old}"),
    "max_daily_loss": (
        "percent",
        True,
        "the day may lose {new} of capital before the kill switch trips, instead of {old}",
    ),
    "max_drawdown": (
        "percent",
        True,
        "equity may fall {new} from the intraday peak before the kill switch trips, instead of {old}",
    ),
    "max_position_loss": (
        "percent",
        True,
        "one position may lose {new} of capital before it is closed, instead of {old}",
    ),
    "max_open_positions": ("", True, "{new} positions may be open at once, instead of {old}"),
    "min_risk_reward": ("", False, "signals offering only {new}× their risk are accepted, instead of at least {old}×"),
    "price_band": ("percent", True, "orders may be priced up to ±{new} from the last traded price, instead of ±{old}"),
    "max_quantity_per_order": ("", True, "one order may be for {new} units, instead of {old}"),
    "max_notional_per_order": ("money", True, "one order may be worth {new}, instead of {old}"),
    "max_orders_per_second": (
        "",
        True,
        "the engine may send {new} orders a second, instead of {old} (Kite allows about 10)",
    ),
    "max_order_to_trade_ratio": ("", True, "{new} orders may be placed per executed trade, instead of {old}"),
    "max_signal_age": ("", True, "signals up to {new} old are traded, instead of {old}"),
    "warn_at": (
        "percent",
        True,
        "`mci watch` warns at {new} of a hard limit instead of {old}: less notice before the kill switch",
    ),
}
ALLOWED = {"allowed_exchanges": "exchanges", "allowed_products": "products", "allowed_symbols": "symbols"}
# field: (a higher value is looser, what it allows)
WATCH: dict[str, tuple[bool, str]] = {
    "interval": (True, "`mci watch` reads the account every {new} instead of every {old}: a breach is acted on later"),
    "token_warning": (False, "the warning before the access token dies comes {new} ahead instead of {old}"),
    "blind_warning": (True, "`mci watch` may go {new} without a good read before it warns, instead of {old}"),
    "reduce_at": (
        True,
        "`mci watch` stops new entries at {new} of the day's loss limits instead of {old}: "
        "less room between reduce-only and the kill switch",
    ),
    "reconcile": (
        True,
        "on the stream, `mci watch` re-reads the account every {new} instead of every {old}: what "
        "the ticks cannot show is seen later",
    ),
}
SEQUENCES = {
    "graceful": ("shutdown", "graceful"),
    "end_of_day": ("shutdown", "end_of_day"),
    "emergency": ("shutdown", "emergency"),
    "ignite": ("ignite",),
}


def _limit(key: str, old: Any, new: Any, unit: str, higher_is_looser: bool, allows: str) -> Change | None:
    if old == new:
        return None
    anchor = tuple(key.split("."))
    shown = {"old": fmt.show(old, unit), "new": fmt.show(new, unit)}
    if new is None:
        return Change(
            LOOSENING,
            key,
            "removed",
            f"{key} removed (was {shown['old']})",
            f"nothing enforces {key.rsplit('.', 1)[-1]} any more; it was {shown['old']}",
            f"restore {key.rsplit('.', 1)[-1]}: {shown['old']}",
            anchor,
        )
    if old is None:
        return Change(
            TIGHTENING,
            key,
            fmt.token(new, unit),
            f"{key} added: {shown['new']}",
            f"a new limit: {shown['new']}",
            "",
            anchor,
        )
    kind = directed(old, new, higher_is_looser)
    verb = "raised" if new > old else "lowered"
    return Change(
        kind,
        key,
        fmt.token(new, unit),
        f"{key} {verb} from {shown['old']} to {shown['new']}",
        allows.format(**shown),
        f"set {key.rsplit('.', 1)[-1]} back to {shown['old']}",
        anchor,
    )


def compare_risk(old: Any, new: Any) -> list[Change]:
    changes = [
        _limit(f"risk.{name}", getattr(old, name), getattr(new, name), unit, up, allows)
        for name, (unit, up, allows) in RISK.items()
    ]
    if old.require_stop_loss and not new.require_stop_loss:
        changes.append(
            Change(
                LOOSENING,
                "risk.require_stop_loss",
                "false",
                "risk.require_stop_loss turned off",
                "entries without a stop loss are accepted: one trade's loss is bounded by nothing",
                "set require_stop_loss: true",
                ("risk", "require_stop_loss"),
            )
        )
    elif new.require_stop_loss and not old.require_stop_loss:
        changes.append(
            Change(
                TIGHTENING,
                "risk.require_stop_loss",
                "true",
                "risk.require_stop_loss turned on",
                "every entry needs a stop loss",
                "",
                ("risk", "require_stop_loss"),
            )
        )
    for name, noun in ALLOWED.items():
        changes.append(_allowed(name, noun, getattr(old, name), getattr(new, name)))
    return [c for c in changes if c is not None]


def _allowed(name: str, noun: str, old: tuple[str, ...] | None, new: tuple[str, ...] | None) -> Change | None:
    if (None if old is None else set(old)) == (None if new is None else set(new)):
        return None
    key, anchor = f"risk.{name}", ("risk", name)
    if new is None:
        return Change(
            LOOSENING,
            key,
            "any",
            f"{key} removed (was {fmt.names(old)})",
            f"orders in any {noun[:-1]} are accepted, not only {fmt.names(old)}",
            f"restore {name}: [{', '.join(old or ())}]",
            anchor,
        )
    added = sorted(set(new) - set(old)) if old is not None else []
    if old is not None and added:
        return Change(
            LOOSENING,
            key,
            fmt.token(sorted(new)),
            f"{key} widened from {fmt.names(old)} to {fmt.names(new)}",
            f"orders in {fmt.names(added)} are now accepted",
            f"remove {fmt.names(added)} from {name}",
            anchor,
        )
    return Change(
        TIGHTENING,
        key,
        fmt.token(sorted(new)),
        f"{key} narrowed from {fmt.names(old) if old is not None else 'any'} to {fmt.names(new)}",
        f"fewer {noun} are accepted",
        "",
        anchor,
    )


def compare_watch(old: Any, new: Any) -> list[Change]:
    changes = [
        _limit(
            f"watch.{name}",
            getattr(old, name),
            getattr(new, name),
            "percent" if name == "reduce_at" else "",
            up,
            allows,
        )
        for name, (up, allows) in WATCH.items()
    ]
    a, b = old.square_off, new.square_off
    if a != b:
        anchor = ("watch", "square_off")
        if b is None:
            changes.append(
                Change(
                    LOOSENING,
                    "watch.square_off",
                    "removed",
                    f"watch.square_off removed (was {fmt.clock(a)})",
                    "`mci watch` no longer squares off at a time of its own: intraday positions wait for "
                    "the broker's auto square-off at its price",
                    f'restore square_off: "{fmt.clock(a)}"',
                    anchor,
                )
            )
        else:
            kind = TIGHTENING if a is None or b < a else LOOSENING
            changes.append(
                Change(
                    kind,
                    "watch.square_off",
                    fmt.clock(b),
                    f"watch.square_off moved from {fmt.clock(a) if a else 'none'} to {fmt.clock(b)}",
                    "intraday positions are squared off later, closer to the broker's own square-off"
                    if kind == LOOSENING
                    else "intraday positions are squared off earlier",
                    f'set square_off back to "{fmt.clock(a)}"' if a else "",
                    anchor,
                )
            )
    if old.stream != new.stream:
        anchor = ("watch", "stream")
        changes.append(
            Change(
                TIGHTENING,
                "watch.stream",
                "true",
                "watch.stream turned on",
                "`mci watch` judges every tick of the broker's stream",
                "",
                anchor,
            )
            if new.stream
            else Change(
                LOOSENING,
                "watch.stream",
                "false",
                "watch.stream turned off",
                "`mci watch` judges the account once per watch.interval, not at every tick: a breach "
                "is acted on up to an interval later",
                "set stream: true",
                anchor,
            )
        )
    return [c for c in changes if c is not None]


def compare_market(old: Profile, new: Profile) -> list[Change]:
    """A later intraday entry cut-off or broker square-off lets entries (and watch.square_off) come later; another
    calendar file is reviewed on its own (mci policy diff of the calendar file)."""
    from mci.market.cutoffs import broker_square_off, entry_cutoff, profile_segments

    changes: list[Change] = []
    for segment in profile_segments(new):
        for label, rule, anchor in (
            ("entry cut-off", entry_cutoff, ("market", "entry_cutoff")),
            ("broker square-off", broker_square_off, ("market", "broker_square_off")),
        ):
            (a, source_a), (b, source) = rule(old, segment), rule(new, segment)
            if a == b or a is None or b is None or not (source_a + source).count("market."):
                continue  # a default that follows watch.square_off is reported once, as watch.square_off
            key = f"market.{anchor[1]}.{segment}"
            later = b > a
            changes.append(
                Change(
                    LOOSENING if later else TIGHTENING,
                    key,
                    fmt.clock(b),
                    f"the {segment} intraday {label} moved from {fmt.clock(a)} to {fmt.clock(b)} ({source})",
                    "intraday entries are accepted later in the day"
                    if later
                    else "intraday entries stop earlier in the day",
                    f'set it back to "{fmt.clock(a)}"',
                    anchor,
                )
            )
    if old.market.calendar != new.market.calendar:
        changes.append(
            Change(
                NEUTRAL,
                "market.calendar",
                new.market.calendar,
                f"market.calendar changed from {old.market.calendar} to {new.market.calendar}",
                "holidays, sessions and coverage now come from another file: compare the two with "
                "`mci policy diff NEW --base OLD`",
                f"set it back to {old.market.calendar}",
                ("market", "calendar"),
            )
        )
    return changes


def compare_breakers(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    changes: list[Change | None] = []
    for name, a in old.items():
        b = new.get(name)
        key = f"breakers.{name}"
        if b is None:
            changes.append(
                Change(
                    LOOSENING,
                    key,
                    "removed",
                    f"breaker {name} removed",
                    f"nothing stops calls after repeated failures any more (it opened after {a.fail_max})",
                    f"restore breakers.{name}",
                    ("breakers", name),
                )
            )
            continue
        changes.append(
            _limit(
                f"{key}.fail_max",
                a.fail_max,
                b.fail_max,
                "",
                True,
                "the breaker opens only after {new} consecutive failures, instead of {old}",
            )
        )
        changes.append(
            _limit(
                f"{key}.reset_timeout",
                a.reset_timeout,
                b.reset_timeout,
                "",
                False,
                "an open breaker lets calls through again after {new}, instead of {old}",
            )
        )
    for name in new:
        if name not in old:
            changes.append(
                Change(
                    TIGHTENING,
                    f"breakers.{name}",
                    "added",
                    f"breaker {name} added",
                    "repeated failures now open a breaker",
                    "",
                    ("breakers", name),
                )
            )
    return [c for c in changes if c is not None]


def _live(profile: Profile) -> bool:
    root = profile.broker.root
    return profile.broker.kind == "kite" and (root is None or "api.kite.trade" in root)


def compare_broker(old: Profile, new: Profile) -> list[Change]:
    if _live(old) == _live(new):
        return []
    if _live(new):
        return [
            Change(
                LOOSENING,
                "broker",
                "live",
                "broker now the real Kite Connect API",
                f"the profile now trades real money (it was {old.broker.kind}"
                f"{' against ' + old.broker.root if old.broker.root else ''})",
                "keep the paper or simulator broker until the go-live gate passes",
                ("broker",),
            )
        ]
    return [
        Change(
            TIGHTENING,
            "broker",
            new.broker.kind,
            "broker no longer the real Kite Connect API",
            "the profile no longer trades real money",
            "",
            ("broker",),
        )
    ]


def _reference(changes: list[Change], ref_path: Anchor) -> list[Change]:
    return [replace(c, anchor=("ref", ref_path, c.anchor)) for c in changes]


def compare_profiles(
    old: Profile, new: Profile, sequences: Callable[[Profile], Mapping[str, Sequence | None]]
) -> list[Change]:
    changes = compare_risk(old.risk, new.risk) + compare_watch(old.watch, new.watch)
    changes += compare_market(old, new)
    changes += compare_breakers(old.breakers, new.breakers) + compare_broker(old, new)
    scan_age = _limit(
        "scan.max_age",
        old.scan.max_age,
        new.scan.max_age,
        "",
        True,
        "ignition accepts a passed scan up to {new} old, instead of {old}",
    )
    changes += [scan_age] if scan_age else []
    changes += _reference(compare_checklists(old.scan.checklist, new.scan.checklist, "scan", "scan.checks"), ("scan",))
    changes += _gates(old.gates, new.gates)
    old_seq, new_seq = sequences(old), sequences(new)
    for purpose, ref_path in SEQUENCES.items():
        a, b = old_seq.get(purpose), new_seq.get(purpose)
        label = ".".join(ref_path)
        if a is not None and b is None:
            changes.append(
                Change(
                    LOOSENING,
                    label,
                    "removed",
                    f"{label} sequence removed",
                    f"there is no {purpose.replace('_', '-')} sequence to run any more",
                    f"restore {label}",
                    ref_path,
                )
            )
        elif a is not None and b is not None:
            changes += _reference(
                compare_sequences(a, b, label, f"{label}.steps", emergency=purpose == "emergency"), ref_path
            )
    if dict(old.engine) != dict(new.engine):
        changes.append(
            Change(
                NEUTRAL,
                "engine",
                "changed",
                "engine changed",
                "how the engine is started, checked, paused or stopped changed; review it",
                "",
                ("engine",),
            )
        )
    return changes


def _gates(old: Mapping[str, Checklist], new: Mapping[str, Checklist]) -> list[Change]:
    changes: list[Change] = []
    for name, a in old.items():
        b = new.get(name)
        if b is None:
            changes.append(
                Change(
                    LOOSENING,
                    f"gates.{name}",
                    "removed",
                    f"gate {name} removed",
                    f"nothing holds back what the {name} gate guarded",
                    f"restore gates.{name}",
                    ("gates",),
                )
            )
        else:
            changes += _reference(compare_checklists(a, b, f"gate {name}", f"gates.{name}.checks"), ("gates", name))
    for name in new:
        if name not in old:
            changes.append(
                Change(
                    TIGHTENING,
                    f"gates.{name}",
                    "added",
                    f"gate {name} added",
                    "one more go/no-go gate",
                    "",
                    ("gates", name),
                )
            )
    return changes


def _loosest(values: list[Any], higher_is_looser: bool) -> Any:
    """The loosest of several profiles' values; None (no limit, no such setting) is looser than any value."""
    if any(v is None for v in values):
        return None
    return max(values) if higher_is_looser else min(values)


def compare_new_profile(bases: list[Profile], new: Profile) -> list[Change]:
    """A profile new in the change against the loosest existing one, limit by limit: only what is looser than every
    existing profile is reported (as a loosening); what is as tight as one of them is not news."""
    from types import SimpleNamespace

    risk = {name: _loosest([getattr(p.risk, name) for p in bases], up) for name, (_, up, _) in RISK.items()}
    risk["require_stop_loss"] = all(p.risk.require_stop_loss for p in bases)
    for name in ALLOWED:
        lists = [getattr(p.risk, name) for p in bases]
        risk[name] = None if any(v is None for v in lists) else tuple(sorted({x for v in lists for x in v}))
    watch = {name: _loosest([getattr(p.watch, name) for p in bases], up) for name, (up, _) in WATCH.items()}
    watch["square_off"] = _loosest([p.watch.square_off for p in bases], True)
    watch["stream"] = all(p.watch.stream for p in bases)  # one polling profile: polling is already allowed
    old_risk, old_watch = SimpleNamespace(**risk), SimpleNamespace(**watch)
    changes = compare_risk(old_risk, new.risk) + compare_watch(old_watch, new.watch)
    ages = [p.scan.max_age for p in bases]
    age = _limit(
        "scan.max_age",
        max(ages),
        new.scan.max_age,
        "",
        True,
        "ignition accepts a passed scan up to {new} old, instead of {old}",
    )
    changes += [age] if age else []
    if _live(new) and not any(_live(p) for p in bases):
        changes += compare_broker(bases[0], new)
    return [
        replace(
            c,
            what=f"new profile {new.name}: {c.key} = {c.value}, looser than every profile at the base "
            f"(the loosest there: {_old_text(c)})",
        )
        for c in changes
        if c.kind == LOOSENING
    ]


def _old_text(change: Change) -> str:
    """The loosest base value as its finding states it ("raised from 6% to 20%" -> 6%)."""
    what = change.what
    if change.key == "broker":
        return "none trades real money"
    if " from " in what and " to " in what:
        return what.split(" from ", 1)[1].rsplit(" to ", 1)[0]
    if "(was " in what:
        return what.split("(was ", 1)[1].rstrip(")")
    return "none"
