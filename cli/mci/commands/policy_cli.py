"""`mci policy diff` and `mci policy approve` as a typer group; the logic is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import TEXT_JSON_OR_JUNIT, output_format, output_option
    from mci.commands.common import OUTPUT_OPT as output_opt

    policy_app = typer.Typer(
        help="Config changes as policy: report every loosening since a base version (the CI gate), "
        "approve one on purpose.",
        no_args_is_help=True,
    )

    @policy_app.command("diff")
    def policy_diff(
        paths: Optional[List[Path]] = typer.Argument(
            None, help="Files or folders to compare (default: every profile and rule changed since --base)."
        ),
        base: str = typer.Option(
            ...,
            "--base",
            metavar="REF|FILE",
            help="A git ref (origin/main, HEAD, a tag) or the old version of the one file given.",
        ),
        approvals: List[Path] = typer.Option(
            [],
            "--approvals",
            metavar="FILE",
            help="Another approvals file to read "
            "(repeatable); .mci/approvals.jsonl and the state dir's are always read.",
        ),
        output: str = output_option(*TEXT_JSON_OR_JUNIT),
    ) -> None:
        """Compare changed profiles and rules with their base version and report every loosening.

        \b
        Loosening: a higher risk limit, a removed or downgraded scanner check, a shutdown step dropped
        or reordered, a weaker emergency sequence, a more tolerant breaker, a later square-off...
        Each finding names file:line:col in the new version, WHAT / WHY / HOW, and the subject an
        approval must name exactly (policy:<file>:<key>=<new value>). A profile is compared with the
        rules at their new version; a changed rule file is reported against the rule file.
        Example:  mci policy diff --base origin/main
        Example:  mci policy diff profiles/live.yaml --base HEAD~1 -o junit > policy.xml
        Example:  mci policy diff new.yaml --base old.yaml
        Exit: 0 no unapproved loosening (tightening and neutral pass), 1 an unapproved loosening,
              2 bad usage, unknown ref, not a git repository, or a new version that does not validate.
        """
        import sys

        from mci.clock import Clock
        from mci.output.console import color_enabled, emit
        from mci.paths import state_dir
        from mci.policy import render
        from mci.policy.diff import diff

        output_format(output, TEXT_JSON_OR_JUNIT)
        directory = state_dir()
        report = diff(
            list(paths or []),
            base,
            cwd=Path.cwd(),
            state_dir=directory,
            extra_approvals=approvals,
            cache_dir=directory / "cache",
            now=Clock().now(),
        )
        if output == "json":
            emit(render.to_json(report))
        elif output == "junit":
            emit(render.to_junit(report))
        else:
            emit(render.to_text(report, color_enabled(sys.stdout)))
        raise typer.Exit(1 if report.blocking else 0)

    @policy_app.command("approve")
    def policy_approve(
        subject: str = typer.Argument(
            ..., metavar="SUBJECT", help="policy:<file>:<key>=<value>, as mci policy diff prints it."
        ),
        by: str = typer.Option(..., "--by", metavar="WHO", help="Who approves."),
        note: str = typer.Option(..., "--note", metavar="WHY", help="Why the loosening is acceptable."),
        expires: Optional[str] = typer.Option(None, "--expires", metavar="DURATION", help="Valid this long, e.g. 7d."),
        file: Optional[Path] = typer.Option(
            None,
            "--file",
            metavar="PATH",
            help="Approvals file (default: .mci/approvals.jsonl at the repository root).",
        ),
        base: str = typer.Option(
            "HEAD",
            "--base",
            metavar="REF|FILE",
            help="What the change is compared with, as "
            "given to mci policy diff: the subject must be one of its loosenings.",
        ),
        output: str = output_opt,
    ) -> None:
        """Record an approval of one loosening, so mci policy diff lets it pass.

        \b
        The record (who, why, when, until when) is appended to .mci/approvals.jsonl at the repository
        root, to be committed with the change, and to the audit log of the state directory. It covers
        exactly the subject: approving risk.max_daily_loss=8% does not approve 10%. A subject that is not
        a loosening of its file since --base (default HEAD) is refused.
        Example:  mci policy approve policy:profiles/live.yaml:risk.max_daily_loss=8% \\
                    --by "A. Sharma" --note "new capital, reviewed in RISK-12" --expires 30d
        Exit: 0 recorded, 2 bad subject or flags, or a subject that matches no loosening.
        """
        from mci.clock import Clock
        from mci.output.console import emit, emit_json
        from mci.paths import state_dir
        from mci.policy.approve import approve

        output_format(output)
        approval, target = approve(
            subject,
            by=by,
            note=note,
            expires=expires,
            file=file,
            cwd=Path.cwd(),
            state_dir=state_dir(),
            now=Clock().now(),
            base=base,
        )
        if output == "json":
            emit_json({"status": "approved", "file": str(target), "approval": approval.as_dict()})
        else:
            emit(
                f"approved {approval.subject}: {approval.describe()}\n  recorded in {target}: commit it with the change"
            )

    app.add_typer(policy_app, name="policy")
