"""`mci calendar update | show` as a typer group; the logic is imported only when a command runs."""

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
    from mci.commands.common import setup

    calendar_app = typer.Typer(
        help="The exchange calendar: fetch NSE's published holidays, show the days ahead.", no_args_is_help=True
    )

    @calendar_app.command("update")
    def calendar_update(
        from_file: Optional[Path] = typer.Option(
            None,
            "--from-file",
            metavar="FILE",
            help="A saved copy of NSE's holiday JSON (or, with --segment MCX, "
            "MCX's holiday table as CSV) instead of fetching it.",
        ),
        segment: Optional[str] = typer.Option(
            None,
            "--segment",
            metavar="CM,FO,CD,MCX",
            help="Segments to take (default: the profile's calendar's own); each "
            "goes to its calendar (nse: CM,FO; nse-cd: CD; mcx: MCX).",
        ),
        write: Optional[Path] = typer.Option(None, "--write", metavar="PATH", help="Write the new calendar here."),
        install: bool = typer.Option(
            False,
            "--install",
            help="Write it as the local calendar (<state dir>/calendars/"
            "NAME.yaml), which every profile naming the calendar then reads.",
        ),
        url: str = typer.Option(
            "https://www.nseindia.com/api/holiday-master?type=trading", "--url", help="Where NSE serves the list."
        ),
        timeout: float = typer.Option(15.0, "--timeout", help="Seconds to wait for nseindia.com."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Fetch NSE's published trading holidays, show what changes, and write a validated calendar.

        \b
        The profile's calendar (the local copy, else the shipped one) is the base: the years NSE
        lists replace those years' holidays, coverage grows to the end of the last one. Without
        --install or --write nothing is written (a dry run). The file is checked like any calendar
        (mci validate) and replaced atomically; its `source` says where and when the list was read.
        Example:  mci calendar update --install
        Example:  mci calendar update --from-file holidays-2027.json --write calendars/nse.yaml
        Example:  mci calendar update --segment CD --install
        Example:  mci calendar update --segment MCX --from-file mcx-holidays-2027.csv --install
        Exit: 0 compared (and written), 2 bad file or flags, 3 nseindia.com unreachable or refusing.
        """
        from mci.commands import calendar as command
        from mci.config import load_profile

        clock, directory = setup(output, at)
        loaded = load_profile(profile, cache_dir=directory / "cache")
        raise typer.Exit(
            command.update(
                loaded,
                clock,
                directory,
                output,
                from_file=from_file,
                url=url,
                segment=segment,
                write=write,
                install=install,
                timeout=timeout,
            )
        )

    @calendar_app.command("show")
    def calendar_show(
        days: int = typer.Option(14, "--days", "-n", help="How many days ahead to show."),
        segment: Optional[str] = typer.Option(
            None, "--segment", metavar="MCX", help="The calendar of this segment (default: the profile's first)."
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """The profile's calendar: which file, its coverage, and each coming day (open, closed, special).

        \b
        Example:  mci calendar show --days 30
        Example:  mci calendar show --segment MCX
        Exit: 0.
        """
        from mci.commands import calendar as command
        from mci.config import load_profile

        clock, directory = setup(output, at)
        loaded = load_profile(profile, cache_dir=directory / "cache")
        raise typer.Exit(command.show(loaded, clock, directory, output, max(1, days), segment))

    app.add_typer(calendar_app, name="calendar")
