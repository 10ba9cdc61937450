"""`mci watch`: render the watcher's events and report, and turn SIGTERM / SIGINT into a clean stop."""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from mci.clock import Clock
from mci.output.console import color_enabled, emit, emit_json

if TYPE_CHECKING:
    from mci.watch import WatchEvent, Watcher

PULSE = timedelta(minutes=1)  # an unchanged poll is printed at most this often: proof of life in a log


def _line(payload: dict[str, Any]) -> str:
    """One compact JSON object per line (JSON Lines), money as exact text."""
    return json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))


def _interval(text: str | None) -> timedelta | None:
    if text is None:
        return None
    from mci.units import parse_duration
    from mci.errors import UsageError

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--interval {text!r} is not a duration", str(exc), "pass it like 1s or 500ms") from None


def run(
    profile_path: Path | None,
    clock: Clock,
    state_dir: Path,
    output: str,
    *,
    interval: str | None,
    once: bool,
    metrics_file: Path | None = None,
    poll: bool = False,
) -> int:
    import time

    from mci.config import load_profile
    from mci.watch import Watcher

    started = time.monotonic()
    every = _interval(interval)
    profile = load_profile(profile_path, cache_dir=state_dir / "cache")
    observer = _Observer(profile, clock, state_dir, started, metrics_file)
    if once:
        code, summary = _once(Watcher(profile, clock, state_dir, interval=every, notify=observer.notify), output)
        observer.metrics(code, summary)
        return code
    printer = _Printer(output)

    def on_event(e: "WatchEvent") -> None:
        printer.event(e)
        if e.kind == "poll" and metrics_file is not None:
            observer.metrics(0, e.data.get("summary"))  # rewritten at every poll

    watcher = Watcher(
        profile,
        clock,
        state_dir,
        interval=every,
        on_event=on_event,
        on_step=printer.step,
        notify=observer.notify,
        stream=False if poll else None,
    )
    with _stop_on_signals(watcher):
        try:
            report = watcher.run()
        except BaseException as exc:
            from mci.observability.notify import fire

            fire(
                profile,
                "watcher_died",
                f"mci watch of {profile.name} died: {type(exc).__name__}: {exc}",
                {"error": type(exc).__name__},
                clock.now(),
            )
            raise
    if int(report.exit_code) == 6 and not observer.incomplete_said:
        from mci.observability.notify import fire

        fire(
            profile, "shutdown_incomplete", f"mci watch of {profile.name}: {report.note}", report.as_dict(), clock.now()
        )
    observer.metrics(int(report.exit_code), report.summary or None)
    if output == "json":
        emit(_line({"event": "report", **report.as_dict()}))
    else:
        emit(
            f"{'WATCH ENDED' if report.exit_code == 0 else 'WATCH ENDED (' + report.status.upper() + ')'} — "
            f"{report.note} ({report.polls} poll(s), {report.failed_polls} failed"
            + (f", {report.ticks} tick(s) judged)" if report.ticks else ")")
        )
    return int(report.exit_code)


class _Observer:
    """The watcher's notify hook (profile notifications) and the metrics file; neither can stop the guard."""

    EVENTS = {
        "risk_breach": "kill_switch",
        "token_expiring": "token_expiring",
        "emergency_failed": "shutdown_incomplete",
    }

    def __init__(self, profile: Any, clock: Clock, state_dir: Path, started: float, metrics_file: Path | None):
        self.profile, self.clock, self.state_dir, self.started = profile, clock, state_dir, started
        self.metrics_file = metrics_file
        self.incomplete_said = False

    def notify(self, kind: str, data: Any) -> None:
        from mci.observability.notify import fire
        from mci.watch.events import log_notify

        log_notify(kind, data)
        event = self.EVENTS.get(kind)
        if event is not None:
            self.incomplete_said |= event == "shutdown_incomplete"
            fire(self.profile, event, f"mci watch: {data.get('text', kind)}", dict(data), self.clock.now())

    def metrics(self, code: int, summary: Any) -> None:
        if self.metrics_file is None:
            return
        from mci.engine.run_metrics import write_run

        write_run(
            self.metrics_file,
            "watch",
            self.profile,
            self.state_dir,
            self.clock.now(),
            started=self.started,
            exit_code=code,
            summary=summary,
        )


def _once(watcher: "Watcher", output: str) -> "tuple[int, dict[str, Any]]":
    from mci.watch.events import worst

    account, usages, summary = watcher.check_once()
    level = worst(usages)
    code = 1 if level == "breach" else 0
    if output == "json":
        emit_json({"profile": watcher.profile.name, **summary, "exit_code": code})
        return code, summary
    from mci.units import format_money

    emit(
        f"profile {watcher.profile.name}: {level.upper()} — day P&L {format_money(account.day_pnl)}, "
        f"equity {format_money(account.equity)}, {len(account.open_positions)} open position(s)"
    )
    for u in usages:
        emit(f"  {u.level:<6} {u.rule:<15} {int(u.used * 100):>4}%  {u.text}")
    if code:
        emit("a hard limit is breached; --once acts on nothing: `mci kill` flattens now, `mci watch` would have")
    return code, summary


class _Printer:
    """Every event; a poll only when its verdict changed, or once a minute."""

    def __init__(self, output: str):
        self.json = output == "json"
        self.color = color_enabled()
        self._last_key: Any = None
        self._last_at: datetime | None = None

    def event(self, e: "WatchEvent") -> None:
        if e.kind == "stop":
            return  # the report that follows says it, with the counts
        if e.kind == "poll":
            summary = e.data.get("summary") or {}
            key = (summary.get("open_positions"), tuple((u["rule"], u["level"]) for u in summary.get("usages", ())))
            if key == self._last_key and self._last_at is not None and e.at - self._last_at < PULSE:
                return
            self._last_key, self._last_at = key, e.at
        if self.json:
            emit(_line(e.as_dict()))
            return
        stamp = f"{e.at:%H:%M:%S}"
        text = e.text
        if e.level in ("warn", "error") and self.color:
            text = f"\033[{33 if e.level == 'warn' else 31}m{text}\033[0m"
        emit(f"{stamp} {text}")

    def step(self, step: Any) -> None:
        if self.json:
            emit(_line({"event": "step", **step.as_dict()}))
            return
        from mci.output.steps_text import step_line

        emit("         " + step_line(step, color=self.color))


@contextmanager
def _stop_on_signals(watcher: "Watcher") -> Iterator[None]:
    """SIGTERM and SIGINT ask for a stop after the current poll; an emergency under way is never cut short."""

    def handler(signum: int, frame: Any) -> None:
        watcher.request_stop()

    previous: dict[int, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
