"""Negative sampling for implicit feedback: items a user never interacted with."""

from __future__ import annotations

import numpy as np


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """One int64 per (user row, item row) pair, for fast membership tests."""
    return users.astype(np.int64) * (n_items + 1) + items.astype(np.int64)


def sample_negatives(
    users: np.ndarray,
    positives: np.ndarray,
    n_items: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    max_rounds: int = 50,
) -> tuple[np.ndarray, np.ndarray]:
    """One negative item row (1..n_items) per entry of ``users``, never one of their positives.

    ``positives`` are the sorted pair keys of all known interactions. ``weights`` (length
    n_items) gives popularity-weighted sampling; None is uniform. Collisions are redrawn; a user
    who has seen (almost) everything may keep none, so a keep-mask is returned with the items.
    """
    p = None if weights is None else weights / weights.sum()
    items = rng.choice(n_items, size=len(users), p=p) + 1
    todo = np.arange(len(users))
    for _ in range(max_rounds):
        keys = pair_keys(users[todo], items[todo], n_items)
        pos = np.searchsorted(positives, keys).clip(max=len(positives) - 1)
        hit = positives[pos] == keys
        todo = todo[hit]
        if not len(todo):
            break
        items[todo] = rng.choice(n_items, size=len(todo), p=p) + 1
    keep = np.ones(len(users), bool)
    if len(todo):  # re-check the last redraw
        keys = pair_keys(users[todo], items[todo], n_items)
        pos = np.searchsorted(positives, keys).clip(max=len(positives) - 1)
        keep[todo[positives[pos] == keys]] = False
    return items, keep
