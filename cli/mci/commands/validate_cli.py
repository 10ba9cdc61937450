"""`mci validate` on the main app; the schemas and the validator load only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import typer


def _cache_dir() -> Optional[Path]:
    from mci.paths import state_dir

    try:
        return state_dir() / "cache"
    except Exception:
        return None  # a cache is an optimisation; validate works without a state dir


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import output_format, output_option

    @app.command()
    def validate(
        paths: Optional[List[Path]] = typer.Argument(None, help="Files or folders (default: the active profile)."),
        profile: Optional[Path] = profile_opt,
        output: str = output_option(metavar="[text|json]"),
        placeholder_env: bool = typer.Option(
            False, "--placeholder-env", help="Treat unset ${env:...} variables as placeholders (CI without secrets)."
        ),
    ) -> None:
        """Validate profiles, checklists and sequences, and every rule a profile uses.

        \b
        Example:  mci validate --placeholder-env profiles/ rules/
        Exit: 0 valid, 2 invalid. Each error names file:line:col with WHAT / WHY / HOW.
        """
        output_format(output)
        from mci.commands import validate as command
        from mci.resources import default_profile

        targets = list(paths) if paths else [profile or default_profile()]
        raise typer.Exit(command.run(targets, output, _cache_dir(), placeholder_env))
