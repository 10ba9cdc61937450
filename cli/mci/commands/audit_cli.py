"""`mci audit tail | show | verify | export` as a typer group; the logic is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import setup

    audit_app = typer.Typer(
        help="The hash-chained audit trail of the state DB: every order action, state change, approval and "
        "token event. Read it, check it has not been tampered with, export it.",
        no_args_is_help=True,
    )

    @audit_app.command("tail")
    def audit_tail(
        n: int = typer.Option(20, "-n", "--lines", help="How many of the latest records to show."),
        follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new records until Ctrl-C."),
        kind: List[str] = typer.Option(
            [], "--kind", "-k", help="Only this kind (order, token, lifecycle, …); repeatable."
        ),
        profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Only records of this profile name."),
        output: str = output_opt,
    ) -> None:
        """The latest audit records, oldest first (-o json: one JSON object a line).

        \b
        Example:  mci audit tail -n 50 --kind order --follow
        Exit: 0.
        """
        from mci.commands import audit as command

        _, directory = setup(output, None)
        raise typer.Exit(command.tail(directory, output, n=n, kind=list(kind), profile=profile, follow=follow))

    @audit_app.command("show")
    def audit_show(
        seq: int = typer.Argument(..., help="The record's sequence number (see mci audit tail)."),
        output: str = output_opt,
    ) -> None:
        """One audit record in full: its data, prev_hash and hash, and whether the hash matches its content.

        \b
        Example:  mci audit show 42 -o json
        Exit: 0 shown, 2 no such record, 3 the state DB cannot be read.
        """
        from mci.commands import audit as command

        _, directory = setup(output, None)
        raise typer.Exit(command.show(directory, seq, output))

    @audit_app.command("verify")
    def audit_verify(output: str = output_opt) -> None:
        """Recompute the hash chain and check it against the anchor; name the first bad record.

        \b
        Detects an edited record (hash mismatch), a deleted, inserted or reordered one (seq gap or
        prev_hash mismatch) and a cut-off tail or a chain rewritten with recomputed hashes (the
        anchor file audit.anchor beside state.db records where the chain stands), and reports every
        chain_break record (a break an audited write found and recorded) with its evidence.
        Example:  mci audit verify -o json
        Exit: 0 intact (or empty), 1 tampered or a chain_break on record (WHAT / WHY / HOW naming
        the first bad record), 3 the state DB cannot be read.
        """
        from mci.commands import audit as command

        _, directory = setup(output, None)
        raise typer.Exit(command.run_verify(directory, output))

    @audit_app.command("export")
    def audit_export(
        fmt: str = typer.Option("jsonl", "--format", "-f", help="csv or jsonl."),
        since: Optional[str] = typer.Option(
            None,
            "--since",
            metavar="ISO|DURATION",
            help="From this instant (no offset means IST) or this long ago (2h, 1d).",
        ),
        until: Optional[str] = typer.Option(None, "--until", metavar="ISO|DURATION", help="Up to this instant."),
        kind: List[str] = typer.Option([], "--kind", "-k", help="Only this kind; repeatable."),
        profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Only records of this profile name."),
        out: Optional[Path] = typer.Option(
            None, "--out", metavar="FILE", help="Write this file (atomically), not stdout; its directory must exist."
        ),
        at: Optional[str] = at_opt,
    ) -> None:
        """Export audit records as CSV (data as canonical JSON) or JSON lines, with their hashes.

        \b
        Example:  mci audit export --format csv --since 1d --kind order --out orders-audit.csv
        Exit: 0 exported, 2 bad format, time or --out (a directory, or in one that does not exist),
        3 the state DB cannot be read.
        """
        from mci.commands import audit as command

        clock, directory = setup("text", at)
        raise typer.Exit(
            command.export(directory, clock, fmt, since=since, until=until, kind=list(kind), profile=profile, out=out)
        )

    app.add_typer(audit_app, name="audit")
