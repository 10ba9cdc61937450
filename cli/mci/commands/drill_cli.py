"""`mci drill` on the main app; the drill loads only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import output_format

    @app.command()
    def drill(
        faults: Optional[str] = typer.Option(
            None,
            "--faults",
            metavar="SPEC",
            help="Kite simulator faults for the whole day, e.g. 5xx=0.2,lost=0.1,seed=3 "
            "(kite profiles only; see `mci sim kite --help`).",
        ),
        at: Optional[str] = typer.Option(
            None,
            "--at",
            metavar="ISO-8601",
            help="The rehearsal clock's start, inside a session (default: the next "
            "trading day, 45 minutes after the open: 10:00 IST on NSE).",
        ),
        keep: bool = typer.Option(
            False, "--keep", help="Keep the sandbox directory (engine log, state) and print where."
        ),
        profile: Optional[Path] = profile_opt,
        output: str = output_opt,
    ) -> None:
        """Rehearse a whole trading day in a throwaway sandbox, and record the verdict for the `drill` gate.

        \b
        Phases, each timed and judged: token login (kite: the real redirect flow against a simulator the
        drill starts itself), scan passes and arms, ignite (engine running and healthy), the engine trades
        (an entry with its stop), a forced breach of risk.max_daily_loss under a real `mci watch`, the
        emergency flatten (flat, halted, ignite refused), reset --confirm, a new scan and ignite, the
        end-of-day shutdown (stopped, engine gone), the final book (flat, nothing left running).
        Nothing touches the operator's state, engine, token or secrets: the sandbox is a temp MCI_HOME,
        with simulator credentials and a throwaway token key. The record (audit kind "drill") goes to
        the operator's state directory.
        \b
        Example:  mci drill -p profiles/kite-sim.yaml --faults 5xx=0.2,seed=3
        Exit: 0 every phase met its expectation and the account ended flat   1 a phase failed
              2 usage, or a profile the drill must not rehearse (real Kite root, systemd engine)
              3 could not start (a port, the simulator, the state directory)   130 interrupted
        """
        output_format(output)
        from mci.commands import drill as command
        from mci.paths import state_dir

        raise typer.Exit(command.run(profile, state_dir(), output, faults=faults, at=at, keep=keep))
