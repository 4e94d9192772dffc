"""Negative sampling for implicit feedback: items a user never interacted with."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Known = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (users, items) -> [n] bool


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """One int64 per (user row, item row) pair, for fast membership tests."""
    return users.astype(np.int64) * (n_items + 1) + items.astype(np.int64)


def sample_negatives(
    users: np.ndarray,
    positives: np.ndarray | Known,
    n_items: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    max_rounds: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """One negative item row (1..n_items) per entry of ``users``, never one of their positives.

    ``positives`` are the sorted pair keys of all known interactions, or a function telling
    which (users, items) pairs are known (:class:`SeenSegments`). ``weights`` (length
    n_items) gives popularity-weighted sampling; None is uniform. Collisions are redrawn; a user
    who has seen (almost) everything may keep none, so a keep-mask is returned with the items.
    """
    known = positives if callable(positives) else _in_sorted_keys(positives, n_items)
    p = None if weights is None else weights / weights.sum()
    items = rng.choice(n_items, size=len(users), p=p) + 1
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        todo = todo[known(users[todo], items[todo])]
        if not len(todo):
            break
        items[todo] = rng.choice(n_items, size=len(todo), p=p) + 1
    keep = np.ones(len(users), bool)
    if len(todo):  # re-check the last redraw
        keep[todo[known(users[todo], items[todo])]] = False
    return items, keep


def _in_sorted_keys(keys: np.ndarray, n_items: int) -> Known:
    def known(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        wanted = pair_keys(users, items, n_items)
        pos = np.searchsorted(keys, wanted).clip(max=len(keys) - 1)
        return keys[pos] == wanted

    return known


class SeenSegments:
    """Which (user, item) pairs are known, by binary search in each user's sorted item rows
    (compressed rows: ``indices[indptr[u]:indptr[u + 1]]``, sorted): no per-pair key array."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        self.indptr, self.indices = indptr, indices
        longest = int(np.diff(indptr).max()) if len(indptr) > 1 else 0
        self.rounds = longest.bit_length() + 1

    def __call__(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """[n] bool: has user ``users[k]`` interacted with item ``items[k]``?"""
        lo, end = self.indptr[users], self.indptr[users + 1]
        hi = end.copy()
        last = max(len(self.indices) - 1, 0)
        for _ in range(self.rounds):  # vectorised bisection: first position >= the item
            mid = (lo + hi) // 2
            less = (lo < hi) & (self.indices[np.minimum(mid, last)] < items)
            more = (lo < hi) & ~less
            lo = np.where(less, mid + 1, lo)
            hi = np.where(more, mid, hi)
        if not len(self.indices):
            return np.zeros(len(users), bool)
        return (lo < end) & (self.indices[np.minimum(lo, last)] == items)
