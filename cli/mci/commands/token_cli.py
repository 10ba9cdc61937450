"""`mci token ...` and `mci breaker ...` as typer groups; the logic is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer

    from mci.clock import Clock
    from mci.config.model import Profile


def register(app: "typer.Typer") -> None:
    """Add `mci token ...` and `mci breaker ...` to the main app."""
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import setup

    def prepare(profile_path: Optional[Path], at: Optional[str], output: str) -> "tuple[Profile, Clock, Path]":
        from mci.config import load_profile

        clock, directory = setup(output, at)
        return load_profile(profile_path, cache_dir=directory / "cache"), clock, directory

    token_app = typer.Typer(
        help="The Kite access token: login, set, status, clear (it dies at 06:00 IST).", no_args_is_help=True
    )

    @token_app.command("login")
    def token_login(
        request_token: Optional[str] = typer.Argument(
            None, help="The redirect URL after login, or its request_token (default: prompt / stdin)."
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Print the Kite login URL, take the redirect (or request_token), store the access token encrypted.

        \b
        Example:  mci token login -p profiles/kite-sim.yaml
        Exit: 0 saved, 1 Kite refused the request token, 2 bad input/config, 3 Kite unreachable.
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import token as command

        raise typer.Exit(command.login(loaded, clock, directory, output, request_token=request_token))

    @token_app.command("set")
    def token_set(
        user_id: Optional[str] = typer.Option(None, "--user-id", help="The Kite user id the token belongs to."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Store an access token read from stdin (for automation), issued now.

        \b
        Example:  printf %s "$TOKEN" | mci token set --user-id AB1234 -p profiles/zerodha-live.yaml
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import token as command

        raise typer.Exit(command.set_token(loaded, clock, directory, output, user_id=user_id))

    @token_app.command("status")
    def token_status(
        profile: Optional[Path] = profile_opt, at: Optional[str] = at_opt, output: str = output_opt
    ) -> None:
        """Valid, expiring, expired or missing, with the 06:00 IST expiry and a countdown.

        \b
        Example:  mci token status --at 2026-11-24T05:45 -o json
        Exit: 0 valid, 1 expiring (still usable) / expired / missing, 2 store unusable (key, permissions).
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import token as command

        raise typer.Exit(command.status(loaded, clock, directory, output))

    @token_app.command("clear")
    def token_clear(
        profile: Optional[Path] = profile_opt, at: Optional[str] = at_opt, output: str = output_opt
    ) -> None:
        """Overwrite and delete the stored token.

        \b
        Example:  mci token clear -p profiles/kite-sim.yaml
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import token as command

        raise typer.Exit(command.clear(loaded, clock, directory, output))

    breaker_app = typer.Typer(help="Circuit breakers: status, reset.", no_args_is_help=True)

    @breaker_app.command("status")
    def breaker_status(
        profile: Optional[Path] = profile_opt, at: Optional[str] = at_opt, output: str = output_opt
    ) -> None:
        """Every breaker of the profile: state, failures/fail_max, opened at, trial call in.

        \b
        Example:  mci breaker status -o json
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import breaker as command

        raise typer.Exit(command.status(loaded, clock, directory, output))

    @breaker_app.command("reset")
    def breaker_reset(
        name: str = typer.Argument(..., help="The breaker to close."),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Close a breaker and zero its failures (audited). Exit 2 for an unknown name.

        \b
        Example:  mci breaker reset broker
        """
        loaded, clock, directory = prepare(profile, at, output)
        from mci.commands import breaker as command

        raise typer.Exit(command.reset(loaded, name, clock, directory, output))

    app.add_typer(token_app, name="token")
    app.add_typer(breaker_app, name="breaker")
