"""The watcher as a library, on the paper account with real SQLite: an instant-sleep clock, scripted markets."""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from decimal import Decimal as D

import pytest

from mci.engine.lifecycle import Lifecycle
from mci.errors import ExitCode, LockedError, RefusedError
from mci.store.lock import ProfileLock
from mci.store.state import StateStore
from mci.store.watchers import Watchers, liveness
from mci.watch import Watcher, lock_name
from testing.watch import IST, Blips, Events, Glitch, Session, hold, open_positions, paper, paper_profile, set_price

BOOK = {"RELIANCE": 100, "INFY": 100, "TCS": 100, "HDFCBANK": 100}


class Script:
    """The watcher's wait(): skips the clock ahead, then runs what the test scheduled after that poll."""

    def __init__(self, clock, actions=None):
        self.clock = clock
        self.actions = actions or {}
        self.calls = 0

    def __call__(self, delay: float) -> None:
        self.clock.sleep(delay)
        self.calls += 1
        action = self.actions.get(self.calls)
        if action is not None:
            action()


def lose(home, clock, profile, prices, per_position: D) -> None:
    """Every position of BOOK down by `per_position` rupees (100 shares each)."""
    for symbol, ltp in prices.items():
        set_price(home, clock, profile, symbol, ltp - per_position / BOOK[symbol])


def audit(home, kind: str) -> list[dict]:
    store = StateStore.open(home)
    try:
        return [r.data for r in store.audit_records() if r.kind == kind]
    finally:
        store.close()


def lifecycle(home, name: str = "paper") -> str:
    store = StateStore.open(home)
    try:
        return store.lifecycle(name).state
    finally:
        store.close()


def watcher(profile, clock, home, **kw):
    kw.setdefault("wait", Script(clock))
    kw.setdefault("on_event", Events())
    kw.setdefault("stream", False)  # these script the polling cycle poll by poll; the stream has its own tests
    return Watcher(profile, clock, home, **kw)


def test_a_soft_threshold_warns_once_per_rule_until_it_is_back_to_ok(home, clock, profile):
    prices = hold(home, clock, profile, BOOK)
    lose(home, clock, profile, prices, D("12500"))  # day loss 50,000 of 60,000: 83%, each position 25%
    notified: list[tuple[str, dict]] = []
    events = Events()
    script = Script(
        clock,
        {
            2: lambda: lose(home, clock, profile, prices, D("0")),
            3: lambda: lose(home, clock, profile, prices, D("12500")),
        },
    )
    report = watcher(
        profile, clock, home, wait=script, on_event=events, notify=lambda kind, data: notified.append((kind, data))
    ).run(max_polls=5)

    assert report.status == "stopped" and report.exit_code == ExitCode.OK
    warnings = events.of("risk_warning")
    assert [w.data["usage"]["rule"] for w in warnings] == ["daily_loss", "daily_loss"]  # polls 1 and 4, not 2 and 5
    assert len(events.of("risk_clear")) == 1
    assert [k for k, _ in notified] == ["risk_warning", "risk_warning"]
    assert "83% of the limit" in notified[0][1]["text"]
    assert len(audit(home, "risk_warning")) == 2
    assert lifecycle(home) == "idle" and len(open_positions(home, clock, profile)) == 4


def test_a_breach_runs_the_emergency_flattens_and_latches_halted(home, clock, profile):
    prices = hold(home, clock, profile, BOOK)
    broker = paper(home, clock, profile)
    from mci.brokers.base import OrderRequest

    broker.place_order(
        OrderRequest("NSE", "ITC", "BUY", 10, "LIMIT", "MIS", price=D("350.00"))
    )  # resting below, inside the ±20% circuit band
    broker.close()
    events, steps = Events(), []
    script = Script(clock, {2: lambda: lose(home, clock, profile, prices, D("16000"))})  # 64,000 > 60,000
    report = watcher(profile, clock, home, wait=script, on_event=events, on_step=steps.append).run(max_polls=10)

    assert report.status == "tripped" and report.exit_code == ExitCode.FAILED  # 1: the guard acted, flat
    assert report.polls == 3  # it acted on the first poll that saw the breach
    assert report.outcome["flat"] is True and report.outcome["lifecycle"] == "halted"
    assert [s.id for s in steps] == [
        "kill_engine",
        "delete_gtts",
        "cancel_orders",
        "square_off",
        "log_final_state",
        "halt",
    ]
    assert open_positions(home, clock, profile) == []
    broker = paper(home, clock, profile)
    assert not [o for o in broker.orders() if o.is_open]
    broker.close()
    assert lifecycle(home) == "halted"
    (breach,) = audit(home, "risk_breach")
    assert [u["rule"] for u in breach["breaches"]] == ["daily_loss"]
    assert breach["breaches"][0]["value"] == "64000.00"
    assert events.kinds().count("risk_breach") == 1
    store = StateStore.open(home)
    assert Watchers(store, "paper").get().status == "tripped"
    store.close()

    with pytest.raises(RefusedError) as refused:  # halted: nothing left to guard until reset
        watcher(profile, clock, home).run(max_polls=1)
    assert refused.value.code == ExitCode.REFUSED


def test_broker_blips_are_counted_never_a_breach(home, clock):
    profile = paper_profile(blind_warning=timedelta(seconds=2))
    prices = hold(home, clock, profile, BOOK)
    lose(home, clock, profile, prices, D("14000"))  # 56,000: 93% of the day's limit, one blip from nothing
    events = Events()
    flaky = Blips(paper(home, clock, profile), failing=set(range(2, 9)))  # funds() calls 2-8: polls 2-5 fail
    report = watcher(profile, clock, home, on_event=events, broker_factory=lambda: flaky).run(max_polls=9)

    assert report.status == "stopped" and report.exit_code == ExitCode.OK
    assert report.failed_polls >= 3 and report.polls >= 4
    assert len(events.of("poll_failed")) == 1  # said once per outage, not per poll
    assert len(events.of("blind")) == 1 and len(events.of("seen")) == 1
    assert not events.of("risk_breach") and lifecycle(home) == "idle"
    assert len(open_positions(home, clock, profile)) == 4
    store = StateStore.open(home)
    assert store.breaker("broker").state == "closed"  # 4 failed polls < fail_max 5, then a success
    store.close()


def test_an_open_breaker_leaves_the_watcher_blind_not_tripped(home, clock):
    profile = paper_profile(blind_warning=timedelta(seconds=3))
    prices = hold(home, clock, profile, BOOK)
    lose(home, clock, profile, prices, D("16000"))  # a real breach the watcher cannot see
    dead = Blips(paper(home, clock, profile), always=True)
    events = Events()
    report = watcher(profile, clock, home, on_event=events, broker_factory=lambda: dead).run(max_polls=8)

    assert report.failed_polls == 8 and report.polls == 0
    calls_when_open = dead.calls
    assert calls_when_open == 5 * 2  # 5 polls × 2 attempts opened the breaker; the rest never called
    assert len(events.of("blind")) == 1 and "BLIND" in events.of("blind")[0].text
    assert lifecycle(home) == "idle" and not audit(home, "risk_breach")
    store = StateStore.open(home)
    assert store.breaker("broker").state == "open"
    store.close()


def test_a_breach_seen_once_and_not_confirmed_does_not_trip(home, clock, profile):
    hold(home, clock, profile, {"INFY": 10})
    glitchy = Glitch(paper(home, clock, profile), on_call=2)  # poll 2 reads a ghost loss of ₹9,99,999
    events = Events()
    report = watcher(profile, clock, home, on_event=events, broker_factory=lambda: glitchy).run(max_polls=3)

    assert report.status == "stopped" and lifecycle(home) == "idle"
    assert len(events.of("unconfirmed")) == 1 and not events.of("risk_breach")
    (record,) = audit(home, "risk_breach_unconfirmed")
    assert {u["rule"] for u in record["first"]} >= {"daily_loss", "position_loss"}


def test_the_square_off_time_runs_the_end_of_day_once_per_day(home):
    from testing.watch import SkipClock

    profile = paper_profile(square_off=time(15, 15))
    clock = SkipClock(datetime(2026, 11, 25, 15, 14, 57, 500000, tzinfo=IST))
    hold(home, clock, profile, {"INFY": 10})
    hold(home, clock, profile, {"TCS": 5}, product="CNC")
    store = StateStore.open(home)
    store.set_lifecycle("paper", "running", "test: an engine-less day", clock.now())
    store.close()
    events, steps = Events(), []
    report = watcher(profile, clock, home, on_event=events, on_step=steps.append).run(max_polls=20)

    assert report.status == "squared_off" and report.exit_code == ExitCode.OK, report.note
    assert 2 <= report.polls <= 4  # 15:14:57.5 .. 15:14:59.5, then 15:15:00
    assert "square_off_intraday" in [s.id for s in steps]
    assert [(p.symbol, p.product) for p in open_positions(home, clock, profile)] == [("TCS", "CNC")]  # CNC kept
    assert lifecycle(home) == "stopped"
    assert len(events.of("square_off")) == 1

    # Restarted the same day after the square-off: it watches, and does not run the end of day again.
    again = watcher(profile, clock, home).run(max_polls=2)
    assert again.status == "stopped" and again.polls == 2


def test_the_token_warning_comes_once_before_expiry(home, clock, profile):
    soon = Session(paper(home, clock, profile), clock.now() + timedelta(minutes=20))
    events = Events()
    watcher(profile, clock, home, on_event=events, broker_factory=lambda: soon).run(max_polls=3)
    (warning,) = events.of("token_expiring")
    assert "expires in 20m" in warning.text and "mci token login" in warning.text
    assert len(audit(home, "watch")) >= 1 and any(a.get("event") == "token_expiring" for a in audit(home, "watch"))

    later = Session(paper(home, clock, profile), clock.now() + timedelta(hours=5))
    quiet = Events()
    watcher(profile, clock, home, on_event=quiet, broker_factory=lambda: later).run(max_polls=2)
    assert not quiet.of("token_expiring")


def test_the_intraday_peak_survives_a_restart_the_same_day(home, clock, profile):
    (ltp,) = hold(home, clock, profile, {"INFY": 100}).values()
    set_price(home, clock, profile, "INFY", ltp + 100)  # +₹10,000: the peak
    watcher(profile, clock, home).run(max_polls=1)
    set_price(home, clock, profile, "INFY", ltp)

    w = watcher(profile, clock, home)
    account, usages, summary = w.check_once()
    drawdown = next(u for u in usages if u.rule == "drawdown")
    assert drawdown.value == D("10000.00") and summary["peak_equity"] == "1010000.00"
    store = StateStore.open(home)
    assert (
        Watchers(store, "paper").peak(clock.now().astimezone(IST).date() + timedelta(days=1)) is None
    )  # a new day, a new peak
    store.close()


def test_halted_by_another_command_while_watching_stops_it(home, clock, profile):
    def halt():
        store = StateStore.open(home)
        Lifecycle(store, "paper").fire("halt", clock.now(), "mci kill by the operator")
        store.close()

    report = watcher(profile, clock, home, wait=Script(clock, {1: halt})).run(max_polls=5)
    assert report.status == "halted" and report.exit_code == ExitCode.REFUSED and report.polls == 1


def test_one_watcher_per_profile_and_the_profile_lock_stays_free(home, clock, profile):
    free = []

    def try_the_profile_lock():
        with ProfileLock(home, "paper", "shutdown"):  # mci shutdown / kill must work while a watcher runs
            free.append(True)
        with pytest.raises(LockedError) as second:
            watcher(profile, clock, home).run(max_polls=1)
        free.append(second.value)

    watcher(profile, clock, home, wait=Script(clock, {1: try_the_profile_lock})).run(max_polls=2)
    assert free[0] is True
    locked = free[1]
    assert locked.code == ExitCode.LOCKED and "already watched by pid" in locked.what
    assert locked.details["pid"] == os.getpid()

    with ProfileLock(home, lock_name("paper"), "watch"):
        with pytest.raises(LockedError):
            watcher(profile, clock, home).run(max_polls=1)


def test_the_heartbeat_row_says_alive_while_polling_and_absent_after(home, clock, profile):
    seen = []

    def look():
        store = StateStore.open(home)
        seen.append(liveness(Watchers(store, "paper").get(), datetime.now(IST)))
        store.close()

    watcher(profile, clock, home, wait=Script(clock, {2: look})).run(max_polls=3)
    (during,) = seen
    assert during.state == "alive" and during.record.pid == os.getpid() and during.record.status == "running"
    assert during.record.summary["level"] == "ok" and len(during.record.summary["usages"]) == 4
    assert during.record.interval == timedelta(seconds=1)

    store = StateStore.open(home)
    after = liveness(Watchers(store, "paper").get(), datetime.now(IST))
    store.close()
    assert after.state == "absent" and after.record.status == "stopped"
    starts = [a for a in audit(home, "watch") if a.get("event") in ("started", "stopped")]
    assert [a["event"] for a in starts] == ["started", "stopped"]


def test_an_interval_below_100ms_is_a_usage_error(home, clock, profile):
    from mci.errors import UsageError

    with pytest.raises(UsageError):
        Watcher(profile, clock, home, interval=timedelta(milliseconds=10))


def test_a_square_off_the_lifecycle_refuses_still_reports_the_mis_positions_left(home):
    from testing.watch import SkipClock

    profile = paper_profile(square_off=time(15, 15))
    clock = SkipClock(datetime(2026, 11, 25, 15, 20, tzinfo=IST))  # started after the square-off time
    hold(home, clock, profile, {"INFY": 10})  # carried in while the lifecycle is idle: nothing was ignited
    report = watcher(profile, clock, home).run(max_polls=5)
    assert report.status == "squared_off" and report.exit_code == ExitCode.INCOMPLETE
    assert "MIS positions remain" in report.note and "NSE:INFY +10" in report.note and "idle" in report.note
    assert report.polls == 0  # at once, before the first poll


def test_a_refused_token_rebuilds_the_broker_so_a_later_login_is_picked_up(home, clock, profile):
    from mci.errors import MciError

    class NoToken(Blips):
        def funds(self):
            raise MciError(
                "no Kite access token: cannot read the margins", "no stored session", "run `mci token login`"
            )

    built = []

    def factory():
        broker = paper(home, clock, profile)
        built.append(broker)
        return NoToken(broker) if len(built) == 1 else broker

    events = Events()
    report = watcher(profile, clock, home, on_event=events, broker_factory=factory).run(max_polls=3)
    assert (report.failed_polls, report.polls) == (1, 2) and len(built) == 2
    assert "no Kite access token" in events.of("poll_failed")[0].text
    assert "after 1 failed poll(s)" in events.of("seen")[0].text
    store = StateStore.open(home)
    assert store.breaker("broker").fail_counter == 0  # a missing token is not the broker being down
    store.close()


def test_on_a_muhurat_day_the_square_off_keeps_its_distance_to_the_early_close(home):
    """The shipped NSE calendar: Muhurat trading 2025-10-21, session 13:45-14:45. watch.square_off 15:15 is 15
    minutes before the regular 15:30 close, so that day it is 14:30: inside the session, not after its close."""
    from testing.watch import SkipClock

    profile = paper_profile(square_off=time(15, 15))
    clock = SkipClock(datetime(2025, 10, 21, 14, 29, 57, 500000, tzinfo=IST))
    hold(home, clock, profile, {"INFY": 10})
    store = StateStore.open(home)
    store.set_lifecycle("paper", "running", "test: the Muhurat session", clock.now())
    store.close()
    events = Events()
    w = watcher(profile, clock, home, on_event=events)
    report = w.run(max_polls=20)

    assert report.status == "squared_off" and report.exit_code == ExitCode.OK, report.note
    assert 2 <= report.polls <= 4  # 14:29:57.5 .. 14:29:59.5 polled, the square-off at 14:30:00
    start = events.of("start")[0]
    assert "square-off at 14:30 IST (Muhurat trading (Diwali Laxmi Pujan): the session closes 14:45" in start.text
    assert start.data["square_off"] == "2025-10-21T14:30:00+05:30"
    square_off = events.of("square_off")[0]
    assert square_off.at >= datetime(2025, 10, 21, 14, 30, tzinfo=IST)
    assert square_off.at < datetime(2025, 10, 21, 14, 30, 1, tzinfo=IST)  # at the time, not at the regular 15:15
    assert {"event": "square_off", "at": "14:30"} in audit(home, "watch")
    assert open_positions(home, clock, profile) == []


def test_the_square_off_is_not_due_a_moment_before_the_shifted_time_and_is_regular_on_other_days(home):
    from testing.watch import SkipClock

    profile = paper_profile(square_off=time(15, 15))
    # 14:29:59 on the Muhurat day: one poll, not yet due (the shifted time is an edge, not a window).
    clock = SkipClock(datetime(2025, 10, 21, 14, 29, 59, tzinfo=IST))
    w = watcher(profile, clock, home, wait=lambda s: None)
    report = w.run(max_polls=1)
    assert report.status == "stopped" and report.polls == 1
    assert w.square_off_today() == datetime(2025, 10, 21, 14, 30, tzinfo=IST)
    assert report.summary["square_off"] == "2025-10-21T14:30:00+05:30"  # the heartbeat `mci status` reads

    # A regular trading day, and a holiday without a session: the profile's own 15:15.
    for day in (datetime(2025, 10, 20, 15, 14, 59, tzinfo=IST), datetime(2025, 10, 22, 15, 14, 59, tzinfo=IST)):
        regular = watcher(profile, SkipClock(day), home, wait=lambda s: None)
        assert regular.run(max_polls=1).status == "stopped"
        assert regular.square_off_today() == day.replace(minute=15, second=0)


def test_a_calendar_that_cannot_be_read_stops_the_start_not_the_square_off(home, clock):
    from dataclasses import replace

    from mci.errors import ConfigError

    profile = paper_profile(square_off=time(15, 15))
    broken = replace(profile, market=replace(profile.market, calendar="./no-such-calendar.yaml"))
    with pytest.raises(ConfigError, match="calendar file ./no-such-calendar.yaml not found"):
        watcher(broken, clock, home).run(max_polls=1)
    store = StateStore.open(home)
    try:
        assert Watchers(store, "paper").get() is None  # refused before it claimed the heartbeat row
    finally:
        store.close()


def test_at_reduce_at_the_watcher_moves_to_reducing_and_still_halts_at_the_hard_limit(home, clock):
    """watch.reduce_at 80%: a day loss of 83% pauses entries (running → reducing, once), 107% runs the emergency."""
    profile = paper_profile(reduce_at=D("0.8"))
    _running(home, clock)
    prices = hold(home, clock, profile, BOOK)
    events, notified = Events(), []
    script = Script(
        clock,
        {
            1: lambda: lose(home, clock, profile, prices, D("12500")),  # 50,000 of 60,000
            3: lambda: lose(home, clock, profile, prices, D("16000")),
        },
    )  # 64,000 > 60,000
    report = watcher(
        profile, clock, home, wait=script, on_event=events, notify=lambda kind, data: notified.append(kind)
    ).run(max_polls=10)

    assert [e.kind for e in events.of("reducing")] == ["reducing"]  # polls 2 and 3 both over: one move
    assert "watch.reduce_at 80%" in events.of("reducing")[0].text and "reducing" in notified
    moves = [(r["trigger"], r["to"]) for r in audit(home, "lifecycle")]
    assert moves[:1] == [("pause", "reducing")] and moves[-1] == ("halt", "halted")
    assert "daily_loss" in audit(home, "lifecycle")[0]["reason"]
    assert report.status == "tripped" and report.outcome["flat"] is True and lifecycle(home) == "halted"


def test_below_reduce_at_or_without_it_the_watcher_only_warns(home, clock):
    _running(home, clock)
    prices = hold(home, clock, paper_profile(), BOOK)
    lose(home, clock, paper_profile(), prices, D("12500"))  # 83%
    for profile in (paper_profile(reduce_at=D("0.9")), paper_profile()):
        events = Events()
        watcher(profile, clock, home, on_event=events).run(max_polls=2)
        assert events.of("reducing") == [] and events.of("risk_warning")
        assert lifecycle(home) == "running"


def _running(home, clock) -> None:
    store = StateStore.open(home)
    try:
        store.set_lifecycle("paper", "running", "ignited", clock.now())
    finally:
        store.close()
