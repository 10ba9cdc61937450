"""`mci init` and `mci doctor` on the main app; logic loads when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import output_format

    @app.command()
    def init(
        path: Optional[Path] = typer.Argument(
            None, help="Where to write it (default: ./paper.yaml, with --kite ./kite.yaml)."
        ),
        kite: bool = typer.Option(False, "--kite", help="A Kite Connect profile (the local simulator by default)."),
        name: Optional[str] = typer.Option(None, "--name", help="The profile's name (default: the file name)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing file."),
        output: str = output_opt,
    ) -> None:
        """Write a commented starter profile for paper or Kite, and validate it.

        \b
        Example:  mci init my-paper.yaml && mci scan -p my-paper.yaml
        Example:  mci init --kite profiles/kite-me.yaml
        Exit: 0 written and valid, 2 the file exists (use --force) or a bad path or name.
        """
        from mci.commands import onboarding as command

        raise typer.Exit(command.init(path, kite, name, force, output_format(output)))

    @app.command()
    def doctor(profile: Optional[Path] = profile_opt, at: Optional[str] = at_opt, output: str = output_opt) -> None:
        """Check the environment: Python, mci, the state dir, token store permissions, calendar coverage,
        broker reachability, the engine port. Each line is OK, WARN or FAIL with HOW to fix it.

        \b
        Example:  mci doctor -p profiles/kite-sim.yaml
        Exit: 0 all ok (warnings allowed), 1 a check failed.
        """
        from mci.clock import clock_from

        from mci.commands import onboarding as command

        raise typer.Exit(command.doctor(profile, clock_from(at, env={}), output_format(output)))
