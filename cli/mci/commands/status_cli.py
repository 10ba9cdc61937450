"""`mci status` on the main app; the panels load only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import output_option, setup

    @app.command()
    def status(
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_option(metavar="[text|json]"),
        watch: bool = typer.Option(
            False, "--watch", "-w", help="Redraw the panels live until Ctrl-C (json: one line per refresh)."
        ),
        interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes with --watch."),
        all_profiles: bool = typer.Option(
            False, "--all", help="One line per profile of the desk (see mci kill --all)."
        ),
        desk: Optional[Path] = typer.Option(None, "--desk", metavar="DIR|FILE", help="The desk for --all."),
    ) -> None:
        """The day at a glance: session and lifecycle, engine health, positions, orders, risk usage (bars), P&L.

        \b
        Example:  mci status --watch
        Example:  mci status -o json
        When the broker cannot be read, its panels say 'unavailable: WHY'; status still exits 0.
        """
        clock, directory = setup(output, at)
        if all_profiles:
            from mci.commands import desk as desk_command

            raise typer.Exit(desk_command.status_all(desk, clock, directory, output, at))
        from mci.commands import status as command

        raise typer.Exit(command.run(profile, clock, directory, output, watch, interval))
