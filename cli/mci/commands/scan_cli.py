"""`mci scan` on the main app; the scanner loads only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import METRICS_OPT as metrics_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import TEXT_JSON_OR_JUNIT, output_option, setup

    # mci.commands.fast runs a plain `mci scan` without typer: a new option must be taught to it too
    # (tests/cli/test_fast_scan.py fails first).
    @app.command()
    def scan(
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_option(*TEXT_JSON_OR_JUNIT, metavar="[text|json|junit]"),
        metrics_file: Optional[Path] = metrics_opt,
    ) -> None:
        """Run the profile's pre-ignition checklist and arm (or block) the lifecycle.

        \b
        Example:  mci scan --at 2026-11-23T09:05 -o json
        Exit: 0 passed (warnings allowed), 1 a check failed, 2 config invalid, 3 broker/infra unavailable.
        """
        clock, directory = setup(output, at, TEXT_JSON_OR_JUNIT)
        from mci.commands import scan as command

        raise typer.Exit(command.run(profile, clock, directory, output, metrics_file=metrics_file))
