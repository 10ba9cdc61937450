"""Scan results for people: a checklist, the WHAT / WHY / HOW of what went wrong, one verdict line.

Plain ANSI colour keeps rich off the start-up path; rich is imported only by
LiveChecklist, which a TTY gets while the scan runs.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from mci.results import Status

if TYPE_CHECKING:
    from mci.config.model import Checklist
    from mci.results import CheckResult, ScanResult

MARKS = {
    Status.PASSED: "✔",
    Status.WARNED: "!",
    Status.FAILED: "✖",
    Status.SKIPPED: "–",
    Status.PENDING: "·",
    Status.RUNNING: "…",
}
_ANSI = {
    Status.PASSED: "\033[32m",
    Status.WARNED: "\033[33m",
    Status.FAILED: "\033[31m",
    Status.SKIPPED: "\033[2m",
    Status.PENDING: "\033[2m",
    Status.RUNNING: "\033[36m",
}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
_RICH_STYLE = {
    Status.PASSED: "green",
    Status.WARNED: "yellow",
    Status.FAILED: "red",
    Status.SKIPPED: "dim",
    Status.PENDING: "dim",
    Status.RUNNING: "cyan",
}


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _shows_details(result: "CheckResult") -> bool:
    # A skipped critical check fails the run, so it owes the operator an explanation too.
    return result.error is not None and (result.status in (Status.FAILED, Status.WARNED) or result.blocking)


def verdict(result: "ScanResult") -> str:
    counts = result.counts()
    parts = [f"{counts['passed']} passed", f"{counts['warned']} warned", f"{counts['failed']} failed"]
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} skipped")
    word = {Status.PASSED: "SCAN PASSED", Status.WARNED: "SCAN PASSED WITH WARNINGS"}.get(result.status, "SCAN FAILED")
    return f"{len(result.results)} checks: {', '.join(parts)} — {word}"


def render_scan(result: "ScanResult", *, color: bool) -> str:
    from mci.clock import zone
    from mci.units import format_duration

    started = result.started_at.astimezone(zone(result.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [_paint(f"scan {result.checklist} · profile {result.profile} · {started}", _BOLD, color), ""]
    width = max((len(r.title) for r in result.results), default=0)
    for r in result.results:
        mark = _paint(MARKS[r.status], _ANSI[r.status], color)
        retries = f" (after {r.attempts} attempts)" if r.attempts > 1 else ""
        lines.append(f"  {mark} {r.title.ljust(width)}  {r.summary}{retries}".rstrip())

    detailed = [r for r in result.results if _shows_details(r)]
    for r in detailed:
        assert r.error is not None
        lines += ["", _paint(f"{MARKS[r.status]} {r.title} [{r.id}] {r.status.value}", _ANSI[r.status], color)]
        lines += [f"  WHAT: {r.error.what}", f"  WHY:  {r.error.why}", f"  HOW:  {r.error.how}"]

    took = format_duration(result.duration)
    tone = result.status if result.status in (Status.PASSED, Status.WARNED) else Status.FAILED
    lines += ["", _paint(verdict(result), _BOLD + _ANSI[tone], color) + _paint(f" ({took})", _DIM, color)]
    return "\n".join(lines)


class LiveChecklist:
    """A checklist that redraws as checks change state, with a spinner per running check (TTYs only).

    Feed it `update` as the runner's on_update (called from worker threads). Transient: the
    final `render_scan` replaces it, so the terminal keeps one copy of the result.
    """

    def __init__(self, checklist: "Checklist", *, console: Any = None):
        self._order = [(c.id, c.title or c.id) for c in checklist.checks]
        self._state: dict[str, "CheckResult"] = {}
        self._lock = threading.Lock()
        self._console = console
        self._live: Any = None
        self._spinners: dict[str, Any] = {}

    def update(self, result: "CheckResult") -> None:
        with self._lock:
            self._state[result.id] = result

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        with self._lock:
            rows = [(cid, title, self._state.get(cid)) for cid, title in self._order]
        for cid, title, result in rows:
            status = result.status if result else Status.PENDING
            style = _RICH_STYLE[status]
            label = Text(title, style="bold" if status is Status.RUNNING else "")
            summary = Text(result.summary if result and status.done else "", style=style if status.done else "")
            if status is Status.RUNNING:
                spinner = self._spinners.setdefault(cid, Spinner("dots", style=style))
                attempt = f"attempt {result.attempts}" if result and result.attempts > 1 else ""
                table.add_row(spinner, label, Text(attempt, style="dim"))
            else:
                table.add_row(Text(MARKS[status], style=style), label, summary)
        return table

    def __enter__(self) -> "LiveChecklist":
        from rich.live import Live

        self._live = Live(get_renderable=self.__rich__, console=self._console, refresh_per_second=12, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None
