"""The exchange the drill trades on, seen from outside the API: the paper account's file, or a Kite simulator
the drill serves itself on a free loopback port.

The drill reads and moves the book here directly (the exchange's own truth, no
faults between): the verdict "flat" never depends on an API that may be lying.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mci.brokers.base import OPEN_ORDER_STATUSES
from mci.clock import Clock
from mci.errors import UnavailableError

if TYPE_CHECKING:
    from mci.brokers.sim.exchange import Exchange, OrderRecord, PositionRecord
    from mci.config.model import Profile
    from mci.drill.breach import BreachPlan

SIM_CAPITAL = Decimal("1000000")  # `mci sim kite`'s default opening cash
SIM_SEED = 1  # and its default price seed


class Venue:
    kind = "?"
    url: str | None = None

    def __init__(self, exchange: "Exchange"):
        self.exchange = exchange

    def positions(self) -> list["PositionRecord"]:
        return [p for p in self.exchange.positions() if p.quantity != 0]

    def orders(self) -> list["OrderRecord"]:
        return self.exchange.orders()

    def open_orders(self) -> list["OrderRecord"]:
        return [o for o in self.orders() if o.status in OPEN_ORDER_STATUSES]

    def capital(self) -> Decimal:
        return self.exchange.funds().opening

    def day_pnl(self) -> Decimal:
        return sum((p.pnl for p in self.exchange.positions()), Decimal(0))

    def last_prices(self, instruments: list[str]) -> dict[str, Decimal]:
        return self.exchange.ltp(instruments)

    def seed(self, plan: "BreachPlan") -> None:
        """Open the plan's positions at their pinned last price: no loss yet."""
        for leg in plan.legs:
            exchange, symbol = leg.instrument.split(":", 1)
            self.exchange.set_price(exchange, symbol, leg.entry)
            self.exchange.seed_position(exchange, symbol, "MIS", leg.quantity, leg.entry)

    def move(self, plan: "BreachPlan") -> None:
        for leg in plan.legs:
            exchange, symbol = leg.instrument.split(":", 1)
            self.exchange.set_price(exchange, symbol, leg.moved)

    def lift(self) -> None:
        """Lift the circuits the breach locked: only a simulator's market locks any."""

    def close(self) -> None:
        self.exchange.close()


class PaperVenue(Venue):
    """The paper account file in the sandbox, opened the way every mci process opens it."""

    kind = "paper"

    def __init__(self, profile: "Profile", state_dir: Path, clock: Clock):
        from mci.brokers.paper import PaperBroker

        self.broker = PaperBroker.from_profile(profile, state_dir, clock)
        super().__init__(self.broker.exchange)

    def session(self) -> Any:
        return self.broker.ensure_session()


class SimVenue(Venue):
    """A Kite simulator in this process (a thread): it dies with the drill, whatever happens."""

    kind = "kite"
    # The browser's first visit to the login page is not the Kite API (Kite serves it from another host): the
    # faults start with the first API call, `mci token login`'s session exchange, so a seed replays the same day.
    deferred_faults: Any = None

    def __init__(self, exchange: "Exchange", server: Any, market: Any = None):
        super().__init__(exchange)
        self.server = server
        self.url: str = server.url
        self.market = market  # the spec's faults of the market (circuit=, partial=): they strike with the breach

    @property
    def circuits(self) -> tuple[str, ...]:
        """The instruments the breach locks at their circuit ("NSE:TCS"; "/upper" dropped: the legs are long)."""
        return tuple(item.partition("/")[0] for item in self.market.circuit) if self.market is not None else ()

    def move(self, plan: "BreachPlan") -> None:
        """The breach's fall, then the market's faults: a fallen leg locked at its lower circuit, partial fills."""
        from mci.brokers.sim.faults import circuit_lock

        super().move(plan)
        if self.market is None:
            return
        for item in self.market.circuit:
            exchange, symbol, side = circuit_lock(item)
            self.exchange.lock_circuit(exchange, symbol, side, on_lock=self.market.on_circuit)
        if self.market.partial:
            self.exchange.set_partial(Decimal(f"{self.market.partial:g}"))

    def lift(self) -> None:
        """The counter-side comes back: every circuit the breach locked is lifted."""
        from mci.brokers.sim.faults import circuit_lock

        for item in self.market.circuit if self.market is not None else ():
            self.exchange.lift_circuit(*circuit_lock(item)[:2])

    @classmethod
    def start(cls, state_dir: Path, clock: Clock, *, api_key: str, api_secret: str, faults: Any) -> "SimVenue":
        from mci.brokers.sim.admin import SimClock
        from mci.brokers.sim.exchange import Exchange
        from mci.brokers.sim.kite_server import serve

        sim_clock = SimClock(clock.now())
        exchange = Exchange(state_dir / "kite-sim.db", sim_clock, seed=SIM_SEED, capital=SIM_CAPITAL)
        try:
            server = serve("127.0.0.1", 0, exchange, api_key=api_key, api_secret=api_secret)
        except OSError as exc:
            exchange.close()
            raise UnavailableError(
                "the drill cannot start its Kite simulator on 127.0.0.1",
                f"the system said: {exc}",
                "check the loopback interface, then run the drill again",
            ) from None
        server.app.redirect_url = server.url + "/redirect"
        market = faults if faults is not None and faults.market else None
        venue = cls(exchange, server, market)
        if faults is not None and faults.active:
            wire = replace(faults, circuit=(), partial=0.0)  # the market's faults wait for the breach (move)
            venue.deferred_faults = lambda: server.app.set_faults(wire)
        return venue

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self.server.app.counters.snapshot()
        return counters

    def close(self) -> None:
        try:
            self.server.shutdown()
        finally:
            super().close()
