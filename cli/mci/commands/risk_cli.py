"""`mci risk check` and `mci risk limits` as a typer group; the logic is imported only when a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

if TYPE_CHECKING:
    import typer


def register(app: "typer.Typer") -> None:
    import typer

    from mci.commands.common import AT_OPT as at_opt
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import PROFILE_OPT as profile_opt
    from mci.commands.common import setup

    risk_app = typer.Typer(
        help="Risk limits: check orders before they are placed, show the limits in rupees.", no_args_is_help=True
    )

    @risk_app.command("check")
    def risk_check(
        orders: str = typer.Argument(
            ...,
            metavar="ORDER.json|-",
            help="A JSON order, an array of them, or JSON lines; - reads stdin as it arrives.",
        ),
        account: Optional[Path] = typer.Option(
            None,
            "--account",
            help="Account state JSON (offline): capital, day_pnl, "
            "positions, last_prices, instruments, orders, peak_equity.",
        ),
        capital: Optional[str] = typer.Option(None, "--capital", help="Capital (offline), e.g. 1000000 or ₹10,00,000."),
        day_pnl: Optional[str] = typer.Option(
            None, "--day-pnl", help="The day's P&L so far (offline); a loss is negative."
        ),
        ltp: List[str] = typer.Option(
            [], "--ltp", metavar="EXCHANGE:SYMBOL=PRICE", help="A last price (offline); repeatable."
        ),
        instruments: Optional[Path] = typer.Option(
            None,
            "--instruments",
            metavar="FILE.csv",
            help="Kite's instrument dump for tick/lot sizes and symbols (offline).",
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Accept or reject each order against every risk limit of the profile, listing every failed rule.

        \b
        The account (capital, day P&L, positions, last prices, instruments) is read from the
        profile's broker, or given offline with --account / --capital, --ltp and --instruments.
        Orders have exchange, symbol, side, quantity, order_type, product, price, trigger_price,
        stop_loss, target, signal_time (ISO-8601 with offset) and tag.
        Example:  echo '{"exchange":"NSE","symbol":"INFY","side":"BUY","quantity":10,"price":"1500",
                         "stop_loss":"1490","target":"1525","signal_time":"'$(date -Iseconds)'"}' | mci risk check -
        Example:  mci risk check order.json --capital 1000000 --ltp NSE:INFY=1500 --instruments nse.csv
        Exit: 0 all accepted, 1 any rejected, 2 a line that is not an order, or bad flags; 3 broker unavailable.
        """
        import sys

        from mci.commands import risk as command
        from mci.config import load_profile

        clock, directory = setup(output, at)
        offline = command.offline_account(account, capital, day_pnl, ltp, instruments)
        loaded = load_profile(profile, cache_dir=directory / "cache")
        if orders == "-":
            raise typer.Exit(command.check(loaded, clock, directory, output, sys.stdin, account=offline))
        try:
            stream = open(orders, encoding="utf-8")
        except OSError as exc:
            from mci.errors import UsageError

            raise UsageError(
                f"cannot read {orders}", exc.strerror or str(exc), "pass a JSON file, or - for stdin"
            ) from None
        with stream:
            raise typer.Exit(command.check(loaded, clock, directory, output, stream, account=offline, batch=True))

    @risk_app.command("limits")
    def risk_limits(
        capital: Optional[str] = typer.Option(
            None, "--capital", help="Capital to compute with (default: the broker's opening balance)."
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
    ) -> None:
        """Every risk limit in rupees for today's capital, and whether the limits hold together.

        \b
        Example:  mci risk limits --capital ₹5,00,000
        Exit: 0 consistent (warnings allowed), 1 inconsistent, 3 broker unavailable.
        """
        from mci.commands import risk as command
        from mci.config import load_profile

        clock, directory = setup(output, at)
        loaded = load_profile(profile, cache_dir=directory / "cache")
        raise typer.Exit(command.limits(loaded, clock, directory, output, capital=capital))

    app.add_typer(risk_app, name="risk")
