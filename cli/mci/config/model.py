"""The typed model a validated profile becomes. Everything downstream reads these, never raw YAML.

Values are exact: money and ratios Decimal (a percentage is a fraction:
2% -> Decimal('0.02')), durations timedelta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from mci.errors import Location


@dataclass(frozen=True)
class RetryPolicy:
    """Declared `retry:` block; built into tenacity values in one place (engine.retrying)."""

    attempts: int = 1  # total tries, first included
    initial: timedelta = timedelta(milliseconds=200)
    max_wait: timedelta = timedelta(seconds=5)
    jitter: bool = True


@dataclass(frozen=True)
class CheckSpec:
    id: str
    kind: str
    title: str
    params: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    timeout: timedelta = timedelta(seconds=10)
    retry: RetryPolicy = RetryPolicy()
    breaker: str | None = None
    severity: str = "critical"  # critical: a failure fails the run; advisory: a failure only warns
    how: str | None = None  # operator's own remedy, shown as HOW when the check fails
    location: Location | None = None


@dataclass(frozen=True)
class Checklist:
    name: str
    description: str
    checks: tuple[CheckSpec, ...]
    path: Path | None = None

    def by_id(self) -> dict[str, CheckSpec]:
        return {c.id: c for c in self.checks}


@dataclass(frozen=True)
class StepSpec:
    id: str
    kind: str
    title: str
    params: Mapping[str, Any]
    timeout: timedelta = timedelta(seconds=30)
    retry: RetryPolicy = RetryPolicy()
    breaker: str | None = None
    on_error: str = "abort"  # abort | continue | escalate
    location: Location | None = None


@dataclass(frozen=True)
class Sequence:
    name: str
    description: str
    steps: tuple[StepSpec, ...]
    path: Path | None = None
    scope: Mapping[str, Any] | None = None  # an emergency's declared scope (mci.flatten.scope.Selection.from_dict)


@dataclass(frozen=True)
class TokenStoreConfig:
    path: Path | None = None  # the encrypted token file; None = in the state directory
    key_file: Path | None = None  # a 0600 file holding the encryption key
    key: str | None = field(default=None, repr=False)  # the key itself, from ${env:...}; never literal, never logged


@dataclass(frozen=True)
class BrokerConfig:
    kind: str  # paper | kite
    capital: Decimal | None = None  # paper: opening cash
    seed: int = 1
    slippage: Decimal = Decimal("0")  # fraction of price, paper/sim market fills
    api_key: str | None = None
    api_secret: str | None = field(
        default=None, repr=False
    )  # interpolated from ${env:...}; never literal, never logged
    root: str | None = None  # Kite API root; None = the real API
    login_url: str | None = None
    timeout: timedelta = timedelta(seconds=7)
    redirect_url: str | None = None
    token_store: TokenStoreConfig | None = None
    # Sent on every MARKET and SL-M order: -1 (automatic) or a percentage in (0, 100]; Kite refuses none and 0.
    market_protection: Decimal = Decimal(-1)
    static_ips: tuple[str, ...] | None = None  # kite: the addresses registered on the developer console


@dataclass(frozen=True)
class MarketConfig:
    calendar: str = "nse"  # a calendar name, or a calendar file's path relative to the profile
    segment: str = "equity"
    timezone: str = "Asia/Kolkata"
    # segment (CM, FO, CD, MCX) -> the broker's own intraday square-off; a segment not given takes the
    # broker's default (mci.market.cutoffs)
    broker_square_off: Mapping[str, time] = field(default_factory=dict)
    # segment -> no new intraday (MIS/CO/BO) entry from this minute on; "*" for every segment. Neither given:
    # watch.square_off, else the broker's square-off.
    entry_cutoff: Mapping[str, time] = field(default_factory=dict)


@dataclass(frozen=True)
class RiskLimits:
    """The `risk:` block. Fractions are of capital unless said otherwise; None is "not declared"."""

    max_risk_per_trade: Decimal  # fraction of capital
    max_daily_loss: Decimal  # fraction of capital
    max_drawdown: Decimal  # fraction, from the intraday peak
    max_position_loss: Decimal  # fraction of capital
    max_open_positions: int
    min_risk_reward: Decimal
    price_band: Decimal  # fraction around LTP
    require_stop_loss: bool = True
    max_quantity_per_order: int | None = None
    max_notional_per_order: Decimal | None = None  # rupees
    max_orders_per_second: Decimal | None = None
    max_order_to_trade_ratio: Decimal | None = None  # orders placed per trade executed, for the day
    max_signal_age: timedelta | None = None
    warn_at: Decimal = Decimal("0.8")  # soft threshold: this fraction of a hard limit warns
    allowed_exchanges: tuple[str, ...] | None = None
    allowed_products: tuple[str, ...] | None = None
    allowed_symbols: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WatchConfig:
    """The `watch:` block: how `mci watch` polls and when it acts on the clock."""

    interval: timedelta = timedelta(seconds=1)
    square_off: time | None = None  # market-timezone time of day: run the end-of-day sequence
    token_warning: timedelta = timedelta(minutes=30)  # warn this long before the token expires
    blind_warning: timedelta = timedelta(seconds=10)  # warn when the account could not be read for this long
    # This share of the day's loss limits (daily loss, drawdown) pauses entries (running -> reducing); None: never.
    reduce_at: Decimal | None = None
    stream: bool = True  # judge on the broker's live feed (ticks, order updates); False: poll every interval
    reconcile: timedelta = timedelta(seconds=5)  # on the stream: the full REST read that corrects drift


@dataclass(frozen=True)
class Notifier:
    """One entry of `notifications:` (mci.observability.notify): the events it announces, and a command or a webhook."""

    on: frozenset[str]
    command: tuple[str, ...] | None = None
    webhook: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may carry a secret: never print
    timeout: timedelta = timedelta(seconds=5)

    def as_job(self) -> dict[str, Any]:
        """What the detached sender needs (python -m mci.observability.notify)."""
        return {
            "command": list(self.command) if self.command else None,
            "webhook": self.webhook,
            "headers": dict(self.headers),
            "timeout": self.timeout.total_seconds(),
        }


@dataclass(frozen=True)
class BreakerConfig:
    fail_max: int = 5
    reset_timeout: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class ScanConfig:
    checklist: Checklist
    max_age: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    broker: BrokerConfig
    market: MarketConfig
    risk: RiskLimits
    breakers: Mapping[str, BreakerConfig]
    scan: ScanConfig
    engine: Mapping[str, Any] = field(default_factory=dict)
    shutdown: Mapping[str, Sequence] = field(default_factory=dict)  # graceful | end_of_day | emergency
    ignite: Sequence | None = None  # None: the shipped rules/ignition/standard.yaml
    gates: Mapping[str, Checklist] = field(default_factory=dict)
    watch: WatchConfig = field(default_factory=WatchConfig)
    notifications: tuple[Notifier, ...] = ()
    raw: Mapping[str, Any] = field(
        default_factory=dict, repr=False
    )  # the interpolated document, secrets included: never print it
