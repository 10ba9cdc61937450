"""`mci watch`: render the watcher's events and report, and turn SIGTERM / SIGINT into a clean stop."""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from datetime import timedelta
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
    from mci.config.units import parse_duration
    from mci.errors import UsageError

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--interval {text!r} is not a duration", str(exc), "pass it like 1s or 500ms") from None


def run(profile_path: Path | None, clock: Clock, state_dir: Path, output: str, *, interval: str | None,
        once: bool) -> int:
    from mci.config import load_profile
    from mci.watch import Watcher

    every = _interval(interval)
    profile = load_profile(profile_path, cache_dir=state_dir / "cache")
    if once:
        return _once(Watcher(profile, clock, state_dir, interval=every), output)
    printer = _Printer(output)
    watcher = Watcher(profile, clock, state_dir, interval=every, on_event=printer.event, on_step=printer.step)
    with _stop_on_signals(watcher):
        report = watcher.run()
    if output == "json":
        emit(_line({"event": "report", **report.as_dict()}))
    else:
        emit(f"{'WATCH ENDED' if report.exit_code == 0 else 'WATCH ENDED (' + report.status.upper() + ')'} — "
             f"{report.note} ({report.polls} poll(s), {report.failed_polls} failed)")
    return int(report.exit_code)


def _once(watcher: "Watcher", output: str) -> int:
    from mci.watch.events import worst

    account, usages, summary = watcher.check_once()
    level = worst(usages)
    code = 1 if level == "breach" else 0
    if output == "json":
        emit_json({"profile": watcher.profile.name, **summary, "exit_code": code})
        return code
    from mci.config.units import format_money

    emit(f"profile {watcher.profile.name}: {level.upper()} — day P&L {format_money(account.day_pnl)}, "
         f"equity {format_money(account.equity)}, {len(account.open_positions)} open position(s)")
    for u in usages:
        emit(f"  {u.level:<6} {u.rule:<15} {int(u.used * 100):>4}%  {u.text}")
    if code:
        emit("a hard limit is breached; --once acts on nothing: `mci kill` flattens now, `mci watch` would have")
    return code


class _Printer:
    """Every event; a poll only when its verdict changed, or once a minute."""

    def __init__(self, output: str):
        self.json = output == "json"
        self.color = color_enabled()
        self._last_key: Any = None
        self._last_at = None

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
        for sig, old in previous.items():
            signal.signal(sig, old)
