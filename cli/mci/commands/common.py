"""What the command modules share: the --profile / --at / --output options and the setup of a run.

Imported by mci.app after typer (mci.typer_lazy must import typer first).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from mci.commands.metrics_opt import metrics_path as _metrics_path

if TYPE_CHECKING:
    from mci.clock import Clock

PROFILE_OPT = typer.Option(None, "--profile", "-p", envvar="MCI_PROFILE",
                           help="Profile YAML (default: the shipped paper profile).")
AT_OPT = typer.Option(None, "--at", envvar="MCI_AT", metavar="ISO-8601",
                      help="Start the clock at this instant (it then ticks); no offset means IST.")
OUTPUT_OPT = typer.Option("text", "--output", "-o", help="text or json.")


METRICS_OPT = typer.Option(None, "--metrics-file", metavar="PATH", envvar="MCI_METRICS_FILE", callback=_metrics_path,
                           help="Also write the run as Prometheus text here (node_exporter textfile collector), atomically.")


def text_or_json(output: str) -> str:
    """Refuse any other format, and have errors render in this one from now on."""
    from mci import app as app_module
    from mci.errors import UsageError

    if output not in ("text", "json"):
        raise UsageError(f"unknown output {output!r}", "this command writes text or json",
                         "use --output text or --output json")
    app_module._Run.output = output
    return output


def setup(output: str, at: Optional[str]) -> "tuple[Clock, Path]":
    """The clock and state directory for a command whose output is text or json."""
    from mci.clock import clock_from
    from mci.paths import state_dir

    text_or_json(output)
    return clock_from(at, env={}), state_dir()
