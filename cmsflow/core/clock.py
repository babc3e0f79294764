"""The organisation's calendar: local dates of stored instants and local times of calendar days
(config ``TIMEZONE``); stored instants are UTC."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from cmsflow.core.runtime import config


def zone() -> ZoneInfo:
    return ZoneInfo(config()["TIMEZONE"])


def local_date(value: datetime) -> date:
    """A stored instant (naive values are UTC) as the organisation's calendar date."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(zone()).date()


def at_local(day: date, at: time = time(8, 0)) -> datetime:
    """``day`` at local time ``at`` (default 08:00, when scheduled work starts), timezone-aware."""
    return datetime.combine(day, at, tzinfo=zone())


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """First and last instant (aware UTC) of the local days ``start``…``end``, for queries on instants. Days at the
    ends of the calendar (0001-01-01, 9999-12-31: typed by mistake) are narrowed by one so the UTC instant exists."""
    start, end = max(start, date.min.replace(day=2)), min(end, date.max.replace(day=30))
    return at_local(start, time.min).astimezone(UTC), at_local(end, time.max).astimezone(UTC)
