"""Exact overlap between users' histories: the figures an explanation may quote.

Computed here, in code, and handed to the LLM to word; never estimated by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from rag_recs.data.schema import Dataset
from rag_recs.errors import DataError


class Overlap(NamedTuple):
    """How much ``user``'s history shares with the reference user's."""

    user: Any
    jaccard: float
    shared: list


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b|; 0.0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def overlap(
    dataset_or_seen: Dataset | Mapping[Any, set], user: Any, others: Iterable[Any]
) -> list[Overlap]:
    """Jaccard similarity and shared items between ``user`` and each of ``others``, in order.

    ``dataset_or_seen`` is a :class:`Dataset` (seen = any interaction) or a user -> items map.
    Shared items are sorted. An unknown user raises :class:`DataError`.
    """
    mine = _items(dataset_or_seen, user)
    rows = []
    for other in others:
        theirs = _items(dataset_or_seen, other)
        rows.append(Overlap(other, jaccard(mine, theirs), _sorted(mine & theirs)))
    return rows


def _items(source: Dataset | Mapping[Any, set], user: Any) -> set:
    if isinstance(source, Dataset):
        index = source.index
        if not len(index.seen_rows(index.user_row(user))):
            raise DataError(f"unknown user {user!r}")
        return index.seen(user)
    if user not in source:
        raise DataError(f"unknown user {user!r}")
    return set(source[user])


def _sorted(items: set) -> list:
    try:
        return sorted(items)
    except TypeError:  # mixed id types
        return sorted(items, key=str)
