"""NSE's published trading-holiday list: fetched from nseindia.com, or read from a saved copy.

NSE's trading-holidays page (https://www.nseindia.com/resources/exchange-communication-holidays) loads
its table from https://www.nseindia.com/api/holiday-master?type=trading: a JSON object keyed by segment
("CM" capital market, "FO" equity derivatives, "CD" currency, "COM" commodity, and others), each a list of
{"Sr_no", "tradingDate": "26-Jan-2026", "weekDay", "description", "morning_session", "evening_session"}.
It is a website's internal API, not a published contract: the parser checks the shape and says what it
found when it changes. The site refuses clients that do not look like a browser, so the request carries
browser-like headers; when it is refused anyway, the operator saves the JSON from a browser and passes
it with --from-file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mci.errors import ExitCode, MciError

NSE_HOLIDAY_URL = "https://www.nseindia.com/api/holiday-master?type=trading"
NSE_HOLIDAY_PAGE = "https://www.nseindia.com/resources/exchange-communication-holidays"
# NSE's key for each segment mci names (mci.market.calendar.SEGMENT_EXCHANGES). NSE's "COM" is NSE's own
# commodity segment, not MCX: MCX publishes its list itself (mci.market.mcx_holidays).
NSE_KEYS = {"CM": "CM", "FO": "FO", "CD": "CD"}
HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
    "Referer": NSE_HOLIDAY_PAGE,
}
MAX_BYTES = 1 << 20  # the real list is a few KB


@dataclass(frozen=True)
class HolidayList:
    """What NSE published: segment -> {date: description}, and where and when it was read."""

    segments: dict[str, dict[date, str]]
    origin: str  # the URL or the file
    read_at: datetime
    # segment -> {date: the part of the day closed (morning | evening)} for a holiday that does not close it all
    partial: dict[str, dict[date, str]] = field(default_factory=dict)
    publisher: str = "NSE"


def closed_part(morning: str, evening: str) -> str | None | bool:
    """From an exchange's "Open"/"Closed" columns: None the whole day is closed (or nothing said), "morning" or
    "evening" the part closed alone, False both open (not a holiday)."""
    m, e = morning.strip().lower(), evening.strip().lower()
    if m == "open" and e == "open":
        return False
    if m == "closed" and e == "open":
        return "morning"
    if m == "open" and e == "closed":
        return "evening"
    return None


def _saved_copy_how(url: str) -> str:
    return (
        f"open {url} in a browser (after visiting {NSE_HOLIDAY_PAGE}), save the JSON, and run "
        "`mci calendar update --from-file FILE`"
    )


def fetch(url: str = NSE_HOLIDAY_URL, *, timeout: float = 15.0, now: datetime) -> HolidayList:
    """GET the list; any failure is an MciError with exit 3 that suggests --from-file.

    The site's API answers 401 to a client without the cookies its pages set, so the site's front page is
    visited first (best effort: if that fails, the API's own answer says why).
    """
    import http.cookiejar
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise MciError(
            f"cannot fetch {url}",
            "only http(s) URLs are fetched",
            "pass an https:// URL, or --from-file",
            ExitCode.INVALID,
        )
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        front = urllib.request.Request(f"{parts.scheme}://{parts.netloc}/", headers={**HEADERS, "Accept": "text/html"})
        with opener.open(front, timeout=timeout) as response:
            response.read(MAX_BYTES)
    except (urllib.error.URLError, OSError, ValueError):
        pass
    request = urllib.request.Request(url, headers=HEADERS)
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        blocked = exc.code in (401, 403, 429)
        raise MciError(
            f"cannot fetch NSE's holiday list: HTTP {exc.code} from {url}",
            "nseindia.com refuses clients it takes for bots (it wants a browser's cookies)"
            if blocked
            else f"the server answered {exc.code} {exc.reason}",
            _saved_copy_how(url),
            ExitCode.UNAVAILABLE,
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MciError(
            f"cannot fetch NSE's holiday list from {url}",
            f"{type(exc).__name__}: {reason} (no network, a proxy, or a timeout after {timeout:g}s)",
            _saved_copy_how(url),
            ExitCode.UNAVAILABLE,
        ) from None
    if len(body) > MAX_BYTES:
        raise MciError(
            f"NSE's holiday list from {url} is over {MAX_BYTES} bytes",
            "the real list is a few KB: this is not it",
            _saved_copy_how(url),
            ExitCode.UNAVAILABLE,
        )
    return parse(body, url, now=now, code=ExitCode.UNAVAILABLE)


def read_file(path: Path, *, now: datetime) -> HolidayList:
    try:
        body = Path(path).read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise MciError(
            f"cannot read {path}",
            exc.strerror or type(exc).__name__,
            f"save NSE's list from {NSE_HOLIDAY_URL} there, or fix the path",
            ExitCode.INVALID,
        ) from None
    return parse(body, str(path), now=now, code=ExitCode.INVALID)


def parse(body: bytes, origin: str, *, now: datetime, code: ExitCode = ExitCode.INVALID) -> HolidayList:
    """The segments' holidays; a shape other than NSE's is an MciError naming what was found."""

    def bad(why: str) -> MciError:
        return MciError(
            f"{origin} is not NSE's trading-holiday list",
            why,
            f"save the JSON that {NSE_HOLIDAY_URL} serves (an object keyed by segment: CM, FO, ...), not the web page",
            code,
        )

    try:
        data: Any = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"it is not JSON ({exc})") from None
    if not isinstance(data, dict) or not any(isinstance(v, list) for v in data.values()):
        raise bad('expected a JSON object of segment lists, e.g. {"CM": [{"tradingDate": "26-Jan-2027", ...}]}')
    segments: dict[str, dict[date, str]] = {}
    partial: dict[str, dict[date, str]] = {}
    for ours, theirs in NSE_KEYS.items():
        entries = data.get(theirs)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise bad(f'"{theirs}" is not a list')
        days: dict[date, str] = {}
        parts: dict[date, str] = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("tradingDate"), str):
                raise bad(f'"{theirs}"[{i}] has no "tradingDate" text')
            try:
                day = datetime.strptime(entry["tradingDate"].strip(), "%d-%b-%Y").date()
            except ValueError:
                raise bad(f'"{theirs}"[{i}].tradingDate {entry["tradingDate"]!r} is not like 26-Jan-2027') from None
            name = " ".join(str(entry.get("description") or "").split()) or "Trading holiday"
            part = closed_part(str(entry.get("morning_session") or ""), str(entry.get("evening_session") or ""))
            if part is False:
                continue
            if day in days and days[day] != name:
                name = f"{days[day]} / {name}"
            if isinstance(part, str) and (day not in days or day in parts):
                parts[day] = part
            else:
                parts.pop(day, None)  # listed twice, once for the whole day: the whole day (the safe side)
            days[day] = name
        segments[ours] = days
        if parts:
            partial[ours] = parts
    if not segments:
        raise bad(
            f"it has none of the segments {', '.join(NSE_KEYS.values())} (keys: {', '.join(sorted(data)) or 'none'})"
        )
    return HolidayList(segments, origin, now, partial)
