"""`mci drill`: rehearse the whole day in a sandbox, print each phase as it ends, record the verdict.

Exit: 0 every phase met its expectation and the account ended flat (and the
record was written); 1 a phase failed; 2 usage or a profile the drill must not
rehearse; 3 something it could not start (a port, the simulator, the state
directory the record goes to); 130 interrupted (everything it started is stopped).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from mci import __version__
from mci.errors import ExitCode
from mci.output.console import color_enabled, emit, emit_json

INTERRUPTED = 130


def run(
    profile_path: Path | None, state_dir: Path, output: str, *, faults: str | None, at: str | None, keep: bool
) -> int:
    from mci.drill import DrillOptions, run_drill
    from mci.drill.record import record
    from mci.errors import UnavailableError

    printer = _Printer(output == "text")
    with _sigterm_interrupts():
        report = run_drill(DrillOptions(profile_path, faults, at, keep), on_start=printer.start, on_phase=printer.phase)
    unrecorded = None
    try:
        report.recorded = record(report, state_dir)
    except UnavailableError as exc:
        report.recorded = {"error": exc.as_dict()}
        unrecorded = exc
    code = INTERRUPTED if report.interrupted else ExitCode.OK if report.passed else ExitCode.FAILED
    if report.passed and unrecorded is not None:
        code = ExitCode.UNAVAILABLE  # a drill the gate cannot see has not happened, as far as the gate knows
    if output == "json":
        emit_json({**report.as_dict(__version__), "exit_code": int(code)})
    else:
        printer.verdict(report, unrecorded)
    return int(code)


class _Printer:
    def __init__(self, text: bool):
        self.text = text
        self.color = text and color_enabled()

    def start(self, report: Any) -> None:
        if not self.text:
            return
        faults = f"faults {report.faults}" if report.faults else "no faults"
        emit(
            f"mci drill: profile {report.profile} ({report.broker} broker), rehearsal clock "
            f"{report.rehearsal_at:%Y-%m-%d %H:%M %Z}, {faults}"
        )
        if report.sandbox:
            emit(f"  sandbox (kept): {report.sandbox}")

    def phase(self, result: Any) -> None:
        if not self.text:
            return
        mark = "-" if result.skipped else "✓" if result.ok else "✗"
        if self.color and not result.skipped:
            mark = f"\033[{32 if result.ok else 31}m{mark}\033[0m"
        emit(f"  {mark} {result.name:<11} {result.seconds:6.2f}s  {result.detail}")

    def verdict(self, report: Any, unrecorded: Any) -> None:
        failed = report.first_failure
        if report.interrupted:
            head = "DRILL INTERRUPTED: everything it started was stopped"
        elif report.passed:
            head = "DRILL PASSED: every phase met its expectation; the account ended flat"
        else:
            head = f"DRILL FAILED at phase {failed.name if failed else '?'}: {failed.detail if failed else 'see above'}"
        emit(f"{head} ({report.seconds:.1f}s)")
        if report.sandbox:
            emit(f"sandbox kept for inspection: {report.sandbox} (engine log in engines/, state in state.db)")
        if unrecorded is not None:
            emit(f"NOT RECORDED: {unrecorded.render()}")
        elif report.recorded:
            emit(
                f"recorded: audit #{report.recorded['seq']} (kind drill) in {report.recorded['state_dir']}"
                f" — the `drill` gate reads it"
            )


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) stops the drill like Ctrl-C: everything it started is stopped first."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
