"""The `mci` command: parse, call the core, render, exit. No business logic lives here.

Every failure a user or a broker can cause leaves as WHAT / WHY / HOW with a
stable exit code (mci.errors.ExitCode); only a bug in mci produces exit 70, with
the traceback written to a log file in the state directory, not the terminal.
"""

from __future__ import annotations

import sys
from typing import Optional

# First: mci.typer_lazy imports typer with what typer needs only to launch programs deferred.
from mci.typer_lazy import LazyGroup, lazy_command  # isort: skip

import typer

from mci import __version__
from mci.commands import (
    audit_cli,
    calendar_cli,
    clock_cli,
    day_cli,
    drill_cli,
    gate_cli,
    onboarding_cli,
    policy_cli,
    risk_cli,
    scan_cli,
    sim_cli,
    status_cli,
    token_cli,
    validate_cli,
    watch_cli,
)
from mci.commands.common import Invocation

HELP = """\
Mission Control Interface: the operator's safety console for Zerodha Kite.

\b
The day (IST; cron runs the same commands):
  first time   mci init [--kite] my.yaml; mci doctor -p my.yaml; mci validate my.yaml
  08:30        mci token login           Kite only: the access token dies at 06:00 IST
  09:00        mci scan                  the 12-point checklist; a pass arms the day, a failure blocks it
  09:15        mci ignite                start the engine (armed by a fresh passed scan only)
  all day      mci watch                 the risk guard: warns, and flattens + halts on a breach
               mci status --watch        six panels: lifecycle, engine, positions, orders, risk bars, P&L
               mci risk check ORDER      an order against every limit, before it is placed
  15:15        mci shutdown --end-of-day graceful steps + square off MIS
  any time     mci kill [--product MIS]  emergency: flatten all (or a scope; --all: the desk), latch (mci reset)
  rehearse     mci sim kite · mci drill  the Kite simulator; the whole day in a sandbox; mci clock set T
  config / CI  mci validate · mci policy diff · mci gate run · mci audit verify · mci breaker · mci graph
  December     mci calendar update       next year's NSE holidays (doctor and scan warn 30 days ahead)
\b
Lifecycle: idle → ready → armed (scan passed) → running → stopping → stopped; a failed scan blocks;
           mci pause / resume: running ⇄ reducing (exits only); a kill switch latches 'halted'.
\b
Exit codes: 0 passed · 1 checks failed · 2 usage/config invalid · 3 infrastructure unavailable
            · 4 refused by lifecycle · 5 locked · 6 shutdown incomplete · 7 kill switch could not verify the account
\b
Environment: MCI_HOME (state dir), MCI_PROFILE (profile path), MCI_AT (this process's clock), NO_COLOR.
"""

app = typer.Typer(
    cls=LazyGroup,  # run() builds a subcommand only when it is used (mci.typer_lazy)
    help=HELP,
    rich_markup_mode=None,  # rich loads only when a command draws live progress
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mci {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="Log more to stderr: -v info, -vv debug."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only errors to stderr."),
) -> None:
    """Mission Control Interface."""
    from mci.observability.logs import set_verbosity  # loguru itself loads only when something logs

    set_verbosity(verbose, quiet)


# Every command is registered one way: its commands/*_cli module's register(app), in the order `mci --help` lists them.
for _module in (
    scan_cli,
    validate_cli,
    status_cli,
    token_cli,
    sim_cli,
    day_cli,
    watch_cli,
    risk_cli,
    drill_cli,
    policy_cli,
    gate_cli,
    onboarding_cli,
    audit_cli,
    clock_cli,
    calendar_cli,
):
    _module.register(app)


def run(argv: Optional[list[str]] = None) -> int:
    invocation = Invocation()  # click's context object: the commands record their output format in it
    try:
        lazy_command(app)(args=argv, prog_name="mci", obj=invocation)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 — the one place that turns an exception into an exit code
        # mci.errors is imported only when something failed: `mci --help` never pays for it.
        from mci.commands.fast import failure_code

        return failure_code(exc, invocation.output)
    return 0
