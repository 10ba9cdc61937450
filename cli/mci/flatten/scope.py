"""The scope of a scoped emergency: a product, a strategy's tag prefix, instruments; None is the whole account.

`mci kill --product MIS`, `--tag PREFIX`, `--symbol NSE:INFY` (and an emergency sequence's `scope:`) build a
Selection. Values of one kind add up (MIS or NRML), kinds narrow each other (MIS *and* tag `demo`).

Orders are in scope by their instrument, product and tag. A position has no tag at the broker, so the
quantity a strategy owns is derived from the day's orders: the signed filled quantity of the orders whose
tag starts with the prefix, less what mci's own square-offs (20-character `f...` tags, mci.flatten.tags)
have closed on that instrument since, never more than the position itself nor on its other side. So
`--tag` closes what the strategy opened today and leaves the rest of a shared position alone. Known
limit: a position the strategy carried from an earlier day has no order today and is out of its scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from mci.brokers.base import Order, Position
from mci.errors import UsageError
from mci.flatten.tags import MARK, TAG_LENGTH

PRODUCTS = ("MIS", "CNC", "NRML", "MTF")


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def _mci_square_off(tag: str | None) -> bool:
    return bool(tag) and len(tag or "") == TAG_LENGTH and (tag or "").lower().startswith(MARK) and (tag or "").isalnum()


@dataclass(frozen=True)
class Selection:
    products: frozenset[str] = field(default_factory=frozenset)
    symbols: frozenset[str] = field(default_factory=frozenset)  # EXCHANGE:SYMBOL, or SYMBOL on any exchange
    tag: str | None = None  # a prefix, compared without case

    @classmethod
    def of(cls, products: Iterable[str] = (), symbols: Iterable[str] = (), tag: str | None = None) -> "Selection":
        prods = frozenset(p.strip().upper() for p in products if p.strip())
        unknown = sorted(prods - set(PRODUCTS))
        if unknown:
            raise UsageError(
                f"unknown product {', '.join(unknown)}",
                f"Kite's products are {', '.join(PRODUCTS)}",
                "pass --product MIS (repeat it for more than one)",
            )
        syms = frozenset(s.strip().upper() for s in symbols if s.strip())
        if tag is not None and not tag.strip():
            raise UsageError(
                "--tag needs a prefix",
                "an empty prefix would match every order",
                "pass the strategy's tag prefix, e.g. --tag demo; `mci kill` alone is account-wide",
            )
        return cls(prods, syms, tag.strip().lower() if tag else None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Selection | None":
        if not data:
            return None
        return cls.of(data.get("products") or (), data.get("symbols") or (), data.get("tag"))

    def as_dict(self) -> dict[str, Any]:
        return {"products": sorted(self.products), "symbols": sorted(self.symbols), "tag": self.tag}

    def label(self) -> str:
        parts = []
        if self.products:
            parts.append("product " + "|".join(sorted(self.products)))
        if self.symbols:
            parts.append("symbol " + "|".join(sorted(self.symbols)))
        if self.tag:
            parts.append(f"tag {self.tag}*")
        return ", ".join(parts) or "the whole account"

    def narrow(self, other: "Selection | None") -> "Selection":
        """Both scopes at once (a sequence's declared scope and the command's flags)."""
        if other is None:
            return self
        products = (
            self.products & other.products if self.products and other.products else self.products or other.products
        )
        symbols = self.symbols & other.symbols if self.symbols and other.symbols else self.symbols or other.symbols
        tag = self.tag or other.tag
        if self.tag and other.tag:
            if not (self.tag.startswith(other.tag) or other.tag.startswith(self.tag)):
                tag = None
            else:
                tag = max(self.tag, other.tag, key=len)
        disjoint = (
            (self.products and other.products and not products)
            or (self.symbols and other.symbols and not symbols)
            or (self.tag and other.tag and tag is None)
        )
        if disjoint:
            raise UsageError(
                f"the scope {other.label()} lies outside the declared scope {self.label()}",
                "the emergency sequence declares its scope; a kill can only narrow it",
                "run the kill without the flags, or with flags inside the declared scope",
            )
        return replace(self, products=products, symbols=symbols, tag=tag)

    # ------------------------------------------------------------ membership

    def instrument_in(self, exchange: str, symbol: str, product: str) -> bool:
        if self.products and product.upper() not in self.products:
            return False
        if self.symbols:
            full = f"{exchange}:{symbol}".upper()
            return full in self.symbols or symbol.upper() in self.symbols
        return True

    def tag_in(self, tag: str | None) -> bool:
        return self.tag is None or (tag or "").lower().startswith(self.tag)

    def order_in(self, o: Order) -> bool:
        return self.instrument_in(o.exchange, o.symbol, o.product) and self.tag_in(o.tag)

    def quantity_in(self, p: Position, orders: Iterable[Order]) -> int:
        """The signed part of position `p` in scope (0: none of it)."""
        if not p.quantity or not self.instrument_in(p.exchange, p.symbol, p.product):
            return 0
        if self.tag is None:
            return p.quantity
        owned = 0
        for o in orders:
            if (o.exchange, o.symbol, o.product) != (p.exchange, p.symbol, p.product) or not o.filled_quantity:
                continue
            signed = o.filled_quantity if o.side == "BUY" else -o.filled_quantity
            if self.tag_in(o.tag):
                owned += signed
            elif _mci_square_off(o.tag):
                owned += signed  # an emergency's close of this instrument counts against the strategy first
        if _sign(owned) != _sign(p.quantity):
            return 0
        return _sign(owned) * min(abs(owned), abs(p.quantity))

    def positions(self, positions: Iterable[Position], orders: Iterable[Order]) -> list[Position]:
        """The positions in scope, each with only its quantity in scope."""
        orders = list(orders)
        out = []
        for p in positions:
            q = self.quantity_in(p, orders)
            if q:
                out.append(p if q == p.quantity else replace(p, quantity=q))
        return out

    def split(
        self, positions: Iterable[Position], orders: Iterable[Order]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(what is open in scope, what is open outside it), as the kill's verdict lists them."""
        orders = list(orders)
        inside: list[dict[str, Any]] = []
        outside: list[dict[str, Any]] = []
        for p in positions:
            if not p.quantity:
                continue
            q = self.quantity_in(p, orders)
            entry: dict[str, Any] = {"type": "position", "instrument": f"{p.exchange}:{p.symbol}", "product": p.product}
            if q:
                inside.append({**entry, "quantity": q})
            if p.quantity - q:
                outside.append({**entry, "quantity": p.quantity - q})
        for o in orders:
            if not o.is_open:
                continue
            item: dict[str, Any] = {
                "type": "order",
                "order_id": o.order_id,
                "instrument": f"{o.exchange}:{o.symbol}",
                "product": o.product,
                "side": o.side,
                "quantity": o.quantity,
                "order_type": o.order_type,
                "status": o.status,
                "tag": o.tag,
            }
            (
                inside
                if self.order_in(o) or _mci_square_off(o.tag) and self.instrument_in(o.exchange, o.symbol, o.product)
                else outside
            ).append(item)
        return inside, outside


def describe(items: Iterable[Mapping[str, Any]]) -> list[str]:
    """`NSE:TCS CNC +5`, `order 17 BUY 2 NSE:INFY CNC LIMIT OPEN`: what an operator acts on."""
    out = []
    for x in items:
        if x.get("type") == "position":
            out.append(f"{x['instrument']} {x.get('product', '')} {int(x['quantity']):+d}")
        else:
            out.append(
                f"order {x.get('order_id')} {x.get('side')} {x.get('quantity')} {x['instrument']} "
                f"{x.get('product', '')} {x.get('order_type', '')} {x.get('status', '')}".rstrip()
            )
    return out
