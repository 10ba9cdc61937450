"""`mci scan` without typer or click, when its argv is plain: what the operator and cron run most.

Importing typer and click and building the command costs ~22 ms of a paper `mci scan` (~160 ms, issue 19).
When argv is exactly `scan` followed by distinct `--profile/-p P`, `--at T`, `--output/-o text|json|junit`,
`--metrics-file PATH` (each a separate word, no value starting with '-', no '=' form), no shell completion
is asked for and every path click would refuse (an existing unreadable one) is absent, the result of typer's
parsing is known in advance: this module computes it and runs the same code in the same order, with the same
exit codes and output. Anything else (help, top-level options, a typo, an unusual value) returns None and
goes through typer as before, which then prints its own usage errors. tests/cli/test_fast_scan.py runs
both paths side by side.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

_OPTIONS = {
    "--profile": "profile",
    "-p": "profile",
    "--at": "at",
    "--output": "output",
    "-o": "output",
    "--metrics-file": "metrics_file",
}
# What typer reads when an option is absent (the envvar= of PROFILE_OPT, AT_OPT, METRICS_OPT in commands/common.py).
_ENV = {"profile": "MCI_PROFILE", "at": "MCI_AT", "metrics_file": "MCI_METRICS_FILE"}
_PATHS = ("profile", "metrics_file")
_SCAN_OUTPUTS = ("text", "json", "junit")


def scan_argv(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[dict[str, str]]:
    """The scan's option values when argv is plain enough for typer's result to be certain, else None."""
    if not argv or argv[0] != "scan" or "_MCI_COMPLETE" in environ:
        return None
    values: dict[str, str] = {}
    rest = list(argv[1:])
    if len(rest) % 2:
        return None
    for flag, value in zip(rest[0::2], rest[1::2]):
        name = _OPTIONS.get(flag)
        if name is None or name in values or not value or value.startswith("-"):
            return None
        values[name] = value
    for name, var in _ENV.items():
        if name not in values and var in environ:
            if not environ[var]:
                return None  # click's handling of an empty variable is its own: let it decide
            values[name] = environ[var]
    if values.get("output", "text") not in _SCAN_OUTPUTS:
        return None
    for name in _PATHS:
        if name in values and _refused_by_click(values[name]):
            return None
    return values


def _refused_by_click(path: str) -> bool:
    """click.Path(readable=True) refuses an existing path it cannot read (a usage error typer prints)."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return not os.access(path, os.R_OK)


def run_scan(values: Mapping[str, str]) -> int:
    """What `mci scan` through typer does with these values, from the main callback to the exit code."""
    output = "text"  # errors before the scan's body render as text, as app.run's Invocation does
    try:
        try:
            from mci.commands.metrics_opt import metrics_path
            from mci.observability.logs import set_verbosity

            set_verbosity(0, False)  # the main callback, before the subcommand's options (click's order)
            metrics_file = metrics_path(Path(values["metrics_file"]) if "metrics_file" in values else None)
            output = values.get("output", "text")
            from mci.clock import clock_from
            from mci.commands import scan as command
            from mci.paths import state_dir
            from mci.store import state

            state.command_words = "mci scan"  # what click's context would name it in the audit trail

            profile = Path(values["profile"]) if "profile" in values else None
            return command.run(
                profile, clock_from(values.get("at"), env={}), state_dir(), output, metrics_file=metrics_file
            )
        except EOFError:
            sys.stderr.write("\nAborted!\n")  # typer's _main: an echo, then click.Abort's message
            sys.stderr.flush()
            return 1
        except KeyboardInterrupt:
            return 130
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            from click.utils import PacifyFlushWrapper

            sys.stdout = PacifyFlushWrapper(sys.stdout)
            sys.stderr = PacifyFlushWrapper(sys.stderr)
            return 1
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except Exception as exc:  # noqa: BLE001 — as app.run: the one place an exception becomes an exit code
        return failure_code(exc, output)


def failure_code(exc: Exception, output: str) -> int:
    """An MciError rendered in the command's output format with its exit code; anything else is a bug (exit 70)."""
    from mci.errors import MciError

    if not isinstance(exc, MciError):
        return internal_error(exc, output)
    from mci.output.console import render_error

    render_error(exc, output)
    return int(exc.code)


def internal_error(exc: BaseException, output: str) -> int:
    import traceback

    from mci import __version__
    from mci.errors import ExitCode, MciError
    from mci.output.console import render_error
    from mci.paths import state_dir

    log_hint = "the traceback is not shown"
    try:
        log_dir = state_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        crash = log_dir / "crash.log"
        with crash.open("a", encoding="utf-8") as fh:
            fh.write(f"--- mci {__version__} {sys.argv[1:2]}\n")
            fh.write("".join(traceback.format_exception(exc)))
        log_hint = f"the traceback is in {crash}"
    except Exception:
        pass
    render_error(
        MciError(
            f"mci stopped on an internal error ({type(exc).__name__})",
            f"this is a bug in mci, not in your configuration; {log_hint}",
            "report it with that log; the state database was left as the last completed step wrote it",
            ExitCode.INTERNAL,
        ),
        output,
    )
    return int(ExitCode.INTERNAL)
