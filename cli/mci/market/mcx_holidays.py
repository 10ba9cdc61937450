"""MCX's published trading-holiday list, read from a saved copy (`mci calendar update --segment MCX --from-file`).

MCX publishes its holidays on https://www.mcxindia.com/market-operations/trading-survelliance/trading-holidays
as a table of "Sr. No. | Date | Holiday | Day | Morning Session | Evening Session" (each session "Open" or
"Closed": on many exchange holidays MCX closes the morning session only and trades the evening). That page has
no stable JSON behind it that mci could fetch, so the operator saves the table as CSV (a spreadsheet's
"save as CSV" of the table, or the circular's annexure) and passes the file. Columns are found by their
headers; dates may be 01-Jan-2026, 01/01/2026, 2026-01-01 or January 01, 2026. A row with both sessions open
is not a holiday and is left out.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from mci.errors import ExitCode, MciError
from mci.market.nse_holidays import MAX_BYTES, HolidayList, closed_part

MCX_HOLIDAY_PAGE = "https://www.mcxindia.com/market-operations/trading-survelliance/trading-holidays"
_DATE_FORMATS = ("%d-%b-%Y", "%d/%m/%Y", "%Y-%m-%d", "%B %d, %Y", "%d %B %Y", "%d-%m-%Y")


def _how() -> str:
    return (
        f"save the table of {MCX_HOLIDAY_PAGE} as CSV with the columns Date, Holiday, Morning Session and "
        "Evening Session, and pass it with `mci calendar update --segment MCX --from-file FILE`"
    )


def _date(raw: str) -> date | None:
    text = " ".join(raw.split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def read_file(path: Path, *, now: datetime) -> HolidayList:
    try:
        body = Path(path).read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise MciError(f"cannot read {path}", exc.strerror or type(exc).__name__, _how(), ExitCode.INVALID) from None
    return parse(body, str(path), now=now)


def parse(body: bytes, origin: str, *, now: datetime) -> HolidayList:
    def bad(why: str) -> MciError:
        return MciError(f"{origin} is not MCX's trading-holiday list", why, _how(), ExitCode.INVALID)

    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad(f"it is not UTF-8 text ({exc})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        raise bad("it is empty")
    header = [h.strip().lower() for h in rows[0]]

    def column(*names: str) -> int | None:
        for i, h in enumerate(header):
            if any(n in h for n in names):
                return i
        return None

    at_date, at_name = column("date"), column("holiday", "description", "particular")
    at_morning, at_evening = column("morning"), column("evening")
    missing = [
        n
        for n, i in (
            ("Date", at_date),
            ("Holiday", at_name),
            ("Morning Session", at_morning),
            ("Evening Session", at_evening),
        )
        if i is None
    ]
    if missing:
        raise bad(f"its first row names no column {', '.join(missing)} (found: {', '.join(header) or 'nothing'})")
    assert at_date is not None and at_name is not None and at_morning is not None and at_evening is not None
    days: dict[date, str] = {}
    parts: dict[date, str] = {}
    for line, row in enumerate(rows[1:], 2):
        cells = row + [""] * (len(header) - len(row))
        day = _date(cells[at_date])
        if day is None:
            raise bad(f"row {line}: {cells[at_date]!r} is not a date like 01-Jan-2026")
        morning, evening = cells[at_morning], cells[at_evening]
        if {morning.strip().lower(), evening.strip().lower()} - {"open", "closed"}:
            raise bad(f"row {line}: the sessions are {morning!r} and {evening!r}, not Open or Closed")
        part = closed_part(morning, evening)
        if part is False:
            continue
        if day in days:
            raise bad(f"row {line}: {day} is listed twice")
        days[day] = " ".join(cells[at_name].split()) or "Trading holiday"
        if isinstance(part, str):
            parts[day] = part
    if not days:
        raise bad("it lists no day with a closed session")
    return HolidayList({"MCX": days}, origin, now, {"MCX": parts} if parts else {}, publisher="MCX")
