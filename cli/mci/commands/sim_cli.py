"""`mci sim ...` as a typer group; the simulator (werkzeug, SQLite) is imported only when a command runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import typer

DEFAULT_URL = "http://127.0.0.1:8765"  # mci.commands.sim.DEFAULT_URL; repeated so `--help` imports nothing


def register(app: "typer.Typer") -> None:
    """Add `mci sim ...` to the main app."""
    import typer

    url_opt = typer.Option(DEFAULT_URL, "--url", envvar="MCI_SIM_URL", help="The running simulator.")
    from mci.commands.common import OUTPUT_OPT as output_opt
    from mci.commands.common import output_format

    sim_app = typer.Typer(
        help="The Kite Connect simulator: run it (`mci sim kite`) and drive it for rehearsals.", no_args_is_help=True
    )

    @sim_app.command("kite")
    def kite(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback unless --allow-remote)."),
        port: int = typer.Option(8765, "--port", help="Port to listen on (0: any free port)."),
        api_key: Optional[str] = typer.Option(
            None, "--api-key", envvar="KITE_API_KEY", help="The api_key mci must sign with (default: $KITE_API_KEY)."
        ),
        api_secret: Optional[str] = typer.Option(
            None,
            "--api-secret",
            envvar="KITE_API_SECRET",
            show_envvar=True,
            help="Prefer the KITE_API_SECRET variable: a secret on the command line is visible to every user in `ps`.",
        ),
        seed: int = typer.Option(1, "--seed", help="Price paths, and faults whose spec has no seed=."),
        faults: Optional[str] = typer.Option(
            None,
            "--faults",
            metavar="SPEC",
            help="e.g. latency=50ms,jitter=20ms,5xx=0.3,429=0.1,burst=5,"
            "reset=0.05,lost=0.5,seed=7 (see `mci sim faults --help`).",
        ),
        db: Optional[Path] = typer.Option(
            None,
            "--db",
            help="The account's SQLite file (default: $MCI_HOME/kite-sim.db); "
            "it persists orders, positions and sessions across restarts.",
        ),
        capital: str = typer.Option(
            "1000000", "--capital", help="Opening cash of a new account (an existing --db keeps its own)."
        ),
        at: Optional[str] = typer.Option(
            None,
            "--at",
            envvar="MCI_AT",
            metavar="ISO-8601",
            help="Start the simulator's clock at this instant (it then ticks); no offset means IST.",
        ),
        rate_limits: Optional[str] = typer.Option(
            None,
            "--rate-limits",
            metavar="SPEC",
            help="Kite's limits by default (order=10/s,order=400/min,place=5000/day,quote=1/s,other=10/s); "
            "override some, e.g. order=20/s,quote=off, or turn all off with `off` (see `mci sim limits --help`).",
        ),
        allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback --host."),
        order_ips: Optional[str] = typer.Option(
            None,
            "--order-ips",
            metavar="IP,IP",
            help="Client IPs allowed to place/modify/cancel, as Kite's static-IP whitelist (default: 127.0.0.1,::1).",
        ),
    ) -> None:
        """Serve the simulated exchange over the Kite Connect v3 API until Ctrl-C / SIGTERM (then exit 0).

        \b
        Example:  KITE_API_KEY=sim-key KITE_API_SECRET=sim-secret mci sim kite --at 2026-11-23T09:20
        Exit: 0 stopped cleanly, 2 bad option, 3 cannot listen on the port.
        """
        from mci.units import parse_money
        from mci.errors import UsageError
        from mci.paths import state_dir

        if any(arg == "--api-secret" or arg.startswith("--api-secret=") for arg in sys.argv[1:]):
            sys.stderr.write(
                "warning: --api-secret on the command line is visible to other users in `ps`; "
                "export KITE_API_SECRET instead\n"
            )
        try:
            amount = parse_money(capital)
        except ValueError as exc:
            raise UsageError(
                f"--capital {capital!r} is not an amount", str(exc), "pass it like 1000000 or ₹10,00,000"
            ) from None
        from mci.commands import sim as command

        raise typer.Exit(
            command.serve_kite(
                host=host,
                port=port,
                api_key=api_key,
                api_secret=api_secret,
                seed=seed,
                faults=faults,
                db=db if db is not None else state_dir() / "kite-sim.db",
                capital=amount,
                at=at,
                rate_limits=rate_limits,
                allow_remote=allow_remote,
                order_ips=order_ips,
            )
        )

    @sim_app.command("status")
    def status(url: str = url_opt, output: str = output_opt) -> None:
        """Is the simulator up: its clock, faults and account. Exit 3 when it cannot be reached.

        \b
        Example:  mci sim status --url http://127.0.0.1:8765
        """
        from mci.commands import sim as command

        raise typer.Exit(command.status(url, output_format(output)))

    @sim_app.command("price")
    def price(
        instrument: str = typer.Argument(..., help="EXCHANGE:SYMBOL, e.g. NSE:RELIANCE."),
        value: Optional[str] = typer.Argument(
            None, metavar="[PRICE]", help="Pin the price here (until moved or cleared)."
        ),
        move: Optional[str] = typer.Option(None, "--move", help="Move by a percentage, e.g. +2% or -1.5%."),
        clear: bool = typer.Option(False, "--clear", help="Back to the seeded price path."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Show, set, move or clear an instrument's price.

        \b
        Example:  mci sim price NSE:RELIANCE 2500      mci sim price NSE:INFY --move -3%
        """
        from mci.commands import sim as command

        raise typer.Exit(command.price(url, instrument, value, move, clear, output_format(output)))

    @sim_app.command("faults")
    def faults(
        spec: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="The faults to inject from now on."),
        clear: bool = typer.Option(False, "--clear", help="No faults."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Show or set the injected faults (admin calls are never faulted).

        \b
        SPEC: comma-separated key=value, rates 0-1 or %, durations ms or s:
          latency=50ms  jitter=20ms  every request waits latency + random(0..jitter)
          5xx=0.3                    answer 500/502/503/504 without processing
          429=0.1 burst=5            start a burst of 5 "Too many requests" answers
          reset=0.05                 close the connection without processing
          lost=0.5                   place the order, then reset the connection (POST /orders only)
          seed=7                     the random sequence (default: the simulator's --seed)
          stream=cut                 the WebSocket ticker: reset its connections, refuse new ones
          stream_drop=0.2            lose tick messages     stream_delay=300ms  send ticks late
          circuit=INFY(+SBIN/upper)  lock at the lower (upper) circuit: no buyers (sellers)
          oncircuit=cancel           market orders meeting the lock are cancelled (LPP), not rested
          partial=0.3                every fill takes at most 30% of what is left of its order
        Example:  mci sim faults 5xx=30%,lost=0.5,seed=7      mci sim faults circuit=INFY      mci sim faults --clear
        """
        from mci.commands import sim as command

        raise typer.Exit(command.faults(url, spec, clear, output_format(output)))

    @sim_app.command("limits")
    def limits(
        spec: Optional[str] = typer.Argument(None, metavar="[SPEC]", help="The rate limits from now on."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Show or set the rate limits the simulator enforces (429 "Too many requests" beyond them).

        \b
        SPEC: `kite` (Kite's limits, the default), `off`, or overrides of Kite's, comma-separated:
          order=10/s order=400/min   place, modify and cancel together
          place=5000/day             placements per day (the exchange clock's IST date)
          quote=1/s                  /quote, /quote/ltp, /quote/ohlc
          other=10/s                 every other endpoint
          quote=off                  no limit on a bucket
        Example:  mci sim limits order=5/s      mci sim limits kite
        """
        from mci.commands import sim as command

        raise typer.Exit(command.limits(url, spec, output_format(output)))

    @sim_app.command("requests")
    def requests(
        bucket: Optional[str] = typer.Option(None, "--bucket", help="order, quote, other (default: all)."),
        window: float = typer.Option(1.0, "--window", help="Seconds: report the most requests within any such window."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """The request log (server timestamps): per bucket, requests, 429s and the most within any window.

        `--output json` lists every request: seq, at (server monotonic), wall, bucket, route, counted, status.
        `mci sim counters --reset` clears the log.

        \b
        Example:  mci sim requests --bucket order
        """
        from mci.commands import sim as command

        raise typer.Exit(command.requests(url, bucket, window, output_format(output)))

    @sim_app.command("counters")
    def counters(
        reset: bool = typer.Option(False, "--reset", help="Zero them (and show the zeros)."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Requests by route and status, orders placed by tag, faults injected by kind.

        \b
        Example:  mci sim counters --reset
        """
        from mci.commands import sim as command

        raise typer.Exit(command.counters(url, reset, output_format(output)))

    @sim_app.command("clock")
    def clock(
        at: Optional[str] = typer.Argument(None, metavar="[ISO-8601]", help="Set the clock (no offset means IST)."),
        frozen: bool = typer.Option(False, "--frozen", help="Stand still at that instant instead of ticking."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Show or set the simulator's clock (sessions, order times, market hours, the Date header).

        Moving it back makes a session issued after the new instant invalid until the clock catches up.

        \b
        Example:  mci sim clock 2026-11-23T09:14:55
        """
        from mci.commands import sim as command

        raise typer.Exit(command.clock(url, at, frozen, output_format(output)))

    # ignore_unknown_options: a short position's "-5" reaches QUANTITY instead of being read as an option.
    @sim_app.command("position", context_settings={"ignore_unknown_options": True})
    def position(
        instrument: str = typer.Argument(..., help="EXCHANGE:SYMBOL."),
        quantity: int = typer.Argument(..., help="Signed: a short is negative, e.g. -10."),
        price_: Optional[str] = typer.Option(None, "--price", help="Average price (default: the last price)."),
        product: str = typer.Option("MIS", "--product", help="MIS or CNC."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Set a position outright, as if carried in (no order, no trade).

        \b
        Example:  mci sim position NSE:INFY 10 --price 1500      mci sim position NSE:SBIN -5
        """
        from mci.commands import sim as command

        raise typer.Exit(command.position(url, instrument, quantity, price_, product.upper(), output_format(output)))

    @sim_app.command("order")
    def order(
        instrument: str = typer.Argument(..., help="EXCHANGE:SYMBOL."),
        side: str = typer.Argument(..., help="BUY or SELL."),
        quantity: int = typer.Argument(..., help="Shares."),
        price_: Optional[str] = typer.Option(None, "--price", help="Limit price (makes it a LIMIT order)."),
        trigger: Optional[str] = typer.Option(None, "--trigger", help="Trigger price (SL, SL-M)."),
        order_type: Optional[str] = typer.Option(None, "--type", help="MARKET, LIMIT, SL or SL-M."),
        product: str = typer.Option("MIS", "--product", help="MIS or CNC."),
        tag: Optional[str] = typer.Option(None, "--tag", help="Order tag (default: simadmin)."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Place an order at the exchange directly (no rate limit, no faults): e.g. a resting order left over.

        \b
        Example:  mci sim order NSE:INFY BUY 5 --price 1400
        """
        from mci.commands import sim as command

        raise typer.Exit(
            command.order(
                url,
                instrument,
                side.upper(),
                quantity,
                price_,
                trigger,
                order_type,
                product.upper(),
                tag,
                output_format(output),
            )
        )

    @sim_app.command("order-ips")
    def order_ips(
        ips: Optional[str] = typer.Argument(
            None, metavar="[IP,IP]", help='The new allow-list ("" refuses every order write).'
        ),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Show or set the client IPs the simulator accepts order writes from (Kite's static-IP rule).

        Reads (order book, positions, quotes) answer any address; place, modify and cancel from any other
        address are refused with 403 PermissionException, as Kite does since 2026-04-01.

        \b
        Example:  mci sim order-ips 203.0.113.7      mci sim order-ips 127.0.0.1,::1
        """
        from mci.commands import sim as command

        raise typer.Exit(command.order_ips(url, ips, output_format(output)))

    @sim_app.command("mis-block")
    def mis_block(
        instrument: Optional[str] = typer.Argument(None, help="EXCHANGE:SYMBOL (none: list the blocked ones)."),
        unblock: bool = typer.Option(False, "--unblock", help="Allow intraday orders in it again."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Block new intraday (MIS) exposure in an instrument, as Kite's RMS does for some stocks.

        An MIS order that adds exposure is accepted and turns REJECTED with a status_message; closing a
        position stays possible.

        \b
        Example:  mci sim mis-block NSE:SBIN      mci sim mis-block NSE:SBIN --unblock
        """
        from mci.commands import sim as command

        raise typer.Exit(command.mis_blocked(url, instrument, unblock, output_format(output)))

    @sim_app.command("freeze")
    def freeze(
        instrument: Optional[str] = typer.Argument(None, help="EXCHANGE:SYMBOL (none: list the lowered ones)."),
        quantity: Optional[int] = typer.Option(
            None, "--quantity", help="The new freeze quantity (rounded down to lots)."
        ),
        clear: bool = typer.Option(False, "--clear", help="Restore NSE's freeze quantity."),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """The `freeze` fault: lower an F&O instrument's freeze quantity, so that its exits must slice.

        An order above it is refused with Kite's RMS text and nothing is recorded.

        \b
        Example:  mci sim freeze NFO:NIFTY26DECFUT --quantity 130     mci sim freeze NFO:NIFTY26DECFUT --clear
        """
        from mci.commands import sim as command

        raise typer.Exit(command.freeze(url, instrument, quantity, clear, output_format(output)))

    @sim_app.command("circuit")
    def circuit(
        instrument: Optional[str] = typer.Argument(None, help="EXCHANGE:SYMBOL (none: list the circuits)."),
        lower: bool = typer.Option(False, "--lower", help="Lock it at its lower circuit: no buyers."),
        upper: bool = typer.Option(False, "--upper", help="Lock it at its upper circuit: no sellers."),
        lift: bool = typer.Option(False, "--lift", help="Lift the lock: the counter-side is back."),
        band: Optional[str] = typer.Option(None, "--band", help="Its price band, e.g. 5% (`default`: ±20%)."),
        cancel: bool = typer.Option(
            False, "--cancel", help="With --lower/--upper: market orders meeting the lock are cancelled (LPP)."
        ),
        url: str = url_opt,
        output: str = output_opt,
    ) -> None:
        """Lock an instrument at its circuit, lift it, or set its price band (to rehearse a stuck exit).

        Locked at the lower circuit, a SELL does not fill: a MARKET exit rests as a limit at the circuit price
        (Kite's market protection) or, with --cancel, the exchange cancels it. `mci sim faults circuit=INFY`
        does the same as a fault.

        \b
        Example:  mci sim circuit NSE:INFY --lower      mci sim circuit NSE:INFY --lift
        """
        from mci.errors import UsageError

        if lower and upper:
            raise UsageError("--lower and --upper given together", "a lock is at one circuit", "pass one of them")
        side = "lower" if lower else "upper" if upper else None
        from mci.commands import sim as command

        raise typer.Exit(command.circuit(url, instrument, side, lift, band, cancel, output_format(output)))

    app.add_typer(sim_app, name="sim")
