"""The account half of `mci status` and its terminal layout: positions, order activity, risk usage, P&L.

`read_account` makes one broker read (funds, positions, orders, last prices) and judges every account-level
limit with the one risk model (mci.risk.assess), so the bars here are the numbers `mci watch` acts on. When
the broker cannot be read (no token, Kite down, breaker open) the four panels say "unavailable: WHY" and the
rest of `mci status` is unaffected.

`render` draws the six panels of the MCI roadmap as one rich renderable (a grid of panels, so it fits any
terminal height); rich is imported here only, never at start-up.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import JustifyMethod, RenderableType
    from rich.panel import Panel
    from rich.table import Table

    from mci.clock import Clock
    from mci.config.model import Profile

BAR_WIDTH = 20
LAST_ORDERS = 5


def _money(value: Decimal | str | None) -> str:
    from mci.units import format_money

    return "—" if value is None else format_money(Decimal(value))


def read_account(profile: "Profile", clock: "Clock", state_dir: Path) -> dict[str, Any]:
    """{"ok", "error", "positions", "orders", "risk", "pnl"}: plain JSON data, never an exception."""
    broker = None
    try:
        from mci.brokers.factory import broker_for
        from mci.risk import Account, RiskModel, assess

        broker = broker_for(profile, state_dir, clock)
        now = clock.now()
        funds = broker.funds()
        positions = broker.positions()
        orders = broker.orders()
        account = Account.from_answers(broker, funds, positions, orders, at=now)  # the panels show the same answers
        usages = assess(RiskModel.of(profile.risk, account.capital), account) if account.capital > 0 else []
    except Exception as exc:  # noqa: BLE001 — a status view shows why, it never crashes on a broker
        return {"ok": False, "error": _why(exc), "positions": None, "orders": None, "risk": None, "pnl": None}
    finally:
        if broker is not None:
            try:
                broker.close()
            except Exception:  # noqa: BLE001
                pass
    by_status: dict[str, int] = {}
    for o in orders:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    recent = sorted(orders, key=lambda o: o.placed_at, reverse=True)[:LAST_ORDERS]
    realised = sum((p.realised for p in positions), Decimal(0))
    unrealised = sum((p.unrealised for p in positions), Decimal(0))
    return {
        "ok": True,
        "error": None,
        "positions": [
            {
                "instrument": f"{p.exchange}:{p.symbol}",
                "product": p.product,
                "quantity": p.quantity,
                "average_price": str(p.average_price),
                "last_price": str(p.last_price),
                "pnl": str(p.day_pnl),
            }
            for p in positions
        ],
        "orders": {
            "total": len(orders),
            "open": sum(1 for o in orders if o.is_open),
            "trades": account.trades,
            "by_status": by_status,
            "recent": [
                {
                    "order_id": o.order_id,
                    "placed_at": o.placed_at.isoformat(),
                    "side": o.side,
                    "quantity": o.quantity,
                    "instrument": f"{o.exchange}:{o.symbol}",
                    "status": o.status,
                    "tag": o.tag,
                }
                for o in recent
            ],
        },
        "risk": [u.as_dict() for u in usages],
        "pnl": {
            "day": str(account.day_pnl),
            "realised": str(realised),
            "unrealised": str(unrealised),
            "capital": str(account.capital),
            "equity": str(account.equity),
            "available": str(funds.available),
            "used_margin": str(funds.used),
        },
    }


def _why(exc: BaseException) -> str:
    from mci.errors import MciError

    if isinstance(exc, MciError):
        return exc.what + (f" ({exc.why})" if getattr(exc, "why", "") else "")
    return f"{type(exc).__name__}: {exc}"


def bar(used: Decimal, width: int = BAR_WIDTH) -> str:
    """`[########------------]` filled to used (1 = at the limit), capped at the width."""
    filled = max(0, min(width, int((used * width).to_integral_value())))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def percent(used: Decimal) -> str:
    """A share of a limit as whole percent, " 80%": the ratio stays Decimal, as the money it compares."""
    return f"{int((used * 100).to_integral_value()):3d}%"


# ---------------------------------------------------------------- the terminal layout


def render(snapshot: dict[str, Any], now_text: str) -> "RenderableType":
    """The six panels as one renderable: session | engine, positions | orders, risk | P&L."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    def panel(title: str, body: "RenderableType", style: str = "cyan") -> "Panel":
        return Panel(body, title=f"[bold]{title}[/bold]", title_align="left", border_style=style, expand=True)

    def kv(rows: list[tuple[str, str]]) -> "Table":
        t = Table.grid(padding=(0, 1))
        t.add_column(style="bold", no_wrap=True)
        t.add_column()
        for k, v in rows:
            t.add_row(k, v)
        return t

    account = {**snapshot["account"], **{k: snapshot[k] for k in ("positions", "orders", "risk", "pnl")}}
    unavailable = Text(f"unavailable: {account['error']}", style="yellow") if not account["ok"] else None

    # 1. session and lifecycle
    life = snapshot["lifecycle"]
    scan = snapshot["last_scan"]
    rows = [
        ("profile", f"{snapshot['profile']} ({snapshot['broker']})"),
        ("lifecycle", f"{life['state'].upper()}" + (f" — {life['reason']}" if life.get("reason") else "")),
        ("since", snapshot["lifecycle_since_text"]),
        (
            "last scan",
            "none" if scan is None else f"#{scan['id']} {scan['status']}, {'fresh' if scan['fresh'] else 'stale'}",
        ),
        ("breakers", ", ".join(f"{n} {b['state']}" for n, b in snapshot["breakers"].items()) or "none"),
        (
            "lock",
            "free"
            if snapshot["lock"] is None
            else f"pid {snapshot['lock']['pid']} (mci {snapshot['lock']['command']})",
        ),
    ]
    if snapshot["runs"]:
        r = snapshot["runs"][0]
        rows.append(("last run", f"{r['purpose']} {r['status']}"))
    if life.get("note"):
        rows.append(("WARNING", life["note"]))
    state_style = {"running": "green", "armed": "green", "reducing": "yellow", "halted": "red", "blocked": "red"}.get(
        life["state"], "cyan"
    )
    session = panel("Session", kv(rows), state_style)

    # 2. engine health
    engine = snapshot["engine"]
    rows = [
        (
            "engine",
            "not running"
            if engine is None
            else f"pid {engine['pid']} ({engine['how']}), {'HEALTHY' if engine['healthy'] else 'NOT HEALTHY'}",
        )
    ]
    if engine is not None:
        rows.append(("detail", str(engine["detail"])))
    rows.append(("watcher", snapshot["watcher_text"]))
    rows.append(("state dir", snapshot["state_dir"]))
    engine_style = "cyan" if engine is None else ("green" if engine["healthy"] else "red")
    engine_panel = panel("Engine", kv(rows), engine_style)

    # 3. positions
    positions: RenderableType
    if unavailable is not None:
        positions = unavailable
    elif not account["positions"]:
        positions = Text("no positions")
    else:
        positions = Table(box=None, pad_edge=False, expand=True)
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("instrument", "left"),
            ("prod", "left"),
            ("qty", "right"),
            ("avg", "right"),
            ("ltp", "right"),
            ("P&L", "right"),
        )
        for col, justify in columns:
            positions.add_column(col, justify=justify, no_wrap=True)
        for p in account["positions"]:
            pnl = Decimal(p["pnl"])
            positions.add_row(
                p["instrument"],
                p["product"],
                str(p["quantity"]),
                p["average_price"],
                p["last_price"],
                Text(_money(pnl), style="green" if pnl >= 0 else "red"),
            )

    # 4. order activity
    orders: RenderableType
    if unavailable is not None:
        orders = unavailable
    else:
        o = account["orders"]
        head = Text(
            f"orders {o['total']} · open {o['open']} · filled {o['trades']}"
            + ("" if not o["by_status"] else " · " + ", ".join(f"{k} {v}" for k, v in sorted(o["by_status"].items())))
        )
        if o["recent"]:
            table = Table(box=None, pad_edge=False, expand=True)
            for col in ("time", "side", "qty", "instrument", "status"):
                table.add_column(col, no_wrap=True)
            for r in o["recent"]:
                table.add_row(r["placed_at"][11:19], r["side"], str(r["quantity"]), r["instrument"], r["status"])
            orders = Group(head, table)
        else:
            orders = head

    # 5. risk usage against every limit
    risk: RenderableType
    if unavailable is not None:
        risk = unavailable
    else:
        risk = Table.grid(padding=(0, 1))
        for col in ("rule", "bar", "used", "text"):
            risk.add_column(no_wrap=col != "text")
        for u in account["risk"]:
            used = Decimal(u["used"])
            style = {"ok": "green", "warn": "yellow", "breach": "bold red"}[u["level"]]
            risk.add_row(u["rule"], Text(bar(used, 12), style=style), Text(percent(used), style=style), u["text"])
    risk_level = (
        "cyan"
        if unavailable is not None
        else (
            "red"
            if any(u["level"] == "breach" for u in account["risk"])
            else "yellow"
            if any(u["level"] == "warn" for u in account["risk"])
            else "green"
        )
    )

    # 6. P&L
    pnl_body: RenderableType
    if unavailable is not None:
        pnl_body = unavailable
    else:
        p = account["pnl"]
        day = Decimal(p["day"])
        pnl_body = kv(
            [
                ("day P&L", _money(day)),
                ("realised", _money(p["realised"])),
                ("unrealised", _money(p["unrealised"])),
                ("capital", _money(p["capital"])),
                ("equity", _money(p["equity"])),
                ("available", _money(p["available"])),
                ("margin used", _money(p["used_margin"])),
            ]
        )

    def row(left: "RenderableType", right: "RenderableType", ratios: tuple[int, int] = (1, 1)) -> "Table":
        grid = Table.grid(expand=True)
        grid.add_column(ratio=ratios[0])
        grid.add_column(ratio=ratios[1])
        grid.add_row(left, right)
        return grid

    title = Text(f"mci status — {snapshot['profile']} — {now_text}  (Ctrl-C to quit)", style="bold")
    return Group(
        title,
        row(session, engine_panel),
        row(panel("Positions", positions), panel("Orders", orders)),
        row(panel("Risk usage", risk, risk_level), panel("P&L", pnl_body), (5, 2)),
    )


def text_lines(account: dict[str, Any]) -> list[str]:
    """The account panels as plain lines, for `mci status` without --watch (pipes, cron mail, logs)."""
    if not account["ok"]:
        return [f"account:   unavailable: {account['error']}"]
    lines = []
    for p in account["positions"]:
        lines.append(
            f"position:  {p['instrument']} {p['product']} qty {p['quantity']} avg {p['average_price']}"
            f" ltp {p['last_price']} P&L {_money(p['pnl'])}"
        )
    if not account["positions"]:
        lines.append("positions: none")
    o = account["orders"]
    lines.append(f"orders:    {o['total']} today, {o['open']} open, {o['trades']} filled")
    for u in account["risk"]:
        used = Decimal(u["used"])
        lines.append(f"risk:      {u['rule']:<15} {bar(used)} {percent(used)} {u['level']}: {u['text']}")
    p = account["pnl"]
    lines.append(
        f"P&L:       day {_money(p['day'])} (realised {_money(p['realised'])}, unrealised"
        f" {_money(p['unrealised'])}); equity {_money(p['equity'])} of capital {_money(p['capital'])}"
    )
    return lines
