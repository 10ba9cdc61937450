"""`mci ignite`, `mci shutdown`, `mci kill`, `mci pause`, `mci resume`, `mci reset`, `mci graph` on the main app; logic loads when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import METRICS_OPT as metrics_opt
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import setup

    @app.command()
    def ignite(
        scan: bool = typer.Option(False, "--scan", help="Run the scan first; ignite only if it passes."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and do nothing."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
        metrics_file: Optional[Path] = metrics_opt,
    ) -> None:
        """Start the trading engine: only from armed (a passed scan younger than scan.max_age), never while halted.

        \b
        Example:  mci ignite --scan
        Exit: 0 running, 1 a step or the scan failed (engine stopped, profile blocked), 3 broker/engine
              unavailable, 4 refused (not armed, stale scan, halted), 5 another mci command holds the profile.
        """
        clock, directory = setup(output, at)
        from mci.commands import day as command

        raise typer.Exit(
            command.ignite(
                profile, clock, directory, output, scan_first=scan, dry_run=dry_run, metrics_file=metrics_file
            )
        )

    @app.command()
    def shutdown(
        emergency: bool = typer.Option(
            False, "--emergency", help="Kill the engine, cancel every order, square off every position, latch halted."
        ),
        end_of_day: bool = typer.Option(
            False, "--end-of-day", help="The graceful steps plus squaring off intraday (MIS) positions."
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
        metrics_file: Optional[Path] = metrics_opt,
    ) -> None:
        """Stop the day: the six graceful steps of CR-002 (positions kept and recorded), or --end-of-day / --emergency.

        \b
        A shutdown killed half-way resumes at its first unfinished step when rerun.
        Example:  mci shutdown --end-of-day        (a 15:15 IST cron)
        Exit: 0 stopped (emergency: flat), 4 refused (halted, never ignited), 5 locked,
              6 incomplete (emergency: positions or orders remain; listed as read when shown),
              7 emergency: could not verify (the account could not be read back).
        """
        from mci.errors import UsageError

        clock, directory = setup(output, at)
        if emergency and end_of_day:
            raise UsageError(
                "--emergency and --end-of-day together",
                "they are different sequences",
                "choose one: --end-of-day for the close, --emergency to flatten now",
            )
        mode = "emergency" if emergency else "end_of_day" if end_of_day else "graceful"
        from mci.commands import day as command

        raise typer.Exit(command.shutdown(profile, clock, directory, output, mode=mode, metrics_file=metrics_file))

    @app.command()
    def kill(
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
        metrics_file: Optional[Path] = metrics_opt,
        product: List[str] = typer.Option(
            [], "--product", metavar="MIS|CNC|NRML|MTF", help="Only this product's orders and positions; repeatable."
        ),
        tag: Optional[str] = typer.Option(
            None, "--tag", metavar="PREFIX", help="Only orders tagged PREFIX* and the positions they opened today."
        ),
        symbol: List[str] = typer.Option(
            [], "--symbol", metavar="[EXCHANGE:]SYMBOL", help="Only this instrument; repeatable."
        ),
        all_profiles: bool = typer.Option(False, "--all", help="Every profile of the desk, concurrently."),
        desk: Optional[Path] = typer.Option(
            None, "--desk", metavar="DIR|FILE", help="The desk for --all (default $MCI_DESK, else $MCI_HOME/desk)."
        ),
    ) -> None:
        """Alias of `mci shutdown --emergency`: latch halted first, then stop the engine and flatten.

        \b
        Works without a usable state DB (audit to audit.fallback.jsonl) and says what it could do.
        Scoped (--product, --tag, --symbol; they narrow each other): cancels and closes only the scope,
        leaves the engine running, latches only the scope (`mci risk check` refuses entries in it) and
        lists what it left open outside it. --all: every profile of the desk, one verdict each.
        Example:  mci kill -p profiles/paper.yaml
        Example:  mci kill --product MIS            mci kill --all --desk ~/desk/
        Exit: 0 flat, 6 positions or orders remain (listed, as read when shown),
              7 could not verify (the account could not be read back), 5 locked; --all: the worst.
        """
        from mci.errors import UsageError

        clock, directory = setup(output, at)
        scoped = bool(product or tag is not None or symbol)
        if all_profiles:
            if scoped:  # -p / MCI_PROFILE is ignored: the desk names the profiles
                raise UsageError(
                    "--all with a scope",
                    "a desk kill is account-wide on every profile of the desk",
                    "run `mci kill --all`, or a scoped kill on one profile (-p PROFILE --product MIS)",
                )
            from mci.commands import desk as desk_command

            raise typer.Exit(desk_command.kill_all(desk, clock, directory, output, at))
        if desk is not None:
            raise UsageError(
                "--desk without --all", "--desk names the profiles `--all` acts on", "add --all, or drop --desk"
            )
        selection = None
        if scoped:
            from mci.flatten.scope import Selection

            selection = Selection.of(product, symbol, tag)
        from mci.commands import day as command

        raise typer.Exit(
            command.shutdown(
                profile,
                clock,
                directory,
                output,
                mode="emergency",
                metrics_file=metrics_file,
                command="kill",
                selection=selection,
            )
        )

    @app.command()
    def pause(
        reason: str = typer.Option("", "--reason", help="Why, kept in the audit log and the notification."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Reduce-only: pause the engine's entries (running → reducing); exits go on, `mci risk check` refuses entries.

        \b
        Example:  mci pause --reason "news at 14:00"
        Exit: 0 reducing (also when it already was), 2 the engine has no pause adapter, 3 the engine did not
              accept the pause (lifecycle unchanged), 4 refused (not running), 5 locked.
        """
        clock, directory = setup(output, at)
        from mci.commands import day as command

        raise typer.Exit(command.reduce(profile, clock, directory, output, action="pause", reason=reason))

    @app.command()
    def resume(
        reason: str = typer.Option("", "--reason", help="Why, kept in the audit log and the notification."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Leave reduce-only (reducing → running) after a fresh risk read; refused over a hard limit.

        \b
        Example:  mci resume
        Exit: 0 running (also when it already was), 2 no resume adapter, 3 the account or the engine could not
              be reached (lifecycle unchanged), 4 refused (not reducing, or a hard limit breached), 5 locked.
        """
        clock, directory = setup(output, at)
        from mci.commands import day as command

        raise typer.Exit(command.reduce(profile, clock, directory, output, action="resume", reason=reason))

    @app.command()
    def reset(
        confirm: bool = typer.Option(False, "--confirm", help="Required: unlatch on purpose."),
        reason: str = typer.Option("", "--reason", help="Why, kept in the audit log."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Unlatch the kill switch: halted → idle (then `mci scan` starts a new day).

        \b
        Example:  mci reset --confirm --reason "breach reviewed with the risk desk"
        Exit: 0 reset, 2 without --confirm, 4 not halted.
        """
        clock, directory = setup(output, at)
        from mci.commands import day as command

        raise typer.Exit(command.reset(profile, clock, directory, output, confirm=confirm, reason=reason))

    @app.command()
    def graph(
        target: str = typer.Argument(
            "lifecycle",
            help="lifecycle, a purpose (ignite, graceful, end_of_day, "
            "emergency), a rule (shutdown/graceful) or a sequence file.",
        ),
        profile: Optional[Path] = profile_opt,
    ) -> None:
        """Print the lifecycle state machine or a sequence as a Mermaid diagram.

        \b
        Example:  mci graph graceful > graceful.mmd
        """
        _clock, directory = setup("text", None)
        from mci.commands import day as command

        raise typer.Exit(command.graph(profile, directory, target))
