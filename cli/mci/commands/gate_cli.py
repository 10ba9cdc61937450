"""`mci gate run|approve|list` as a typer group; the logic is imported only when a command runs."""

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
    from mci.commands.common import TEXT_JSON_OR_JUNIT, output_option, setup

    gate_app = typer.Typer(
        help="Deployment gates: go/no-go checklists (CI quality, smoke, safety audit, go-live) and their sign-offs.",
        no_args_is_help=True,
    )

    @gate_app.command("run")
    def gate_run(
        name: str = typer.Argument(
            ..., metavar="NAME", help="A gate of the profile, rules/gates/NAME.yaml, or a .yaml file."
        ),
        approvals: List[Path] = typer.Option(
            [],
            "--approvals",
            metavar="FILE",
            help="Another approvals file to read (repeatable); "
            "$MCI_HOME/approvals.jsonl and ./.mci/approvals.jsonl are always read.",
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_option(*TEXT_JSON_OR_JUNIT),
        metrics_file: Optional[Path] = metrics_opt,
    ) -> None:
        """Run a gate's checks and give the verdict; the result is written to the audit log.

        \b
        NAME is looked up in the profile's gates:, then as rules/gates/NAME.yaml (beside the
        profile's folder, then shipped): go-no-go, safety-audit, ci-quality, smoke.
        Relative paths in the gate (coverage.xml, junit.xml, reports/...) start in the current directory.
        Example:  mci gate run ci-quality -o junit > gate-junit.xml
        Exit: 0 passed (warnings allowed), 1 a check failed, 2 gate or flags invalid.
        """
        clock, directory = setup(output, at, TEXT_JSON_OR_JUNIT)
        from mci.commands import gate as command

        raise typer.Exit(
            command.run(profile, name, clock, directory, output, list(approvals), metrics_file=metrics_file)
        )

    @gate_app.command("approve")
    def gate_approve(
        name: str = typer.Argument(..., metavar="NAME", help="The gate, by the name you run it by."),
        check: str = typer.Argument(..., metavar="CHECK", help="The id of an approval check of that gate."),
        by: str = typer.Option(..., "--by", help='Who signs off (a name, e.g. "A. Sharma, Head of Trading").'),
        note: str = typer.Option(..., "--note", help="Why this is acceptable: what was reviewed or tested."),
        expires: Optional[str] = typer.Option(
            None, "--expires", metavar="DURATION", help="The sign-off lapses after this long, e.g. 7d."
        ),
        file: Optional[Path] = typer.Option(
            None,
            "--file",
            metavar="FILE",
            help="Write here instead of $MCI_HOME/approvals.jsonl, e.g. "
            ".mci/approvals.jsonl to commit it with the change.",
        ),
        revoke: bool = typer.Option(False, "--revoke", help="Withdraw the sign-off (recorded, never erased)."),
        profile: Optional[Path] = profile_opt,
        output: str = output_opt,
    ) -> None:
        """Record a named sign-off for an approval check of a gate (and an audit record of it).

        \b
        Example:  mci gate approve go-no-go cto_signoff --by "R. Iyer (CTO)" --note "reviewed drill #41" --expires 7d
        Exit: 0 recorded, 2 not an approval check of that gate, or flags invalid.
        """
        from mci.commands import gate as command

        _, directory = setup(output, None)
        raise typer.Exit(
            command.approve(
                profile,
                name,
                check,
                by=by,
                note=note,
                expires=expires,
                file=file,
                revoke=revoke,
                state_dir=directory,
                output=output,
            )
        )

    @gate_app.command("list")
    def gate_list(profile: Optional[Path] = profile_opt, output: str = output_opt) -> None:
        """The gates you can run: the profile's gates: block, then rules/gates/, with their check counts.

        \b
        Example:  mci gate list -o json
        """
        from mci.commands import gate as command

        _, directory = setup(output, None)
        raise typer.Exit(command.list_gates(profile, directory, output))

    app.add_typer(gate_app, name="gate")
