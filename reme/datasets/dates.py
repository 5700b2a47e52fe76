"""Session and question dates as the datasets write them, turned into ISO 8601 (empty when unparsable)."""

from __future__ import annotations

import re
from datetime import datetime

_FORMATS = (
    "%I:%M %p on %d %B, %Y",  # LoCoMo: "1:56 pm on 8 May, 2023"
    "%I:%M %p on %d %b, %Y",
    "%Y/%m/%d %H:%M",  # LongMemEval: "2023/05/20 (Sat) 02:21" once the weekday is removed
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d %B %Y",
    "%B %d, %Y",
)
_WEEKDAY = re.compile(r"\s*\([A-Za-z]{3}\)\s*")


def parse_date(text: str) -> str:
    """ISO 8601 of a dataset date string, or ``""``.

    >>> parse_date("1:56 pm on 8 May, 2023")
    '2023-05-08T13:56:00'
    >>> parse_date("2023/05/20 (Sat) 02:21")
    '2023-05-20T02:21:00'
    """
    if not text or not isinstance(text, str):
        return ""
    cleaned = " ".join(_WEEKDAY.sub(" ", text).split())
    for fmt in _FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).isoformat()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(cleaned).isoformat()
    except ValueError:
        return ""
