"""Calendar checks shared by the resident ID and the date of birth."""

from __future__ import annotations

import datetime as dt

# China has kept UTC+8 without daylight saving since 1991; a fixed offset needs no tzdata.
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def china_today() -> dt.date:
    """Today's date in China, so that a birth today is not "in the future" on a UTC host."""
    return dt.datetime.now(CHINA_TZ).date()


def real_past_date(year: int, month: int, day: int) -> dt.date | None:
    """The date, if it exists in the calendar and is not after today in China; else None."""
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    return date if date <= china_today() else None
