"""Before the drill starts anything: the profile it can rehearse, the instant the rehearsal runs at.

A drill must never touch the operator's real world, so a profile is refused
when rehearsing it would: a Kite root that is not the drill's simulator, an
engine started through systemd or an HTTP call (outside the sandbox), a token
store kept at a path of its own. Every refusal says WHAT / WHY / HOW (exit 2).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Mapping

from mci.errors import UsageError

if TYPE_CHECKING:
    from mci.config.model import Profile

SESSION_OFFSET = timedelta(minutes=45)  # the rehearsal starts this long after the open: 10:00 on NSE
ROOM = timedelta(minutes=30)  # a rehearsal needs this long before the close and the square-off time
COPY_HOW = "drill a copy of the profile that differs only there (profiles/kite-sim.yaml is the model)"


def broker_kind(raw: Mapping[str, Any]) -> str:
    broker = raw.get("broker")
    return str(broker.get("kind", "paper")) if isinstance(broker, Mapping) else "paper"


def refuse_circuits_off_the_breach(spec: Any) -> None:
    """A drill's circuit= locks instruments of the forced breach (the bad hour), not the engine's own."""
    from mci.drill.breach import CANDIDATES

    off = [item for item in spec.circuit if item.partition("/")[0] not in {f"NSE:{s}" for s in CANDIDATES}]
    if off:
        raise UsageError(
            f"circuit={'+'.join(off)} names no instrument of the drill's forced breach",
            "in a drill the circuit locks one of the positions the breach opens, when the price falls",
            f"name one or more of {', '.join(CANDIDATES)}, e.g. --faults circuit=RELIANCE",
        )


def refuse_faults_on_paper(kind: str, faults: str | None, name: str) -> None:
    if faults and kind != "kite":
        raise UsageError(
            f"--faults applies to the Kite simulator; profile {name} uses the {kind} broker",
            "the paper exchange runs inside mci's own processes (one SQLite file): there is no network between "
            "them to delay, fail or lose answers",
            "drop --faults for this profile, or drill a kite profile: mci drill -p profiles/kite-sim.yaml --faults 5xx=0.2",
        )


def refuse_unsafe(profile: "Profile", sim_url: str | None) -> None:
    start = profile.engine.get("start") or {}
    if not start.get("command"):
        how = "systemd unit" if start.get("systemd") else "HTTP call" if start.get("http") else "nothing"
        raise UsageError(
            f"profile {profile.name} starts its engine with a {how}, not a command",
            "the drill starts the engine itself inside its sandbox; a unit or an HTTP call would start "
            "a real engine outside it",
            COPY_HOW,
        )
    store = profile.broker.token_store
    if store is not None and (store.path is not None or store.key_file is not None):
        raise UsageError(
            f"profile {profile.name} keeps its token store at a path of its own",
            "the drill's login would overwrite the operator's stored token there",
            COPY_HOW + ", without broker.token_store.path / key_file",
        )
    if profile.broker.kind == "kite":
        root = (profile.broker.root or "https://api.kite.trade").rstrip("/")
        if sim_url is None or root != sim_url.rstrip("/"):
            raise UsageError(
                f"profile {profile.name}'s Kite root {root} is not the drill's simulator",
                "the drill never logs in to nor trades a real account; it rehearses against the Kite "
                "simulator it starts itself, named in MCI_SIM_URL",
                "point broker.root, login_url and redirect_url at ${env:MCI_SIM_URL:-...} as "
                "profiles/kite-sim.yaml does, in a copy of the profile",
            )


def rehearsal_instant(profile: "Profile", at: str | None, now: datetime) -> datetime:
    """`--at`, checked; else the next trading day of the profile's calendar, 45 minutes after the open."""
    from mci.clock import parse_instant
    from mci.market.calendar import CalendarCoverageError, calendar_for

    calendar = calendar_for(
        profile, None
    )  # the shipped calendar or the profile's own file (the sandbox has no local one)
    try:
        if at:
            instant = parse_instant(at, profile.market.timezone)
            _check_instant(profile, calendar, instant)
            return instant
        local = now.astimezone(calendar.tz)
        day = local.date()
        start = datetime.combine(day, calendar.normal.start, tzinfo=calendar.tz) + SESSION_OFFSET
        if not calendar.is_trading_day(day) or local >= start:
            day = calendar.next_trading_day(day)
        return datetime.combine(day, calendar.normal.start, tzinfo=calendar.tz) + SESSION_OFFSET
    except CalendarCoverageError as exc:
        raise UsageError(exc.what, exc.why, f"{exc.how}; or pass --at with a trading day it covers") from None


def _check_instant(profile: "Profile", calendar: Any, instant: datetime) -> None:
    phase = calendar.phase(instant)
    local = instant.astimezone(calendar.tz)
    from mci.market.cutoffs import watch_square_off_on

    # The day's own close and the watcher's square-off on that day (a Muhurat session ends early).
    ends = [calendar.session_bounds(local.date())[2]]
    square_off = watch_square_off_on(profile, calendar, local.date())
    if square_off is not None:
        ends.append(square_off)
    if not phase.is_open or local + ROOM > min(ends):
        latest = (min(ends) - ROOM).strftime("%H:%M")
        raise UsageError(
            f"--at {instant.isoformat()} is not inside a trading session with {int(ROOM.total_seconds() // 60)} "
            f"minutes to spare ({phase.value})",
            "the drill rehearses a trading day: the scan must pass, the engine trade and the watcher guard it "
            "before the close and the square-off time",
            f"pick a trading day between {calendar.normal.start:%H:%M} and {latest} "
            f"({profile.market.timezone}), or leave --at out for the next trading day at "
            f"{(datetime.combine(local.date(), calendar.normal.start) + SESSION_OFFSET):%H:%M}",
        )
