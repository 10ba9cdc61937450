"""Schema-valid data -> the typed model (mci.config.model), units parsed once, here.

Checks and steps receive ready values: `min_available` is a Decimal,
`max_age` a timedelta, `open` a datetime.time. A unit the schema let through
but the parser refuses is still a positioned ConfigError.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from mci import units
from mci.config.loader import Document, JsonPath
from mci.config.model import (
    BreakerConfig,
    BrokerConfig,
    CheckSpec,
    Checklist,
    MarketConfig,
    Profile,
    RetryPolicy,
    RiskLimits,
    ScanConfig,
    Sequence,
    StepSpec,
    TokenStoreConfig,
    WatchConfig,
    Notifier,
)
from mci.config.schema import dotted
from mci.errors import ConfigError


def parse_hhmm(value: object) -> time:
    if not isinstance(value, str):
        raise ValueError(f'{value!r} is not a time of day; write it like "09:15"')
    hours, _, minutes = value.partition(":")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f'{value!r} is not a time of day; write it like "09:15"') from None


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


# Params keys with a unit, by name: the same key means the same unit in every kind.
PARAM_UNITS: dict[str, Callable[[object], Any]] = {
    "warn_within": units.parse_duration,
    "max_latency": units.parse_duration,
    "max_clock_skew": units.parse_duration,
    "max_age": units.parse_duration,
    "within": units.parse_duration,
    "grace": units.parse_duration,
    "interval": units.parse_duration,
    "timeout": units.parse_duration,
    "min_available": units.parse_money,
    "pre_open": parse_hhmm,
    "open": parse_hhmm,
    "close": parse_hhmm,
}


class _Reader:
    """Reads values out of a document, turning a unit error into a positioned ConfigError."""

    def __init__(self, doc: Document, data: Mapping[str, Any]):
        self.doc = doc
        self.data = data

    def get(self, path: JsonPath, default: Any = None) -> Any:
        node: Any = self.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return default
        return default if node is None else node

    def unit(self, parse: Callable[[object], Any], path: JsonPath, default: Any = None) -> Any:
        raw = self.get(path)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{dotted(path)} cannot be read: {exc}",
                "the value does not have the form its unit needs",
                "write money like ₹50,000, a percentage like 2%, a duration like 15m or 500ms",
                self.doc.at(path),
            ) from None

    def params(self, path: JsonPath) -> dict[str, Any]:
        raw = self.get(path, {})
        return {
            key: (self.unit(PARAM_UNITS[key], path + (key,)) if key in PARAM_UNITS else value)
            for key, value in raw.items()
        }

    def retry(self, path: JsonPath, default: RetryPolicy) -> RetryPolicy:
        if self.get(path) is None:
            return default
        return RetryPolicy(
            attempts=self.get(path + ("attempts",), default.attempts),
            initial=self.unit(units.parse_duration, path + ("initial",), default.initial),
            max_wait=self.unit(units.parse_duration, path + ("max",), default.max_wait),
            jitter=self.get(path + ("jitter",), default.jitter),
        )


def build_checklist(
    doc: Document, data: Mapping[str, Any], defaults_extra: Mapping[str, Any] | None = None
) -> Checklist:
    """`defaults_extra`: per-kind params filled in from the profile (e.g. account.positions max_open)."""
    read = _Reader(doc, data)
    default_timeout = read.unit(units.parse_duration, ("defaults", "timeout"), timedelta(seconds=10))
    default_retry = read.retry(("defaults", "retry"), RetryPolicy())
    checks = []
    for index, raw in enumerate(data["checks"]):
        at = ("checks", index)
        params = read.params(at + ("params",))
        for key, value in (defaults_extra or {}).get(raw["kind"], {}).items():
            params.setdefault(key, value)
        checks.append(
            CheckSpec(
                id=raw["id"],
                kind=raw["kind"],
                title=raw.get("title") or raw["id"],
                params=params,
                needs=tuple(raw.get("needs", ())),
                timeout=read.unit(units.parse_duration, at + ("timeout",), default_timeout),
                retry=read.retry(at + ("retry",), default_retry),
                breaker=raw.get("breaker", read.get(("defaults", "breaker"))),
                severity=raw.get("severity", read.get(("defaults", "severity"), "critical")),
                how=raw.get("how"),
                location=doc.at(at),
            )
        )
    return Checklist(data["name"], data.get("description", ""), tuple(checks), doc.path)


def build_sequence(doc: Document, data: Mapping[str, Any]) -> Sequence:
    read = _Reader(doc, data)
    default_timeout = read.unit(units.parse_duration, ("defaults", "timeout"), timedelta(seconds=30))
    default_retry = read.retry(("defaults", "retry"), RetryPolicy())
    steps = []
    for index, raw in enumerate(data["steps"]):
        at = ("steps", index)
        steps.append(
            StepSpec(
                id=raw["id"],
                kind=raw["kind"],
                title=raw.get("title") or raw["id"],
                params=read.params(at + ("params",)),
                timeout=read.unit(units.parse_duration, at + ("timeout",), default_timeout),
                retry=read.retry(at + ("retry",), default_retry),
                breaker=raw.get("breaker", read.get(("defaults", "breaker"))),
                on_error=raw.get("on_error", read.get(("defaults", "on_error"), "abort")),
                location=doc.at(at),
            )
        )
    return Sequence(data["name"], data.get("description", ""), tuple(steps), doc.path, data.get("scope"))


def _local_path(text: str | None, base: Path) -> Path | None:
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def build_broker(read: _Reader, base: Path) -> BrokerConfig:
    b = ("broker",)
    kind = read.get(b + ("kind",))
    store = read.get(b + ("token_store",))
    token_store = None
    if store is not None:
        token_store = TokenStoreConfig(
            path=_local_path(store.get("path"), base),
            key_file=_local_path(store.get("key_file"), base),
            key=store.get("token_key"),
        )
    return BrokerConfig(
        kind=kind,
        capital=read.unit(units.parse_money, b + ("capital",)),
        seed=read.get(b + ("seed",), 1),
        slippage=read.unit(units.parse_percent, b + ("slippage",), BrokerConfig.slippage),
        api_key=read.get(b + ("api_key",)),
        api_secret=read.get(b + ("api_secret",)),
        root=read.get(b + ("root",)),
        login_url=read.get(b + ("login_url",)),
        timeout=read.unit(units.parse_duration, b + ("timeout",), BrokerConfig.timeout),
        redirect_url=read.get(b + ("redirect_url",)),
        token_store=token_store,
        market_protection=units._decimal(read.get(b + ("market_protection",), -1), "a number"),
        static_ips=tuple(read.get(b + ("static_ips",))) if read.get(b + ("static_ips",)) is not None else None,
    )


def build_risk(read: _Reader) -> RiskLimits:
    r = ("risk",)
    percent, money, duration = units.parse_percent, units.parse_money, units.parse_duration

    def ratio(path: JsonPath) -> Decimal | None:
        value = read.get(path)
        return None if value is None else units._decimal(value, "a number")

    def names(key: str) -> tuple[str, ...] | None:
        value = read.get(r + (key,))
        return None if value is None else tuple(value)

    return RiskLimits(
        max_risk_per_trade=read.unit(percent, r + ("max_risk_per_trade",)),
        max_daily_loss=read.unit(percent, r + ("max_daily_loss",)),
        max_drawdown=read.unit(percent, r + ("max_drawdown",)),
        max_position_loss=read.unit(percent, r + ("max_position_loss",)),
        max_open_positions=read.get(r + ("max_open_positions",)),
        min_risk_reward=units._decimal(read.get(r + ("min_risk_reward",)), "a ratio"),
        price_band=read.unit(percent, r + ("price_band",)),
        require_stop_loss=read.get(r + ("require_stop_loss",), True),
        max_quantity_per_order=read.get(r + ("max_quantity_per_order",)),
        max_notional_per_order=read.unit(money, r + ("max_notional_per_order",)),
        max_orders_per_second=ratio(r + ("max_orders_per_second",)),
        max_order_to_trade_ratio=ratio(r + ("max_order_to_trade_ratio",)),
        max_signal_age=read.unit(duration, r + ("max_signal_age",)),
        warn_at=read.unit(percent, r + ("warn_at",), RiskLimits.warn_at),
        allowed_exchanges=names("allowed_exchanges"),
        allowed_products=names("allowed_products"),
        allowed_symbols=names("allowed_symbols"),
    )


def build_market(read: _Reader) -> MarketConfig:
    m = ("market",)
    plain = {k: read.get(m + (k,)) for k in ("calendar", "segment", "timezone") if read.get(m + (k,)) is not None}
    square_off = {
        seg: read.unit(parse_hhmm, m + ("broker_square_off", seg)) for seg in read.get(m + ("broker_square_off",), {})
    }
    cutoff = read.get(m + ("entry_cutoff",))
    if isinstance(cutoff, dict):
        entry = {seg: read.unit(parse_hhmm, m + ("entry_cutoff", seg)) for seg in cutoff}
    else:
        entry = {"*": read.unit(parse_hhmm, m + ("entry_cutoff",))} if cutoff is not None else {}
    return MarketConfig(**plain, broker_square_off=square_off, entry_cutoff=entry)


def build_watch(read: _Reader) -> WatchConfig:
    w = ("watch",)
    return WatchConfig(
        interval=read.unit(units.parse_duration, w + ("interval",), WatchConfig.interval),
        square_off=read.unit(parse_hhmm, w + ("square_off",)),
        token_warning=read.unit(units.parse_duration, w + ("token_warning",), WatchConfig.token_warning),
        blind_warning=read.unit(units.parse_duration, w + ("blind_warning",), WatchConfig.blind_warning),
        reduce_at=read.unit(units.parse_percent, w + ("reduce_at",)),
        stream=bool(read.get(w + ("stream",), WatchConfig.stream)),
        reconcile=read.unit(units.parse_duration, w + ("reconcile",), WatchConfig.reconcile),
    )


def build_notifications(read: _Reader) -> tuple[Notifier, ...]:
    """`notifications:`, plus the older single `notify:` block as a notifier of every event."""
    from mci.observability.notify import EVENTS

    out = []
    for i, item in enumerate(read.get(("notifications",), []) or []):
        at = ("notifications", i)
        out.append(
            Notifier(
                on=frozenset(item.get("on", ())),
                command=tuple(item["command"]) if item.get("command") else None,
                webhook=item.get("webhook"),
                headers=dict(item.get("headers") or {}),
                timeout=read.unit(units.parse_duration, at + ("timeout",), Notifier.timeout),
            )
        )
    legacy = read.get(("notify",), {}) or {}
    if legacy.get("command") or legacy.get("webhook"):
        out.append(
            Notifier(
                on=frozenset(EVENTS),
                command=tuple(legacy["command"]) if legacy.get("command") else None,
                webhook=legacy.get("webhook"),
            )
        )
    return tuple(out)


def _engine(read: _Reader, path: JsonPath) -> Any:
    """The engine block with durations as timedelta; the rest as written."""
    value = read.get(path)
    if isinstance(value, dict):
        return {
            k: (
                read.unit(units.parse_duration, path + (k,))
                if k in ("within", "grace", "interval")
                else _engine(read, path + (k,))
            )
            for k in value
        }
    return value


def build_profile(
    doc: Document,
    scan: Checklist,
    shutdown: Mapping[str, Sequence],
    gates: Mapping[str, Checklist],
    ignite: Sequence | None = None,
) -> Profile:
    read = _Reader(doc, doc.data)
    breakers = {
        name: BreakerConfig(
            fail_max=read.get(("breakers", name, "fail_max"), BreakerConfig.fail_max),
            reset_timeout=read.unit(
                units.parse_duration, ("breakers", name, "reset_timeout"), BreakerConfig.reset_timeout
            ),
        )
        for name in read.get(("breakers",), {})
    }
    profile = Profile(
        name=read.get(("name",), doc.path.stem),
        path=doc.path,
        broker=build_broker(read, doc.path.parent),
        market=build_market(read),
        risk=build_risk(read),
        breakers=breakers,
        scan=ScanConfig(scan, read.unit(units.parse_duration, ("scan", "max_age"), timedelta(minutes=15))),
        engine=_engine(read, ("engine",)) or {},
        shutdown=dict(shutdown),
        ignite=ignite,
        gates=dict(gates),
        watch=build_watch(read),
        notifications=build_notifications(read),
        raw=doc.data,
    )
    from mci.config.square_off import square_off_findings

    errors, _ = square_off_findings(profile, doc.at)
    if errors:
        raise errors[0]
    return profile


def positions_default(doc: Document) -> dict[str, dict[str, Any]]:
    """Params a profile supplies to checks that leave them out."""
    max_open = _Reader(doc, doc.data).get(("risk", "max_open_positions"))
    return {"account.positions": {"max_open": max_open}} if isinstance(max_open, int) else {}
