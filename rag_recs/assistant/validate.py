"""Validation of proposed items: exists, unseen, not a duplicate, meets the asked constraints."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

UNKNOWN, SEEN, DUPLICATE, CONSTRAINT = "unknown", "seen", "duplicate", "constraint"


@dataclass
class Rejection:
    """A proposed candidate that was dropped, and why."""

    reason: str  # unknown | seen | duplicate | constraint | outranked
    detail: str
    item_id: Any = None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        key = {"item_id": self.item_id} if self.item_id is not None else {"text": self.text}
        return {**key, "reason": self.reason, "detail": self.detail}


class Catalog:
    """Resolves what an LLM wrote (an id, an id as text, or a title) to a catalog item."""

    def __init__(self, ids: Iterable[Any], titles: dict[Any, str]) -> None:
        self.ids = list(ids)
        self._by_key = {str(i): i for i in self.ids}
        self._by_title: dict[str, Any] = {}
        for i, t in titles.items():
            self._by_title.setdefault(t.lower().strip(), i)
        self._titles = list(self._by_title)

    @property
    def titles(self) -> list[str]:
        """Every distinct title, lower case."""
        return self._titles

    def resolve(self, raw: Any) -> Any | None:
        """The item ``raw`` names, or None: exact id first, then exact / close title match."""
        key = str(raw).strip().strip("\"'").removeprefix("item ").strip()
        if key in self._by_key:
            return self._by_key[key]
        lowered = str(raw).lower().strip().strip("\"'")
        if lowered in self._by_title:
            return self._by_title[lowered]
        close = difflib.get_close_matches(lowered, self._titles, n=1, cutoff=0.88)
        return self._by_title[close[0]] if close else None


def validate(
    proposed: list[tuple[Any, str]],
    catalog: Catalog,
    seen: set,
    allowed: Callable[[Any], str | None],
) -> tuple[list[tuple[Any, str]], list[Rejection]]:
    """Split proposals into (item id, reason) survivors and rejections.

    ``allowed(item)`` returns None when the item meets the question's constraints, else why not.
    """
    kept: list[tuple[Any, str]] = []
    rejected: list[Rejection] = []
    taken: set = set()
    for raw, reason in proposed:
        item = catalog.resolve(raw)
        if item is None:
            rejected.append(Rejection(UNKNOWN, "no such item in the catalog", text=str(raw)[:80]))
        elif item in seen:
            rejected.append(Rejection(SEEN, "the user has already interacted with it", item))
        elif item in taken:
            rejected.append(Rejection(DUPLICATE, "proposed more than once", item))
        elif (why := allowed(item)) is not None:
            rejected.append(Rejection(CONSTRAINT, why, item))
        else:
            kept.append((item, reason))
            taken.add(item)
    return kept, rejected
