"""The interactions as a sparse 0/1 user x item matrix: co-occurrence counts and exact Jaccard
over every user, in memory that grows with the interactions (never users x items)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from rag_recs.data.index import InteractionIndex


class InteractionMatrix:
    """Who interacted with what (any rating), by row and by column, for exact overlap counts.

    Rows and columns are the :class:`InteractionIndex` rows (0 is the unknown slot, empty).
    The by-user layout shares the index's arrays (one byte an interaction more); the by-item
    layout is a copy (about five bytes an interaction), made on first use. The index holds each
    (user, item) pair once (the loaders keep one row per pair).
    """

    def __init__(self, index: InteractionIndex) -> None:
        shape = (index.n_users + 1, index.n_items + 1)
        indptr = index.indptr
        if indptr[-1] < np.iinfo(np.int32).max:  # same index dtype: the index's rows are shared
            indptr = indptr.astype(np.int32)
        ones = np.ones(len(index.indices), bool)  # one byte per interaction
        self.by_user = sp.csr_matrix((ones, index.indices, indptr), shape=shape)
        self.user_counts = np.diff(self.by_user.indptr)  # [n_users + 1] items per user
        self.item_counts = index.popularity  # [n_items + 1] users per item
        self.n_users = index.n_users

    @functools.cached_property
    def by_item(self) -> sp.csc_matrix:
        """The same matrix by column (users per item), built on first use."""
        return self.by_user.tocsc()

    def users_of(self, item_row: int) -> np.ndarray:
        """User rows that interacted with the item at ``item_row``."""
        lo, hi = self.by_item.indptr[item_row], self.by_item.indptr[item_row + 1]
        return self.by_item.indices[lo:hi]

    def items_of(self, user_row: int) -> np.ndarray:
        """Item rows the user at ``user_row`` interacted with."""
        lo, hi = self.by_user.indptr[user_row], self.by_user.indptr[user_row + 1]
        return self.by_user.indices[lo:hi]

    def co_counts(self, item_row: int, others: np.ndarray) -> np.ndarray:
        """For each item row of ``others``: how many users interacted with it and with
        ``item_row`` both. Reads only the histories of that item's users."""
        users = self.users_of(item_row)
        if not len(users) or not len(others):
            return np.zeros(len(others), np.int64)
        together = np.bincount(self.by_user[users].indices, minlength=self.by_user.shape[1])
        return together[np.asarray(others, np.int64)]

    def jaccard(self, user_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every other user sharing an item with ``user_row``: (user rows, shared items,
        Jaccard = shared / union), exact, over all users."""
        mine = self.items_of(user_row)
        if not len(mine):
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0)
        shared = np.bincount(self.by_item[:, mine].indices, minlength=self.by_user.shape[0])
        shared[user_row] = 0
        rows = np.flatnonzero(shared)
        union = self.user_counts[user_row] + self.user_counts[rows] - shared[rows]
        return rows, shared[rows], shared[rows] / union
