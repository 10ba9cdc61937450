"""The `mci` command: parse, call the core, render, exit. No business logic lives here.

Every failure a user or a broker can cause leaves as WHAT / WHY / HOW with a
stable exit code (mci.errors.ExitCode); only a bug in mci produces exit 70, with
the traceback written to a log file in the state directory, not the terminal.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

# First: mci.typer_lazy imports typer with what typer needs only to launch programs deferred.
from mci.typer_lazy import LazyGroup, lazy_command  # isort: skip

import typer

from mci import __version__
from mci.commands.common import AT_OPT as AtOpt
from mci.commands.common import METRICS_OPT as MetricsOpt
from mci.commands.common import PROFILE_OPT as ProfileOpt

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


class Output(str, Enum):
    text = "text"
    json = "json"


class ScanOutput(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"


class _Run:
    """What run() needs to render an error the way the command was asked to."""

    output = "text"




def _clock(at: Optional[str]):
    from mci.clock import clock_from

    return clock_from(at, env={})


def _state_dir() -> Path:
    from mci.paths import state_dir

    return state_dir()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mci {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="Log more to stderr: -v info, -vv debug."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only errors to stderr."),
) -> None:
    """Mission Control Interface."""
    from mci.observability.logs import set_verbosity  # loguru itself loads only when something logs

    set_verbosity(verbose, quiet)


@app.command()
def scan(
    profile: Optional[Path] = ProfileOpt,
    at: Optional[str] = AtOpt,
    output: ScanOutput = typer.Option(ScanOutput.text, "--output", "-o", help="text, json or junit."),
    metrics_file: Optional[Path] = MetricsOpt,
) -> None:
    """Run the profile's pre-ignition checklist and arm (or block) the lifecycle.

    \b
    Example:  mci scan --at 2026-11-23T09:05 -o json
    Exit: 0 passed (warnings allowed), 1 a check failed, 2 config invalid, 3 broker/infra unavailable.
    """
    _Run.output = output.value
    from mci.commands import scan as command

    raise typer.Exit(command.run(profile, _clock(at), _state_dir(), output.value, metrics_file=metrics_file))


@app.command()
def validate(
    paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders (default: the active profile)."),
    profile: Optional[Path] = ProfileOpt,
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    placeholder_env: bool = typer.Option(False, "--placeholder-env",
                                         help="Treat unset ${env:...} variables as placeholders (CI without secrets)."),
) -> None:
    """Validate profiles, checklists and sequences, and every rule a profile uses.

    \b
    Example:  mci validate --placeholder-env profiles/ rules/
    Exit: 0 valid, 2 invalid. Each error names file:line:col with WHAT / WHY / HOW.
    """
    _Run.output = output.value
    from mci.commands import validate as command
    from mci.resources import default_profile

    targets = list(paths) if paths else [profile or default_profile()]
    raise typer.Exit(command.run(targets, output.value, _cache_dir(), placeholder_env))


@app.command()
def status(
    profile: Optional[Path] = ProfileOpt,
    at: Optional[str] = AtOpt,
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    watch: bool = typer.Option(False, "--watch", "-w", help="Redraw the panels live until Ctrl-C (json: one line per refresh)."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes with --watch."),
    all_profiles: bool = typer.Option(False, "--all", help="One line per profile of the desk (see mci kill --all)."),
    desk: Optional[Path] = typer.Option(None, "--desk", metavar="DIR|FILE", help="The desk for --all."),
) -> None:
    """The day at a glance: session and lifecycle, engine health, positions, orders, risk usage (bars), P&L.

    \b
    Example:  mci status --watch
    Example:  mci status -o json
    When the broker cannot be read, its panels say 'unavailable: WHY'; status still exits 0.
    """
    _Run.output = output.value
    if all_profiles:
        from mci.commands import desk as desk_command

        raise typer.Exit(desk_command.status_all(desk, _clock(at), _state_dir(), output.value, at))
    from mci.commands import status as command

    raise typer.Exit(command.run(profile, _clock(at), _state_dir(), output.value, watch, interval))


from mci.commands.token_cli import register as _register_token_and_breaker  # noqa: E402

_register_token_and_breaker(app)

from mci.commands.sim_cli import register as _register_sim  # noqa: E402

_register_sim(app)

from mci.commands.day_cli import register as _register_day  # noqa: E402

_register_day(app)

from mci.commands.watch_cli import register as _register_watch  # noqa: E402

_register_watch(app)

from mci.commands.risk_cli import register as _register_risk  # noqa: E402

_register_risk(app)

from mci.commands.drill_cli import register as _register_drill  # noqa: E402

_register_drill(app)

from mci.commands.policy_cli import register as _register_policy  # noqa: E402

_register_policy(app)

from mci.commands.gate_cli import register as _register_gate  # noqa: E402

_register_gate(app)

from mci.commands.onboarding_cli import register as _register_onboarding  # noqa: E402

_register_onboarding(app)

from mci.commands.audit_cli import register as _register_audit  # noqa: E402

_register_audit(app)

from mci.commands.clock_cli import register as _register_clock  # noqa: E402

_register_clock(app)

from mci.commands.calendar_cli import register as _register_calendar  # noqa: E402

_register_calendar(app)


def _cache_dir() -> Optional[Path]:
    try:
        return _state_dir() / "cache"
    except Exception:
        return None  # a cache is an optimisation; validate works without a state dir


def run(argv: Optional[list[str]] = None) -> int:
    try:
        lazy_command(app)(args=argv, prog_name="mci")
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 — the one place that turns an exception into an exit code
        # mci.errors is imported only when something failed: `mci --help` never pays for it.
        from mci.commands.fast import failure_code

        return failure_code(exc, _Run.output)
    return 0
