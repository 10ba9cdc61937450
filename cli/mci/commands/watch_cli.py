"""`mci watch` on the main app; the watcher loads only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

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
    def watch(
        interval: Optional[str] = typer.Option(
            None,
            "--interval",
            metavar="DURATION",
            help="Time between polls, e.g. 1s, 500ms (default: the profile's watch.interval).",
        ),
        poll: bool = typer.Option(
            False, "--poll", help="Poll every interval, not the broker's live feed (watch.stream: false)."
        ),
        once: bool = typer.Option(
            False,
            "--once",
            help="Read and judge the account once, print the usages and exit; "
            "acts on nothing (no emergency, no square-off).",
        ),
        profile: Optional[Path] = profile_opt,
        at: Optional[str] = at_opt,
        output: str = output_opt,
        metrics_file: Optional[Path] = metrics_opt,
    ) -> None:
        """The intraday risk guard: poll the account, trip the kill switch on a hard-limit breach.

        \b
        Every read judges the day's P&L (realised + unrealised), the intraday peak and drawdown,
        each position's loss, the open positions and the order rate against the profile's risk: limits.
        On the broker's live feed (watch.stream, default; Kite's WebSocket ticker) every tick marks the
        positions and is judged, an order update or every watch.reconcile (5s) re-reads the account;
        a dead or silent stream reconnects with backoff while the watcher polls every interval.
        A soft threshold (risk.warn_at, e.g. 80%) warns once per rule; a hard-limit breach runs the
        emergency sequence (cancel every order, square off every position, latch halted) and stops.
        At watch.square_off (e.g. 15:15 IST; on a day whose session closes early, e.g. Muhurat
        trading, as long before that close) it runs the end-of-day sequence and stops; started
        after that time on a day it has not squared off, it runs it at once. A failed read (broker
        down, breaker open) is never a breach: it warns after watch.blind_warning without a good read.
        SIGTERM or Ctrl-C stops it after the current poll. -o json writes one JSON object per line.
        \b
        Example:  mci watch -p profiles/live.yaml              (systemd unit or a 09:14 cron)
                  mci watch --once -o json                     (a report: exit 1 if a limit is breached)
        Exit: 0 stopped by a signal, or squared off with no MIS position left; --once: ok or warnings
              1 a limit was breached: the emergency ran, the account is flat and halted; --once: a breach
              2 usage or configuration invalid   3 (--once) the account could not be read
              4 refused: the profile is halted (at start, or by another command while watching)
              5 another `mci watch` guards this profile   6 positions or orders remain after the emergency/square-off
        """
        clock, directory = setup(output, at)
        from mci.commands import watch as command

        raise typer.Exit(
            command.run(
                profile, clock, directory, output, interval=interval, once=once, metrics_file=metrics_file, poll=poll
            )
        )
