"""`mci clock set | show | clear` as a typer group; the logic is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import output_format

    def directory_for(output: str) -> Path:
        # Not common.setup: it reads the stored clock, which these commands must manage even when it is damaged.
        from mci.paths import state_dir

        output_format(output)
        return state_dir()

    clock_app = typer.Typer(
        help="One rehearsal clock for the state directory, shared by every command run there.", no_args_is_help=True
    )

    @clock_app.command("set")
    def clock_set(
        at: str = typer.Argument(..., metavar="ISO-8601", help="The instant it is now (no offset means IST)."),
        output: str = output_opt,
    ) -> None:
        """Make it AT now for every command in this state directory; the clock then ticks in real time.

        \b
        Unlike MCI_AT (each process restarts at the same instant), the offset from real time is stored in
        the state directory: a scan at 09:20 is two minutes old for the ignite at 09:22.
        Example:  mci clock set 2026-11-25T09:10 && mci scan && mci ignite
        Exit: 0 set; 2 not an instant.
        """
        from mci.commands import clock as command

        directory = directory_for(output)
        raise typer.Exit(command.set_clock(directory, at, output))

    @clock_app.command("show")
    def clock_show(output: str = output_opt) -> None:
        """The clock commands here read: real time, the stored rehearsal clock, or MCI_AT.

        \b
        Example:  mci clock show -o json
        Exit: 0.
        """
        import os

        from mci.commands import clock as command

        directory = directory_for(output)
        raise typer.Exit(command.show(directory, output, os.environ.get("MCI_AT")))

    @clock_app.command("clear")
    def clock_clear(output: str = output_opt) -> None:
        """Back to real time for this state directory.

        \b
        Example:  mci clock clear
        Exit: 0.
        """
        from mci.commands import clock as command

        directory = directory_for(output)
        raise typer.Exit(command.clear(directory, output))

    app.add_typer(clock_app, name="clock")
