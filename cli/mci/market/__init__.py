"""Market time: exchange calendars (sessions, weekends, holidays)."""

from mci.market.calendar import CalendarCoverageError, ExchangeCalendar, MarketPhase, load_calendar

__all__ = ["CalendarCoverageError", "ExchangeCalendar", "MarketPhase", "load_calendar"]
