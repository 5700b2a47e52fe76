"""Wording helpers of the synthetic generator: capitals, articles, and LoCoMo's styles for days, session stamps and
finishing times."""

from __future__ import annotations

import datetime as dt

__all__ = ["MONTHS", "WEEKDAYS", "cap", "finish_time", "locomo_day", "session_stamp", "with_article"]

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def cap(text: str) -> str:
    """Upper-case the first character."""
    return text[:1].upper() + text[1:]


def with_article(noun: str) -> str:
    """The noun with ``a`` or ``an``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def locomo_day(date: dt.date) -> str:
    """LoCoMo's answer style for a day: ``7 May 2023``."""
    return f"{date.day} {MONTHS[date.month - 1]} {date.year}"


def session_stamp(moment: dt.datetime) -> str:
    """LoCoMo's session date style: ``1:56 pm on 8 May, 2023``."""
    hour = moment.hour % 12 or 12
    half = "am" if moment.hour < 12 else "pm"
    return f"{hour}:{moment.minute:02d} {half} on {moment.day} {MONTHS[moment.month - 1]}, {moment.year}"


def finish_time(minutes: int) -> str:
    """A finishing time: ``52 minutes`` or ``1:52``."""
    return f"{minutes} minutes" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}"
