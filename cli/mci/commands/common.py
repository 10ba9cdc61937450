"""What the command modules share: the --profile / --at / --output options, the one check of --output, the context
object of a run (Invocation) and the setup of a command.

Imported by mci.app after typer (mci.typer_lazy must import typer first).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import click
import typer

from mci.commands.metrics_opt import metrics_path as _metrics_path

if TYPE_CHECKING:
    from mci.clock import Clock

PROFILE_OPT = typer.Option(
    None, "--profile", "-p", envvar="MCI_PROFILE", help="Profile YAML (default: the shipped paper profile)."
)
AT_OPT = typer.Option(
    None,
    "--at",
    envvar="MCI_AT",
    metavar="ISO-8601",
    help="Start the clock at this instant (it then ticks); no offset means IST.",
)
TEXT_OR_JSON = ("text", "json")
TEXT_JSON_OR_JUNIT = ("text", "json", "junit")  # a report CI reads: scan, gate run, policy diff


def output_option(*formats: str, metavar: Optional[str] = None) -> Any:
    """The --output/-o option; output_format() checks its value when the command runs (not while click parses, so an
    error in another option is still rendered as text). `metavar` keeps the help of the commands that show the formats."""
    formats = formats or TEXT_OR_JSON

    def complete(incomplete: str) -> list[str]:
        return [f for f in formats if f.startswith(incomplete)]

    return typer.Option("text", "--output", "-o", metavar=metavar, help=f"{_words(formats)}.", autocompletion=complete)


def _words(formats: tuple[str, ...]) -> str:
    return f"{', '.join(formats[:-1])} or {formats[-1]}"


OUTPUT_OPT = output_option()

METRICS_OPT = typer.Option(
    None,
    "--metrics-file",
    metavar="PATH",
    envvar="MCI_METRICS_FILE",
    callback=_metrics_path,
    help="Also write the run as Prometheus text here (node_exporter textfile collector), atomically.",
)


class Invocation:
    """What one `mci` run carries in click's context object (ctx.obj, shared by every sub-context): mci.app.run
    creates it and, when a command fails, renders the error in the output format the command was asked for."""

    def __init__(self) -> None:
        self.output = "text"  # until a command has checked its --output: errors in parsing render as text


def output_format(output: str, formats: tuple[str, ...] = TEXT_OR_JSON) -> str:
    """The one check of --output: refuse a format the command does not write, and have errors render in this one from
    now on (junit renders them as text)."""
    from mci.errors import UsageError

    if output not in formats:
        if formats == TEXT_OR_JSON:
            why, how = "this command writes text or json", "use --output text or --output json"
        else:
            why, how = (
                f"{click.get_current_context().command_path} writes {_words(formats)}",
                f"use --output {_words(formats)}",
            )
        raise UsageError(f"unknown output {output!r}", why, how)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and isinstance(ctx.obj, Invocation):
        ctx.obj.output = output
    return output


def setup(output: str, at: Optional[str], formats: tuple[str, ...] = TEXT_OR_JSON) -> "tuple[Clock, Path]":
    """The output format checked, then the clock and the state directory of a command."""
    from mci.clock import clock_from
    from mci.paths import state_dir

    output_format(output, formats)
    return clock_from(at, env={}), state_dir()
