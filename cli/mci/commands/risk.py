"""`mci risk check` and `mci risk limits`: the validator and the model on the command line.

The account comes from the profile's broker unless --account / --capital give it
offline. Orders are judged one by one as they arrive (a strategy may pipe a
JSON-lines stream), each against the same account: checking an order places
nothing, so it changes nothing the next one is judged by.
"""

from __future__ import annotations

import csv
import io
import json
import json.scanner
import os
import stat
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, TextIO, cast

from mci.clock import Clock
from mci.errors import UsageError
from mci.output.console import emit

if TYPE_CHECKING:
    from mci.brokers.base import Broker, InstrumentSpec
    from mci.config.model import Profile
    from mci.risk import Account


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys: `"quantity":10,"quantity":100000` would be judged as 100000.
    out = dict(pairs)  # built in C; only an object that lost a key to a duplicate is walked again
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)
# Without the duplicate check, for the accept path: mci.risk.accept rules a duplicate out from the line's text.
_PLAIN_DECODER = json.JSONDecoder()
# Its scanner (what its decode() runs after skipping whitespace): (value, end) from a position, or StopIteration.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast(Any, _PLAIN_DECODER)
)  # typeshed: its own type


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


def _items(text: str, first_line: int) -> Iterator[tuple[int, Any]]:
    """The orders of one document with the line each starts on: an object, or the elements of an array."""
    doc = _loads(text)
    if not isinstance(doc, list):
        yield first_line, doc
        return
    # Decode element by element (the whole document is valid) only to know where each one starts.
    index = text.index("[") + 1
    for _ in doc:
        while text[index] in " \t\r\n,":
            index += 1
        start = index
        item, index = _DECODER.raw_decode(text, index)
        yield first_line + text.count("\n", 0, start), item


# Judges and answers one line itself (True), or leaves it to the caller (False): check()'s accept path.
Quick = Callable[[int, str], bool]


def orders_in(stream: TextIO, quick: Quick | None = None) -> Iterator[tuple[int, Any]]:
    """(line, parsed JSON) per order: JSON lines, one line at a time as they arrive; or one document
    (an object or an array of them) that spans lines. Bad JSON is yielded as _BadJson, never raised;
    bytes that are not UTF-8 end the input (a text stream cannot be resynchronised after them).
    A line `quick` answers is not yielded."""
    answered = [0]  # the last line with a verdict, yielded or quick's
    try:
        for number, item in _orders(stream, quick, answered):
            answered[0] = number
            yield number, item
    except UnicodeDecodeError as exc:
        yield answered[0] + 1, _BadJson(f"the input is not UTF-8 text: byte 0x{exc.object[exc.start]:02x}")


def _orders(stream: TextIO, quick: Quick | None, answered: list[int]) -> Iterator[tuple[int, Any]]:
    first = True
    for number, line in enumerate(stream, start=1):
        if quick is not None and quick(number, line):  # a JSON object on its own line: an order, opening or not
            answered[0], first = number, False
            continue
        if not line.strip():
            continue
        opening, first = first, False
        try:
            doc = _loads(line)
        except ValueError as exc:
            if not opening or isinstance(exc, _DuplicateKey) or not line.lstrip().startswith(("{", "[")):
                yield number, _BadJson(str(exc))
                continue
        else:
            # An array on one line (json.dumps of a list) is a document of orders, like one that spans lines.
            for item in doc if opening and isinstance(doc, list) else [doc]:
                yield number, item
            continue
        # A pretty-printed document: the rest of the input belongs to it.
        text = line + stream.read()
        try:
            items = list(_items(text, number))
        except ValueError as exc:
            yield number, _BadJson(str(exc))
            return
        yield from items
        return


class _BadJson:
    def __init__(self, message: str):
        self.message = message


INSTRUMENT_COLUMNS = ("exchange", "tradingsymbol", "tick_size", "lot_size")


def read_instruments(path: Path) -> "dict[str, InstrumentSpec]":
    """Kite's instrument dump (CSV: exchange, tradingsymbol, tick_size, lot_size...) as specs."""
    from mci.brokers.base import InstrumentSpec
    from mci.risk.account import decimal_of

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            out = {}
            reader = csv.DictReader(fh)
            missing = [c for c in INSTRUMENT_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"it has no {', '.join(missing)} column (is it Kite's CSV dump?)")
            for row in reader:
                tick, lot = decimal_of(row.get("tick_size")), row.get("lot_size", "")
                if tick is None or tick <= 0 or not lot.isdigit() or int(lot) < 1:
                    raise ValueError(
                        f"row {row.get('exchange')}:{row.get('tradingsymbol')} has tick {row.get('tick_size')!r}, lot {lot!r}"
                    )
                out[f"{row['exchange']}:{row['tradingsymbol']}"] = InstrumentSpec(tick, int(lot))
            if not out:
                raise ValueError("it lists no instrument")
            return out
    except (OSError, KeyError, ValueError, csv.Error) as exc:
        raise UsageError(
            f"cannot read the instrument list {path}",
            str(exc) or type(exc).__name__,
            "pass Kite's instrument dump (CSV with exchange, tradingsymbol, tick_size, lot_size)",
        ) from None


def _ltp_flags(values: list[str]) -> dict[str, Decimal]:
    from mci.risk.account import decimal_of

    out = {}
    for value in values:
        key, sep, price = value.partition("=")
        d = decimal_of(price)
        if not sep or ":" not in key or d is None or d <= 0:
            raise UsageError(
                f"--ltp {value!r} is not EXCHANGE:SYMBOL=PRICE",
                "each last price names its instrument",
                "write it like --ltp NSE:INFY=1500.50",
            )
        out[key.upper()] = d
    return out


def offline_account(
    account_file: Path | None, capital: str | None, day_pnl: str | None, ltp: list[str], instruments_file: Path | None
) -> "Account | None":
    """The account from flags and files, or None to read it from the broker."""
    from mci.units import parse_money
    from mci.risk import Account
    from mci.risk.account import decimal_of

    if account_file is None and capital is None:
        if day_pnl is not None:
            raise UsageError(
                "--day-pnl without an offline account",
                "with no --capital or --account the broker reports the P&L",
                "add --capital, or drop --day-pnl",
            )
        return None
    if account_file is not None:
        try:
            data = json.loads(Path(account_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the account file {account_file}", str(exc), "pass a JSON file") from None
        account = Account.from_mapping(data, source=str(account_file))
    else:
        account = Account(capital=Decimal(1))  # replaced just below
    changes: dict[str, Any] = {}
    if capital is not None:
        try:
            changes["capital"] = parse_money(capital)
        except ValueError as exc:
            raise UsageError(
                f"--capital {capital!r} is not an amount", str(exc), "write it like 1000000 or ₹10,00,000"
            ) from None
        if changes["capital"] <= 0:
            raise UsageError(
                "--capital must be above ₹0", "every limit is a share of capital", "pass the opening balance"
            )
    if day_pnl is not None:
        pnl = decimal_of(day_pnl)
        if pnl is None:
            raise UsageError(
                f"--day-pnl {day_pnl!r} is not an amount",
                "a loss is negative, e.g. -2500",
                "write it like --day-pnl -2500.50",
            )
        changes["day_pnl"] = pnl
    changes["last_prices"] = {**account.last_prices, **_ltp_flags(ltp)}
    if instruments_file is not None:
        changes["instruments"] = read_instruments(instruments_file)
    return replace(account, **changes)


class _Prices:
    """Last prices read from the broker as new instruments appear in the stream."""

    def __init__(self, broker: "Broker", account: "Account"):
        self.broker, self.account = broker, account
        self.exchanges: set[str] = set()

    def ready_for(self, raw: Any) -> "Account":
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("exchange"), str)
            or not isinstance(raw.get("symbol"), str)
        ):
            return self.account
        exchange = raw["exchange"].strip().upper()
        key = f"{exchange}:{raw['symbol'].strip().upper()}"
        known_exchange = exchange in self.exchanges
        specs_now = self.account.instruments or {}
        if known_exchange and (key in self.account.last_prices or key not in specs_now):
            # Nothing new to read: copying an exchange's instrument list (thousands of entries) for every
            # order was the stream's largest cost on a broker account (issue 19).
            return self.account
        prices, specs = dict(self.account.last_prices), dict(specs_now)
        if not known_exchange:
            self.exchanges.add(exchange)
            specs.update(self.broker.instruments([exchange]))
        if key not in prices and key in specs:
            prices.update(self.broker.ltp([key]))
        self.account = replace(self.account, last_prices=prices, instruments=specs)
        return self.account


def check(
    profile: "Profile",
    clock: Clock,
    state_dir: Path,
    output: str,
    stream: TextIO,
    *,
    account: "Account | None",
    batch: bool = False,
) -> int:
    """Judge each order as it arrives; exit 0 all accepted, 1 any rejected, 2 any line not an order.

    A batch (a file, or an offline account) is judged at one instant, the batch's start: the 20,000th
    order of a file must not be stale for the time its predecessors took.

    Verdicts are written as judged and flushed before the input can keep mci waiting (see _flushing): a
    strategy that writes one order and waits has its verdict at once; a piped batch is not flushed per line."""
    from mci.market.calendar import calendar_for, segment_calendar, segment_of
    from mci.market.cutoffs import intraday_entry_refusal
    from mci.risk import Account, RiskModel, validate
    from mci.risk.accept import AcceptPath

    own = calendar_for(profile, state_dir)
    by_segment: dict[str | None, Any] = {}
    frozen = clock.now() if batch or account is not None else None

    refusals: dict[tuple[str, str], Any] = {}

    def calendar_of(exchange: str) -> Any:
        # Each order follows its own segment's sessions: an MCX entry at 21:00 is judged on MCX's evening.
        segment = segment_of(exchange)
        if segment not in by_segment:
            by_segment[segment] = segment_calendar(profile, state_dir, segment) if segment else own
        return by_segment[segment]

    def refusal(exchange: str, product: str, now: Any) -> Any:
        # A pure function of (exchange, product, instant): at a frozen instant it is worked out once per instrument
        # segment, not once per order (the calendar and cut-off arithmetic is a fifth of an order's cost).
        if frozen is None:
            return intraday_entry_refusal(profile, calendar_of(exchange), exchange, product, now)
        key = (exchange, product)
        if key in refusals:
            return refusals[key]
        found = intraday_entry_refusal(profile, calendar_of(exchange), exchange, product, frozen)
        if len(refusals) < 1024:  # a stream of made-up exchanges must not grow it without end
            refusals[key] = found
        return found

    def session(intent: Any, now: Any) -> Any:
        return refusal(intent.exchange, intent.product, now)

    latches = _latches(profile, state_dir)
    from mci.engine.reducing import EntryGate

    out = sys.stdout
    pending: list[str] = []  # verdicts not yet handed to stdout: one write per batch, not one per order
    write = pending.append

    def drain() -> None:
        out.write("".join(pending))
        pending.clear()

    def deliver() -> None:
        drain()
        out.flush()

    stream, each = _flushing(stream, deliver)

    def handed() -> None:
        """After a verdict is written: delivered at once where the input may wait, else held up to _HELD."""
        if each:
            deliver()
        elif len(pending) >= _HELD:
            drain()

    gate = EntryGate(state_dir, profile.name)
    broker = None
    prices = None
    model = None
    judge: AcceptPath | None = None
    seen = rejected = bad = 0
    scan, as_json = _SCAN, output == "json"

    def quick(number: int, line: str) -> bool:
        """An acceptable entry on its own line, answered without a Verdict (mci.risk.accept); False for anything
        else, which the loop below judges in full."""
        nonlocal model, judge, seen
        # An object from the first character to a newline: what json.loads would decode from the line, without
        # its whitespace skipping around the scanner (anything else is the general path's, which decodes in full).
        # Escapes: the duplicate-key rule of mci.risk.accept does not hold.
        if line[:1] != "{" or "\\" in line:
            return False
        try:
            raw, end = scan(line, 0)
        except (StopIteration, ValueError):
            return False
        if line[end:] != "\n" and end != len(line):
            return False
        current = prices.ready_for(raw) if prices is not None else account
        assert current is not None
        model = model or RiskModel.of(profile.risk, current.capital)
        if judge is None or judge.account is not current or judge.model is not model:
            judge = AcceptPath(model, current, refusal)
        hit = judge.accept(raw, frozen or clock.now(), line.count(":"))
        if hit is None or gate.reducing():
            return False
        label, notional, risk, reward, ratio = hit
        if as_json:  # _show()'s line for this verdict (tests/risk/test_accept_path.py compares them)
            write(
                f'{{"line": {number}, "accepted": true, "order": {_ENCODE(label)}, "exit": false, "facts": '
                f'{{"notional": "{notional}", "risk": "{risk}", "reward": "{reward}", "risk_reward": "{ratio}"}}, '
                '"failures": []}\n'
            )
        else:
            write(f"ACCEPTED  {label} (notional {notional}, risk {risk}, reward {reward}, risk:reward {ratio})\n")
        handed()
        seen += 1
        return True

    try:
        if account is None:
            from mci.brokers.factory import broker_for

            broker = broker_for(profile, state_dir, clock)
            prices = _Prices(broker, Account.from_broker(broker, specs={}, at=clock.now()))
        for line, raw in orders_in(stream, None if latches else quick):
            current = prices.ready_for(raw) if prices is not None else account
            assert current is not None
            model = model or RiskModel.of(profile.risk, current.capital)
            if isinstance(raw, _BadJson):
                from mci.risk import Verdict
                from mci.risk.intent import Failure

                verdict = Verdict(
                    False, (Failure("json", f"line {line} is not JSON", raw.message, "send one JSON object per line"),)
                )
                bad += 1
            else:
                verdict = validate(raw, model, current, frozen or clock.now(), session)
                if latches:
                    verdict = latches.judge(verdict)
                if verdict.intent is not None and not verdict.exit and gate.reducing():
                    verdict = _reduce_only(verdict, profile.name)
            seen += 1
            rejected += not verdict.accepted
            _show(verdict, line, output, write)
            handed()
    finally:
        deliver()
        gate.close()
        if broker is not None:
            broker.close()
    if not seen:
        raise UsageError(
            "no order to check",
            "the input was empty",
            "pass a file with one JSON order (or JSON lines), or pipe them to `mci risk check -`",
        )
    return 2 if bad else 1 if rejected else 0


_HELD = 128  # verdicts held before they are written to stdout (its own buffer flushes them when full)


class _FlushBeforeWaiting(io.BufferedIOBase):
    """A reader's buffer that flushes the verdicts written so far before each read that may wait for input."""

    def __init__(self, inner: Any, flush: Callable[[], None]):
        super().__init__()
        self._inner, self._flush = inner, flush

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        self._flush()
        return bytes(self._inner.read1(size))

    def read(self, size: int | None = -1) -> bytes:
        self._flush()
        return bytes(self._inner.read(size))

    def close(self) -> None:  # closing the wrapper leaves stdin open
        super().close()


def _flushing(stream: TextIO, flush: Callable[[], None]) -> tuple[TextIO, bool]:
    """The stream to read orders from, and whether to flush after every verdict.

    A strategy that writes an order and waits must get its verdict before mci waits for the next line; a batch
    need not be flushed line by line (a flush is a write to the pipe per order, a sixth of an order's cost).
    So the verdicts are flushed when mci is about to read more input than it holds, which is when it may wait:
    - the process's own stdin (`mci risk check -`) is read again through a buffer that flushes before each read
      of the pipe (the text layer asks for more bytes only when it holds no whole line); CPython opens stdin on
      POSIX splitting lines at "\\n" only, with its own encoding and errors, which the new text layer keeps;
    - input in memory or in a regular file never waits: flushed when the output buffer fills and at the end;
    - anything else (a FIFO or a terminal opened by name) is flushed after every verdict, as before."""
    if stream is sys.__stdin__ and os.name == "posix" and isinstance(stream, io.TextIOWrapper):
        reader = cast(BinaryIO, _FlushBeforeWaiting(stream.buffer, flush))  # a BufferedIOBase, as TextIOWrapper takes
        text = io.TextIOWrapper(reader, encoding=stream.encoding, errors=stream.errors, newline="\n")
        return text, False
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return stream, False  # in memory (StringIO): all of it is there already
    return stream, not stat.S_ISREG(mode)


def _latches(profile: "Profile", state_dir: Path) -> Any:
    """The kill switch's latches of the profile (mci.risk.latch); an unreadable state DB refuses everything."""
    from mci.store.latches import read_only

    state, scoped = read_only(state_dir, profile.name)
    if state != "halted" and not scoped:
        return None  # the common case: nothing latched, and the latch rules (mci.flatten's imports) never load
    from mci.risk.latch import Latches

    return Latches.of(state, scoped)


def _reduce_only(verdict: Any, profile: str) -> Any:
    """An entry while the profile is reducing: rejected, beside whatever else it failed."""
    from mci.risk.intent import Failure

    failure = Failure(
        "lifecycle",
        f"profile {profile} is reducing: only exits are accepted",
        "`mci pause` (or the watcher at watch.reduce_at) stopped new entries; this order would open "
        "or add to a position",
        "send only orders that reduce an open position, or `mci resume` first",
    )
    return replace(verdict, accepted=False, failures=(*verdict.failures, failure))


def _show(verdict: Any, line: int, output: str, write: Callable[[str], Any]) -> None:
    if output == "json":
        write(_json_verdict(verdict, line) + "\n")
        return
    label = verdict.intent.label() if verdict.intent else f"line {line}"
    facts = ", ".join(
        f"{k.replace('_', ':') if k == 'risk_reward' else k} {v}" for k, v in verdict.facts_text().items()
    )
    if verdict.accepted:
        write(f"ACCEPTED  {label}{f' ({facts})' if facts else ''}{' [exit]' if verdict.exit else ''}\n")
        return
    write(f"REJECTED  {label}: {len(verdict.failures)} rule(s) failed\n")
    for failure in verdict.failures:
        write("  [" + failure.rule + "] " + failure.render().replace("\n", "\n  ") + "\n")


_ENCODE = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes for a str


def _json_verdict(verdict: Any, line: int) -> str:
    """json.dumps({"line": line, **verdict.as_dict()}, ensure_ascii=False), written directly for an accepted
    order (the stream's common case: no failure list to walk); anything else goes through json.dumps."""
    if not verdict.accepted or verdict.failures or verdict.intent is None or type(line) is not int:
        return json.dumps({"line": line, **verdict.as_dict()}, ensure_ascii=False)
    facts = ", ".join(f"{_ENCODE(k)}: {_ENCODE(v)}" for k, v in verdict.facts_text().items())
    return (
        f'{{"line": {line}, "accepted": true, "order": {_ENCODE(verdict.intent.label())}, '
        f'"exit": {"true" if verdict.exit else "false"}, "facts": {{{facts}}}, "failures": []}}'
    )


def limits(profile: "Profile", clock: Clock, state_dir: Path, output: str, *, capital: str | None) -> int:
    """The declared limits in rupees for today's capital, and whether they hold together (scanner check 10's model)."""
    from mci.units import format_money, format_percent, parse_money
    from mci.output.console import emit_json
    from mci.risk import RiskModel

    if capital is not None:
        try:
            amount = parse_money(capital)
        except ValueError as exc:
            raise UsageError(
                f"--capital {capital!r} is not an amount", str(exc), "write it like 500000 or ₹5,00,000"
            ) from None
    else:
        from mci.brokers.factory import broker_for

        broker = broker_for(profile, state_dir, clock)
        try:
            amount = broker.funds().opening
        finally:
            broker.close()
    model = RiskModel.of(profile.risk, amount)
    problems = model.problems()
    r = profile.risk
    rows = [
        ("max_risk_per_trade", format_percent(r.max_risk_per_trade), format_money(model.max_risk_per_trade)),
        ("max_daily_loss", format_percent(r.max_daily_loss), format_money(model.max_daily_loss)),
        ("max_position_loss", format_percent(r.max_position_loss), format_money(model.max_position_loss)),
        (
            "max_drawdown",
            format_percent(r.max_drawdown) + " of the peak",
            format_money(model.max_drawdown(amount)) + " at the open",
        ),
        ("max_open_positions", str(r.max_open_positions), ""),
        ("min_risk_reward", str(r.min_risk_reward), ""),
        ("price_band", "±" + format_percent(r.price_band), ""),
        ("warn_at", format_percent(r.warn_at) + " of each limit", ""),
    ]
    if output == "json":
        emit_json(
            {
                "profile": profile.name,
                "capital": str(amount),
                "limits": [{"name": n, "declared": d, "rupees": m} for n, d, m in rows],
                "problems": [p.__dict__ for p in problems],
            }
        )
    else:
        emit(f"risk limits of {profile.name} on capital {format_money(amount)}")
        for name, declared, money in rows:
            emit(f"  {name:<20} {declared:<22} {money}")
        for p in problems:
            emit(f"  {p.level.upper()}: {p.what}\n    WHY: {p.why}\n    HOW: {p.how}")
    return 1 if any(p.level == "error" for p in problems) else 0
