"""Years in questions ("from the 90s", "released after 2000") and in titles ("Heat (1995)")."""

from __future__ import annotations

import re

_YEAR = r"(1[89]\d\d|20[0-4]\d)"
_DECADE = re.compile(
    r"\b(?:(?:19|20)(\d)0s|(?:the\s+)?[’']?(\d)0s)\b", re.I
)  # "1990s", "the 90s", "'90s"
_BETWEEN = re.compile(rf"\b(?:between\s+{_YEAR}\s+and|from\s+{_YEAR}\s+to)\s+{_YEAR}\b", re.I)
_BEFORE = re.compile(rf"\b(?:before|until|older than|up to|prior to)\s+{_YEAR}\b", re.I)
_AFTER = re.compile(rf"\b(?:after|since|newer than)\s+{_YEAR}\b", re.I)
_IN = re.compile(rf"\b(?:(?:released|made|came out|published)\s+in|from)\s+{_YEAR}\b", re.I)
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")


def year_range(text: str) -> tuple[int, int] | None:
    """The years a question asks for, inclusive, or None. Only years with a word that makes
    them one ("from", "before", "the 90s") count, so an id such as "user 1995" never does."""
    if m := _BETWEEN.search(text):
        low, high = sorted((int(m.group(1) or m.group(2)), int(m.group(3))))
        return low, high
    if m := _IN.search(text):
        return int(m.group(1)), int(m.group(1))
    if m := _DECADE.search(text):
        century = text[m.start() : m.start() + 2]
        digit = int(m.group(1) or m.group(2))
        if century in ("19", "20"):
            start = int(century) * 100 + digit * 10
        else:  # "the 90s" is the 1990s, "the 20s" the 2020s
            start = (1900 if digit >= 3 else 2000) + digit * 10
        return start, start + 9
    if m := _BEFORE.search(text):
        return 0, int(m.group(1)) - 1
    if m := _AFTER.search(text):
        after = int(m.group(1)) + (1 if m.group(0).lower().startswith(("after", "newer")) else 0)
        return after, 9999
    return None


def title_year(title: str) -> int | None:
    """The year a title ends with, as MovieLens writes it ("Heat (1995)"), or None."""
    m = _TITLE_YEAR.search(title)
    return int(m.group(1)) if m else None


def describe(years: tuple[int, int]) -> str:
    """ "from 1990 to 1999", "before 1980", "from 2000 on"."""
    low, high = years
    if low <= 0:
        return f"before {high + 1}"
    if high >= 9999:
        return f"from {low} on"
    return f"from {low}" if low == high else f"from {low} to {high}"
