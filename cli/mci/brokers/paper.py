"""The `paper` broker: the Broker protocol over the simulated exchange, in-process.

The account lives in `<state_dir>/paper-<profile>.db`, so the 09:00 scan, the
09:15 ignite and the 15:15 shutdown (separate processes) trade one account.
It issues its own session (a fresh install scans green with no Kite account);
the access token stays inside this object: never logged, never in a repr.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from mci.brokers import kite_rules
from mci.brokers.base import Funds, Gtt, InstrumentSpec, Order, OrderRequest, Position, SessionInfo
from mci.brokers.sim.exchange import Exchange, OrderEvent, OrderRecord, PositionRecord, TradeRecord
from mci.clock import Clock
from mci.errors import ConfigError

if TYPE_CHECKING:
    from mci.brokers.paper_stream import PaperStream
    from mci.config.model import Profile

PAPER_USER = "PAPER1"
_PROFILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _order(r: OrderRecord) -> Order:
    return Order(
        order_id=r.order_id,
        exchange=r.exchange,
        symbol=r.symbol,
        side=r.side,
        quantity=r.quantity,
        order_type=r.order_type,
        product=r.product,
        price=r.price,
        trigger_price=r.trigger_price,
        status=r.status,
        tag=r.tag,
        placed_at=r.placed_at,
        filled_quantity=r.filled_quantity,
        average_price=r.average_price,
        variety=r.variety,
        parent_order_id=r.parent_order_id,
        status_message=r.status_message,
    )


def _position(p: PositionRecord) -> Position:
    return Position(
        exchange=p.exchange,
        symbol=p.symbol,
        product=p.product,
        quantity=p.quantity,
        average_price=p.average_price,
        last_price=p.last_price,
        realised=p.realised,
        unrealised=p.unrealised,
        instrument_token=p.instrument_token or None,
    )


class PaperBroker:
    name = "paper"

    def __init__(
        self,
        state_dir: Path,
        profile_name: str,
        clock: Clock,
        *,
        capital: Decimal,
        seed: int,
        slippage: Decimal = Decimal(0),
        market_protection: Decimal = kite_rules.AUTO_MARKET_PROTECTION,
    ):
        if not _PROFILE_RE.match(profile_name or ""):
            raise ConfigError(
                f"invalid profile name {profile_name!r} for a paper account",
                "the paper account file is named after the profile, so the name must be a plain file name",
                "name the profile with letters, digits, '.', '_' or '-'",
            )
        self.clock = clock
        # Paper keeps Kite's rule (the exchange refuses MARKET/SL-M without it): a paper rehearsal stays honest.
        self.market_protection = Decimal(market_protection)
        self.db_path = Path(state_dir) / f"paper-{profile_name}.db"
        self.exchange = Exchange(self.db_path, clock, seed=seed, capital=capital, slippage=slippage)
        self._token: str | None = None  # only ever held here

    @classmethod
    def from_profile(cls, profile: "Profile", state_dir: Path, clock: Clock) -> "PaperBroker":
        broker = profile.broker
        if broker.kind != "paper":
            raise ConfigError(
                f"profile {profile.name!r} uses the {broker.kind!r} broker, not paper",
                "only a paper profile has a simulated account",
                "use the broker the profile names",
            )
        if broker.capital is None:
            # No default: an invented balance would make the balance check pass on nothing.
            raise ConfigError(
                f"profile {profile.name!r}: the paper broker has no capital",
                "a paper account starts with the cash the profile gives it",
                "set broker.capital, e.g. capital: 1000000",
            )
        return cls(
            state_dir,
            profile.name,
            clock,
            capital=broker.capital,
            seed=broker.seed,
            slippage=broker.slippage,
            market_protection=broker.market_protection,
        )

    def __repr__(self) -> str:
        return f"PaperBroker(db={str(self.db_path)!r})"

    # ------------------------------------------------------------ session

    def session(self) -> SessionInfo:
        record = self.exchange.latest_session(PAPER_USER)
        if record is None:
            return SessionInfo(False, None, None, None, "no paper session has been issued yet")
        return SessionInfo(record.valid, record.user_id, record.issued_at, record.expires_at, record.reason)

    def ensure_session(self) -> SessionInfo:
        current = self.session()
        if current.valid:
            return current
        self._token, _, _ = self.exchange.issue_session(PAPER_USER)
        return self.session()

    def logout(self) -> None:
        """End every paper session (the clear-sensitive-data step of a shutdown)."""
        self.exchange.invalidate_user(PAPER_USER)
        self._token = None

    def server_time(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------ account

    def funds(self) -> Funds:
        f = self.exchange.funds()
        return Funds(available=f.available, used=f.used, opening=f.opening)

    def stream(self) -> "PaperStream":
        """The same feed interface as Kite's ticker, in-process (mci.brokers.paper_stream)."""
        from mci.brokers.paper_stream import PaperStream

        return PaperStream(self.exchange)

    def positions(self) -> list[Position]:
        return [_position(p) for p in self.exchange.positions()]

    def orders(self) -> list[Order]:
        return [_order(o) for o in self.exchange.orders()]

    def orders_by_tag(self, tag: str) -> list[Order]:
        return [_order(o) for o in self.exchange.orders_by_tag(tag)]

    def order_history(self, order_id: str) -> list[OrderEvent]:
        return self.exchange.order_history(order_id)

    def trades(self) -> list[TradeRecord]:
        return self.exchange.trades()

    def ltp(self, instruments: Iterable[str]) -> dict[str, Decimal]:
        return self.exchange.ltp(instruments)

    def circuit_limits(self, instruments: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
        """(lower, upper) circuit limits keyed "EXCHANGE:SYMBOL"; unknown instruments are left out."""
        out = {}
        for key in instruments:
            exchange, _, symbol = key.partition(":")
            if self.exchange.universe.get(exchange, symbol) is not None:
                out[key] = self.exchange.circuit_limits(exchange, symbol)
        return out

    # ------------------------------------------------------------ orders

    def instruments(self, exchanges: Iterable[str]) -> dict[str, InstrumentSpec]:
        wanted = {e.upper() for e in exchanges}
        lowered = self.exchange.freeze_overrides()
        return {
            i.key: InstrumentSpec(i.tick_size, i.lot_size, lowered.get(i.key, i.freeze_quantity))
            for i in self.exchange.universe
            if i.exchange in wanted
        }

    def place_order(self, request: OrderRequest) -> str:
        if request.order_type in kite_rules.NEEDS_MARKET_PROTECTION and request.market_protection is None:
            request = replace(request, market_protection=self.market_protection)
        return self.exchange.place_order(request)

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        market_protection: Decimal | None = None,
    ) -> None:
        self.exchange.modify_order(
            order_id, quantity=quantity, price=price, trigger_price=trigger_price, market_protection=market_protection
        )

    def cancel_order(self, order_id: str, *, variety: str | None = None, parent_order_id: str | None = None) -> None:
        """Cancel on the order's own variety; a cover order's stop-loss leg is exited with its parent_order_id."""
        self.exchange.cancel_order(order_id, variety=variety, parent_order_id=parent_order_id)

    def gtts(self) -> list[Gtt]:
        return [
            Gtt(
                g["id"],
                g["status"],
                str(g["body"]["condition"].get("exchange", "")),
                str(g["body"]["condition"].get("tradingsymbol", "")),
                str(g["body"]["type"]),
            )
            for g in self.exchange.gtts()
        ]

    def delete_gtt(self, trigger_id: int) -> None:
        self.exchange.delete_gtt(trigger_id)

    def probe_order_path(self) -> None:
        """Paper has no static-IP rule: its write path is this process."""
        return None

    def close(self) -> None:
        self._token = None
        self.exchange.close()
