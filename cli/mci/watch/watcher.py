"""The intraday risk guard: poll the account, judge it against the limits, act on a breach or at the square-off time.

Each poll reads the account once (mci.watch.reading), keeps the intraday
equity peak (persisted per profile and trading day), and assesses every
account-level limit (mci.risk.assess):

  warn    logged, audited and notified once per rule until it is back to ok;
  reduce  at `watch.reduce_at` of the day's loss limits (daily loss, drawdown): the engine is paused and the
          profile moves running → reducing (exits only; mci.engine.reducing);
  breach  re-read at once to confirm, audited, then the emergency sequence
          (flat, halted, latched) and the watcher stops.

A poll that fails (broker blip, breaker open, nonsense answer) is never a
breach: it is counted, and after `watch.blind_warning` without a good read
the watcher says it is blind. At `watch.square_off` (market time, once per
trading day; on a day whose session closes at another time, as long before
that close: mci.market.cutoffs.watch_square_off_on) it runs the end-of-day
sequence and stops. The watcher holds its
own lock, never the profile's between polls, so `mci shutdown` and `mci kill`
work while it runs.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, cast

from mci.clock import Clock, zone
from mci.units import format_duration
from mci.errors import ExitCode, LockedError, MciError, RefusedError, UnavailableError, UsageError
from mci.signals import StopRequest
from mci.store.errors import SQLiteError
from mci.watch.events import NOTIFY, Notify, WatchEvent, WatchReport, log_notify, poll_line, summary_of

if TYPE_CHECKING:
    from mci.brokers.base import Broker
    from mci.config.model import Profile
    from mci.engine.sequence import StepResult
    from mci.engine.shutdown import ShutdownOutcome
    from mci.market.calendar import ExchangeCalendar
    from mci.risk import Account, Usage
    from mci.store.state import StateStore
    from mci.store.watchers import Watchers
    from mci.watch.feed import Feed
    from mci.watch.reading import Reader

MIN_INTERVAL = timedelta(milliseconds=100)


def lock_name(profile: str) -> str:
    """The watcher's own lock: '@' cannot occur in a profile name, so it never meets a profile's lock."""
    return f"{profile}@watch"


def check_interval(interval: timedelta) -> timedelta:
    if interval < MIN_INTERVAL:
        raise UsageError(
            f"the watch interval {format_duration(interval)} is too short",
            f"polls closer than {format_duration(MIN_INTERVAL)} only load the broker (Kite limits requests per second)",
            "use an interval of 1s (the default) or more",
        )
    return interval


class Watcher:
    def __init__(
        self,
        profile: "Profile",
        clock: Clock,
        state_dir: Path,
        *,
        interval: timedelta | None = None,
        broker_factory: Callable[[], "Broker"] | None = None,
        notify: Notify | None = None,
        on_event: Callable[[WatchEvent], None] | None = None,
        on_step: Callable[["StepResult"], None] | None = None,
        beat_clock: Clock | None = None,
        wait: Callable[[float], Any] | None = None,
        stream: bool | None = None,
    ):
        self.profile = profile
        self.clock = clock
        self.state_dir = Path(state_dir)
        self.interval = check_interval(interval or profile.watch.interval)
        self._broker_factory = broker_factory
        self._notify = log_notify if notify is None else notify
        self._on_event = (lambda event: None) if on_event is None else on_event
        self._on_step = on_step
        self._beat_clock = (
            Clock() if beat_clock is None else beat_clock
        )  # liveness is real elapsed time, whatever --at says
        self._stop = StopRequest()  # set by mci watch's signal handlers: a threading.Event could deadlock (mci.signals)
        self._wait = self._stop.wait if wait is None else wait  # an event wait: a stop request cuts the sleep short
        self._warned: set[str] = set()
        self.peak: Decimal | None = None
        self.polls = 0
        self.failed = 0
        self._summary: dict[str, Any] = {}
        self._last_good = 0.0
        self._blind_said = False
        self._failing = False
        self._streak = 0
        self._token_said = False
        self._expires_at: datetime | None = None
        self._session_read = False
        self._status = "running"
        self._store: "StateStore | None" = None
        self._beats: "Watchers | None" = None
        self._db_said: set[str] = set()
        self._last_read: datetime | None = None  # the last REST read's instant
        self._rate_since: datetime | None = None  # the order-rate window start that read was judged with
        self._calendar: "ExchangeCalendar | None" = None
        self._square_off_at: tuple[date, datetime | None] | None = None  # (day, that day's square-off)
        self._reduce_said: str | None = None  # the last reason a move to reducing failed, said once
        self.stream = profile.watch.stream if stream is None else stream  # judge on the broker's feed
        self.reconcile = max(profile.watch.reconcile, self.interval)
        self.ticks = 0  # judgements made on a tick (polls counts the REST reads)
        self._feed: "Feed | None" = None
        self._feed_text = "polling" if not self.stream else "stream: connecting"

    # ------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Stop after the current poll (a signal handler calls this; it only sets a flag)."""
        self._stop.set()
        feed = self._feed
        if feed is not None:
            feed.stream.wake()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _emit(self, kind: str, text: str, level: str = "info", **data: Any) -> WatchEvent:
        event = WatchEvent(kind, self.clock.now(), text, level, data)
        self._on_event(event)
        if kind in NOTIFY:
            try:
                self._notify(kind, event.as_dict())
            except Exception:  # noqa: BLE001 — a broken notifier must never take the guard down
                pass
        return event

    def _day(self) -> date:
        return self.clock.now_in(self.profile.market.timezone).date()

    # ------------------------------------------------------------------ one read, for --once

    def check_once(self) -> tuple["Account", list["Usage"], dict[str, Any]]:
        """Read and judge once, act on nothing: no lock, no heartbeat. MciError when the account cannot be read."""
        from mci.store.state import StateStore
        from mci.store.watchers import Watchers
        from mci.watch.reading import Reader

        store = StateStore.open(self.state_dir)
        reader = Reader(self.profile, self.state_dir, self.clock, store, self.interval, self._broker_factory)
        self._feed_text = "one read (--once)"
        try:
            self.peak = Watchers(store, self.profile.name).peak(self._day())
            account, usages = self._judge(reader)
            return account, usages, self._summary
        finally:
            reader.close()
            store.close()

    def _judge(self, reader: "Reader") -> tuple["Account", list["Usage"]]:
        return self._assess(reader.account(self.peak, self.clock.now()))

    def _assess(self, account: "Account", *, marked: bool = False) -> tuple["Account", list["Usage"]]:
        """The one judgement of an account, read (a poll, a reconciliation) or `marked` at the stream's ticks."""
        from mci.risk import RiskModel, assess

        if marked:
            since = self._rate_since  # the orders are the last read's: judged as that read judged them
        else:
            previous = self._last_read
            # The rate is judged on what was placed since the previous read (less one window, for a burst
            # straddling two reads); an old burst already acted on does not trip again.
            since = self._rate_since = previous - timedelta(seconds=1) if previous is not None else None
            self._last_read = account.at
        usages = assess(RiskModel.of(self.profile.risk, account.capital), account, rate_since=since)
        self.peak = max(self.peak or account.capital, account.capital, account.equity)
        self._summary = summary_of(account, usages, self.peak)
        self._summary["feed"] = self._feed_text  # `mci status` says whether the watcher is on the stream
        square_off = self.square_off_today() if self._calendar is not None else None  # run() read the calendar
        if square_off is not None:  # `mci status` shows the day's effective time from the heartbeat
            self._summary["square_off"] = square_off.isoformat()
        return account, usages

    # ------------------------------------------------------------------ the guard

    def run(self, *, max_polls: int | None = None) -> WatchReport:
        """Watch until a breach, the square-off, a stop request, or `max_polls` (tests)."""
        from mci.procs import start_time
        from mci.store.lock import ProfileLock
        from mci.store.state import StateStore
        from mci.store.watchers import FAILED, Watchers
        from mci.watch.reading import Reader

        name = self.profile.name
        store = StateStore.open(self.state_dir)
        reader: Reader | None = None
        try:
            self._refuse_if_halted(store)
            self._prepare()
            try:
                lock = ProfileLock(self.state_dir, lock_name(name), "watch").__enter__()
            except LockedError as exc:
                raise self._already_watched(exc) from None
            try:
                self._refuse_if_halted(store)  # an emergency may have latched while we waited for nothing
                beats = self._beats = Watchers(store, name)
                self._store = store
                beats.start(
                    os.getpid(), start_time(os.getpid()), self._beat_clock.now(), self.interval, self.clock.now()
                )
                self.peak = beats.peak(self._day())
                reader = Reader(self.profile, self.state_dir, self.clock, store, self.interval, self._broker_factory)
                square_off = self.square_off_today()
                until = f"; square-off at {self._clock_text(square_off)}" if square_off is not None else ""
                self._emit(
                    "start",
                    f"watching profile {name} every {format_duration(self.interval)} (pid {os.getpid()}){until}",
                    pid=os.getpid(),
                    interval_s=self.interval.total_seconds(),
                    square_off=square_off.isoformat() if square_off is not None else None,
                )
                try:
                    report = self._loop(store, beats, reader, max_polls)
                except BaseException as exc:
                    failure = type(exc).__name__  # bound here: the name `exc` ends with the except block
                    self._db(
                        "heartbeat", lambda: beats.finish(FAILED, self._beat_clock.now(), self.clock.now(), failure)
                    )
                    raise
                self._db(
                    "heartbeat",
                    lambda: beats.finish(report.status, self._beat_clock.now(), self.clock.now(), report.note),
                )
                self._emit(
                    "stop",
                    report.note,
                    "info" if report.exit_code == ExitCode.OK else "error",
                    status=report.status,
                    exit_code=int(report.exit_code),
                )
                return report
            finally:
                lock.__exit__(None, None, None)
        finally:
            if reader is not None:
                reader.close()
            self._store = self._beats = None
            store.close()

    def _prepare(self) -> None:
        """Load now what a breach needs: a broken rule must stop the start, not the emergency, and the imports
        of the sequence machinery must not sit between a breach and the first cancel."""
        from mci.engine.sequence import sequence_for
        from mci.steps import load_all

        sequence_for(self.profile, "emergency", cache_dir=self.state_dir / "cache")
        if self.profile.watch.square_off is not None:
            sequence_for(self.profile, "end_of_day", cache_dir=self.state_dir / "cache")
            self.square_off_today()  # a calendar that cannot be read stops the start, not the square-off
        load_all()
        import mci.engine.shutdown  # noqa: F401
        from mci.engine.lifecycle import preload

        preload()  # the lifecycle's machine, needed to latch halted
        # What the emergency's steps import when they first run (the engine's stop, the flatten, the token):
        # compiled now, not between a breach seen on a tick and the first cancel.
        import mci.brokers.factory  # noqa: F401
        import mci.engine.runner  # noqa: F401
        import mci.enginectl  # noqa: F401
        import mci.flatten  # noqa: F401
        import mci.observability.logs  # noqa: F401
        import mci.store.token_store  # noqa: F401

    def _refuse_if_halted(self, store: "StateStore") -> None:
        life = store.lifecycle(self.profile.name)
        if life.state == "halted":
            raise RefusedError(
                f"watch refused: profile {self.profile.name!r} is halted (the kill switch is latched)",
                f"an emergency latched it{f' ({life.reason})' if life.reason else ''}; there is nothing left to guard",
                "inspect the account (`mci status`), then `mci reset --confirm` and a new day's `mci scan`",
                state="halted",
            )

    def _already_watched(self, exc: LockedError) -> LockedError:
        pid = exc.details.get("pid")
        since = exc.details.get("since", "")
        who = f"pid {pid} since {since}" if pid else "another process"
        return LockedError(
            f"profile {self.profile.name!r} is already watched by {who}",
            "one watcher per profile: two would both act on one breach",
            f"leave that one running (`mci status` shows it), or stop it ({f'kill {pid}' if pid else 'kill it'}) "
            "and start this one",
            **exc.details,
        )

    def _loop(self, store: "StateStore", beats: "Watchers", reader: "Reader", max_polls: int | None) -> WatchReport:
        self._last_good = self.clock.monotonic()
        feed = self._open_feed(reader)
        try:
            while not self._stop.is_set():
                if max_polls is not None and self.polls + self.failed >= max_polls:
                    break
                started = self.clock.monotonic()
                report = self._duties(store, beats, reader)
                if report is not None:
                    return report
                self._token(reader)
                report = self._poll(reader, beats)
                if feed is not None and reader.answers is not None and self._streak == 0:
                    feed.reconciled(reader.answers, started)
                if report is not None:
                    return report
                self._beat_status(self._status)
                if feed is None:
                    delay = started + self.interval.total_seconds() - self.clock.monotonic()
                    if delay > 0 and not self._stop.is_set():
                        self._wait(delay)
                    continue
                report = self._follow(feed, store, beats, reader, started)
                if report is not None:
                    return report
        finally:
            self._feed = None
            if feed is not None:
                feed.close()
        return self._report("stopped", ExitCode.OK, "stopped on request" if self._stop.is_set() else "stopped")

    def _duties(self, store: "StateStore", beats: "Watchers", reader: "Reader") -> WatchReport | None:
        """What the clock and the other commands ask of the watcher, at least once per interval."""
        if store.lifecycle(self.profile.name).state == "halted":
            note = "the profile was halted by another command (mci kill or an emergency): nothing left to guard"
            self._emit("halted", note, "warn")
            return self._report("halted", ExitCode.REFUSED, note)
        if self._square_off_due(beats):
            return self._square_off(beats, reader)
        return None

    # ------------------------------------------------------------------ the stream

    def _open_feed(self, reader: "Reader") -> "Feed | None":
        """The broker's feed, when the watcher is to use one and the broker has one; else polling, said once."""
        if not self.stream:
            return None
        from mci.watch.feed import Feed

        try:
            opener = getattr(reader.broker(), "stream", None)
            if opener is None:
                raise MciError("the broker has no live feed", "", "")
            feed = Feed(opener(), self.clock.monotonic)
        except Exception as exc:  # noqa: BLE001 — no session yet, no feed: polling still guards the account
            why = exc.what if isinstance(exc, MciError) else f"{type(exc).__name__}: {exc}"
            self._feed_text = f"polling (no stream: {why})"
            self._emit(
                "stream_down",
                f"watching by polling every {format_duration(self.interval)}: the stream cannot be opened ({why})",
                "warn",
            )
            self.stream = False
            return None
        self._feed = feed
        return feed

    def _follow(
        self, feed: "Feed", store: "StateStore", beats: "Watchers", reader: "Reader", started: float
    ) -> WatchReport | None:
        """Until the next REST read: judge every tick; an order update asks for the read at once. The read comes
        every watch.reconcile while the stream is live, every interval while it is not."""
        from mci.watch.feed import STALE_AFTER

        interval = self.interval.total_seconds()
        duty_at = started + interval
        while not self._stop.is_set():
            live, why = feed.check()
            if live != feed.live or (
                feed.said is None and not live and self.clock.monotonic() - feed.opened > STALE_AFTER
            ):
                self._feed_changed(feed, live, why)
            period = self.reconcile.total_seconds() if feed.live else interval
            now = self.clock.monotonic()
            if now >= started + period:
                return None
            if now >= duty_at:
                duty_at = now + interval
                report = self._duties(store, beats, reader)
                if report is not None:
                    return report
                self._beat_status(self._status)
            moved, orders, states = feed.take(feed.stream.get(min(started + period, duty_at) - now))
            for state in states:
                if not state.up and feed.live:
                    self._feed_changed(feed, False, state.reason)
            if orders:
                return None  # the book moved: positions and orders are read now, not at the next reconciliation
            if moved and feed.live:
                marked = feed.account(reader, self.peak, self.clock.now())
                if marked is not None:
                    report = self._poll(reader, beats, marked)
                    if report is not None:
                        return report
        return None

    def _feed_changed(self, feed: "Feed", live: bool, why: str) -> None:
        feed.live = feed.said = live
        if live:
            self._feed_text = "stream"
            self._emit(
                "stream_up",
                f"on the {feed.stream.name}: every tick is judged, the account is re-read every "
                f"{format_duration(self.reconcile)}",
            )
        else:
            self._feed_text = f"polling (stream down: {why})"
            self._emit(
                "stream_down",
                f"the {feed.stream.name} is down ({why}): polling every "
                f"{format_duration(self.interval)} until it is back",
                "warn",
                reason=why,
            )
        self._summary["feed"] = self._feed_text
        self._beat_status(self._status)

    def _report(self, status: str, code: ExitCode, note: str, outcome: "ShutdownOutcome | None" = None) -> WatchReport:
        return WatchReport(
            status,
            code,
            note,
            self.polls,
            self.failed,
            dict(self._summary),
            outcome.as_dict() if outcome is not None else None,
            self.ticks,
        )

    # ------------------------------------------------------------------ a poll

    def _poll(self, reader: "Reader", beats: "Watchers", marked: "Account | None" = None) -> WatchReport | None:
        """Judge a REST read of the account, or (`marked`) the last read marked at the stream's ticks."""
        from mci.risk import breaches

        before = self.peak
        if marked is None:
            try:
                account, usages = self._judge(reader)
            except MciError as exc:
                self._failed_read(exc)
                return None
            self.polls += 1
            self._seen_again()
        else:
            account, usages = self._assess(marked, marked=True)
            self.ticks += 1
        if self.peak is not None and self.peak != before:
            peak, day = self.peak, self._day()
            self._db("intraday peak", lambda: beats.set_peak(day, peak))
        if marked is None:  # a tick is judged silently unless it changes something (a warning, a breach)
            self._emit("poll", poll_line(account, usages), summary=self._summary)
        if breaches(usages):
            return self._breach(reader, usages)
        self._soft(usages)
        self._reduce(usages)
        return None

    def _failed_read(self, exc: MciError) -> None:
        self.failed += 1
        self._streak += 1
        if not self._failing:
            self._failing = True
            self._emit("poll_failed", f"cannot read the account: {exc.what}", "warn", error=exc.as_dict())
        blind_for = self.clock.monotonic() - self._last_good
        if not self._blind_said and blind_for >= self.profile.watch.blind_warning.total_seconds():
            self._blind_said = True
            text = (
                f"BLIND: no good read of the account for {format_duration(timedelta(seconds=blind_for))} "
                f"({self.failed} failed poll(s)); limits are not being enforced; last error: {exc.what}"
            )
            self._audit("watch", {"event": "blind", "seconds": round(blind_for, 3), "error": exc.as_dict()})
            self._emit("blind", text, "warn", error=exc.as_dict())

    def _seen_again(self) -> None:
        if self._failing:
            if self._blind_said:
                self._audit("watch", {"event": "seen_again", "failed_polls": self._streak})
            self._emit("seen", f"the account can be read again after {self._streak} failed poll(s)")
        self._failing = self._blind_said = False
        self._streak = 0
        self._last_good = self.clock.monotonic()

    def _soft(self, usages: "list[Usage]") -> None:
        for u in usages:
            if u.level == "warn" and u.rule not in self._warned:
                self._warned.add(u.rule)
                self._audit("risk_warning", u.as_dict())
                self._emit(
                    "risk_warning",
                    f"WARNING {u.rule}: {u.text} ({int(u.used * 100)}% of the limit)",
                    "warn",
                    usage=u.as_dict(),
                )
            elif u.level == "ok" and u.rule in self._warned:
                self._warned.discard(u.rule)
                self._emit("risk_clear", f"{u.rule} back under the warning threshold: {u.text}", usage=u.as_dict())

    def _reduce(self, usages: "list[Usage]") -> None:
        """At `watch.reduce_at` of a day's loss limit: pause the engine, running → reducing (mci.engine.reducing).
        Only from running: an operator's `mci resume` is undone at the next poll while the loss stays that high."""
        from mci.engine.reducing import pause, soft_hits

        hits = soft_hits(self.profile, usages)
        store = self._store
        if not hits or store is None or store.lifecycle(self.profile.name).state != "running":
            if not hits:
                self._reduce_said = None
            return
        share = f"{int((self.profile.watch.reduce_at or 0) * 100)}%"
        text = "; ".join(f"{u.rule}: {u.text}" for u in hits)
        try:
            pause(self.profile, self.clock, self.state_dir, reason=f"watch.reduce_at {share}: {text}", by="mci watch")
        except LockedError:
            return  # another command holds the profile: tried again at the next poll
        except MciError as exc:
            if self._reduce_said != exc.what:  # once per cause, not once per poll
                self._reduce_said = exc.what
                self._emit(
                    "reduce_failed",
                    f"cannot move to reduce-only at watch.reduce_at {share} ({text}): {exc.what}; HOW: {exc.how}",
                    "error",
                    error=exc.as_dict(),
                )
            return
        self._reduce_said = None
        self._emit(
            "reducing",
            f"REDUCING {text} (at or over watch.reduce_at {share}): engine paused, exits only; "
            "the hard limit still runs the emergency",
            "warn",
            usages=[u.as_dict() for u in hits],
        )

    def _db(self, what: str, write: Callable[[], Any]) -> None:
        """A state-DB write that must never stop the guard (a busy or full disk): said once, then polling goes on."""
        try:
            write()
        except (MciError, SQLiteError) as exc:
            if what not in self._db_said:
                self._db_said.add(what)
                why = exc.what if isinstance(exc, MciError) else f"SQLite says: {exc}"
                self._emit("db_failed", f"cannot write the {what} to the state database ({why}); watching on", "warn")

    def _audit(self, kind: str, data: Mapping[str, Any]) -> None:
        store = self._store
        if store is not None:
            self._db(
                "audit record",
                lambda: store.append_audit(kind, dict(data), self.clock.now(), profile=self.profile.name),
            )

    # ------------------------------------------------------------------ acting

    def _breach(self, reader: "Reader", first: "list[Usage]") -> WatchReport | None:
        from mci.engine.shutdown import emergency
        from mci.risk import breaches

        # Confirm with an immediate second read: one inconsistent snapshot must not flatten the book. A failed
        # confirmation does not cancel it: a real breach during a broker blip must still trip.
        try:
            _, usages = self._judge(reader)
        except MciError:
            usages = first
        hit = breaches(usages)
        if not hit:
            self._audit("risk_breach_unconfirmed", {"first": [u.as_dict() for u in breaches(first)]})
            self._emit(
                "unconfirmed",
                "a breach was read once and not confirmed by an immediate re-read: "
                + "; ".join(u.text for u in breaches(first)),
                "warn",
            )
            self._soft(usages)
            return None
        text = "BREACH " + "; ".join(f"{u.rule}: {u.text}" for u in hit)
        self._audit(
            "risk_breach",
            {"breaches": [u.as_dict() for u in hit], "usages": [u.as_dict() for u in usages], "summary": self._summary},
        )
        self._emit(
            "risk_breach", f"{text} — running the emergency sequence", "error", breaches=[u.as_dict() for u in hit]
        )
        self._beat_status("tripped")
        try:
            outcome = emergency(self.profile, self.clock, self.state_dir, on_step=self._step, command="watch")
        except LockedError as exc:
            # Held by a command the emergency may not preempt (another emergency, a reset): poll again.
            self._emit("lock_busy", f"the emergency could not take the profile lock: {exc.what}; retrying", "error")
            self._beat_status("running")
            return None
        except MciError as exc:
            self._emit(
                "emergency_failed", f"the emergency sequence failed to run: {exc.what}", "error", error=exc.as_dict()
            )
            return self._report(
                "tripped",
                ExitCode.INCOMPLETE,
                f"{text}; the emergency failed to run ({exc.what}): check the account at the broker now",
            )
        code = {True: ExitCode.FAILED, False: ExitCode.INCOMPLETE, None: ExitCode.UNVERIFIED}[outcome.flat]
        return self._report("tripped", code, f"{text}; emergency: {outcome.note}", outcome)

    def _beat_status(self, status: str) -> None:
        self._status = status
        beats = self._beats
        if beats is not None:
            self._db("heartbeat", lambda: beats.beat(self._beat_clock.now(), self._summary or None, status=status))

    def _step(self, step: "StepResult") -> None:
        """Each finished step of an emergency or end-of-day run: a beat (it is busy, not dead), then the caller's hook."""
        self._beat_status(self._status)
        if self._on_step is not None:
            self._on_step(step)

    # ------------------------------------------------------------------ the clock's duties

    def square_off_today(self) -> datetime | None:
        """Today's end-of-day square-off (aware), or None without `watch.square_off`; computed once per day from the
        calendar read at the first call (a calendar rewritten while watching is read by the next `mci watch`)."""
        if self.profile.watch.square_off is None:
            return None
        day = self._day()
        if self._square_off_at is None or self._square_off_at[0] != day:
            from mci.market.calendar import calendar_for
            from mci.market.cutoffs import watch_square_off_on

            if self._calendar is None:
                self._calendar = calendar_for(self.profile, self.state_dir)
            self._square_off_at = (day, watch_square_off_on(self.profile, self._calendar, day))
        return self._square_off_at[1]

    def _clock_text(self, at: datetime) -> str:
        """'14:30 IST (Muhurat trading (Diwali Laxmi Pujan): the session closes 14:45)' on a day of other hours."""
        local = at.astimezone(zone(self.profile.market.timezone))
        text = f"{local:%H:%M} {local.tzname()}"
        regular = self.profile.watch.square_off
        if regular is not None and local.time().replace(tzinfo=None) != regular and self._calendar is not None:
            d = local.date()
            special = self._calendar.special_session(d)
            close = self._calendar.session_bounds(d)[2].astimezone(local.tzinfo)
            text += (
                f" ({special.name + ': ' if special else ''}the session closes {close:%H:%M}; "
                f"watch.square_off {regular:%H:%M} is for a regular day)"
            )
        return text

    def _square_off_due(self, beats: "Watchers") -> bool:
        at = self.square_off_today()
        if at is None:
            return False
        now = self.clock.now()
        return now >= at and not beats.squared_off(self._day())

    def _square_off(self, beats: "Watchers", reader: "Reader") -> WatchReport | None:
        from mci.engine.shutdown import shutdown

        at = cast(datetime, self.square_off_today())  # not None: called only when _square_off_due
        self._emit(
            "square_off",
            f"square-off time {self._clock_text(at)}: running the end-of-day sequence",
            "warn",
            square_off=at.isoformat(),
        )
        self._audit(
            "watch", {"event": "square_off", "at": f"{at.astimezone(zone(self.profile.market.timezone)):%H:%M}"}
        )
        self._beat_status("squared_off")
        outcome: "ShutdownOutcome | None" = None
        refused: MciError | None = None
        try:
            outcome = shutdown(self.profile, self.clock, self.state_dir, mode="end_of_day", on_step=self._step)
        except (LockedError, UnavailableError) as exc:
            self._emit("lock_busy", f"the end-of-day sequence could not run yet: {exc.what}; retrying", "error")
            self._beat_status("running")
            return None
        except MciError as exc:
            refused = exc  # e.g. the lifecycle is idle: nothing was ignited today
        day = self._day()
        self._db("square-off mark", lambda: beats.mark_squared_off(day))
        # The verdict comes from the broker: an intraday position left open is the broker's auto square-off.
        try:
            left = [h for h in reader.account(self.peak, self.clock.now()).open_positions if h.product == "MIS"]
        except MciError as exc:
            return self._report(
                "squared_off",
                ExitCode.INCOMPLETE,
                f"end-of-day ran but the account could not be re-read ({exc.what}): check it",
                outcome,
            )
        if left:
            listing = ", ".join(f"{h.instrument} {h.quantity:+d}" for h in left)
            why = refused.what if refused else outcome.note if outcome else ""
            return self._report(
                "squared_off",
                ExitCode.INCOMPLETE,
                f"MIS positions remain after the square-off: {listing} ({why})",
                outcome,
            )
        if refused is not None or outcome is None:
            return self._report(
                "squared_off",
                ExitCode.OK,
                "no MIS position is open; the end-of-day sequence "
                f"did not run: {refused.what if refused else 'nothing to do'}",
            )
        return self._report("squared_off", outcome.exit_code, f"end of day: {outcome.note}", outcome)

    def _token(self, reader: "Reader") -> None:
        if self._token_said:
            return
        if not self._session_read:
            try:
                session = reader.session()
            except MciError:
                return  # asked again next poll; a failed account read says the rest
            if not session.valid and session.expires_at is None:
                return  # no token yet: asked again once one is stored
            self._session_read = True
            self._expires_at = session.expires_at
        if self._expires_at is None:
            return
        left = self._expires_at - self.clock.now()
        if left <= self.profile.watch.token_warning:
            self._token_said = True
            when = self._expires_at.astimezone(zone(self.profile.market.timezone))
            # Whole minutes, rounded up: "19m59s" reads as noise in a warning.
            minutes = timedelta(minutes=-(-left.total_seconds() // 60))
            text = (
                f"the broker token expired at {when:%Y-%m-%d %H:%M %Z}"
                if left.total_seconds() <= 0
                else f"the broker token expires in {format_duration(minutes)} (at {when:%H:%M %Z})"
            )
            self._audit("watch", {"event": "token_expiring", "expires_at": self._expires_at.isoformat()})
            self._emit(
                "token_expiring",
                f"{text}: the watcher goes blind then; run `mci token login`",
                "warn",
                expires_at=self._expires_at.isoformat(),
            )
