"""Who interacted with what, as integer rows: the one place for id resolution, seen and liked
sets, popularity and recent history.

Users and items get rows 1..n (row 0 is "unknown"), so every stage (ranker, assistant, store,
evaluation) asks the same object the same questions. Each user's interactions are kept in one
compressed-row layout, oldest first (by time, ties by item id: the leave-one-out order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from rag_recs.data.columns import ITEM, RATING, TIME, USER, id_spellings, to_python
from rag_recs.errors import UnknownUser


class Interactions(Protocol):
    """What the index reads of a :class:`~rag_recs.data.schema.Dataset` (which holds its
    index, so the index cannot import it)."""

    @property
    def interactions(self) -> pd.DataFrame: ...

    @property
    def all_users(self) -> pd.Index: ...

    @property
    def catalog(self) -> pd.Index: ...


class InteractionIndex:
    """Users, items and each user's time-ordered interactions (rows, not ids)."""

    def __init__(
        self,
        users: pd.Index,
        items: pd.Index,
        indptr: np.ndarray,
        indices: np.ndarray,
        liked: np.ndarray,
    ) -> None:
        self.users, self.items = users, items
        self.indptr = indptr  # [n_users + 2]: row r's interactions are indices[indptr[r]:...+1]]
        self.indices = indices  # item rows, each user's oldest first
        self.liked_mask = liked  # [len(indices)]: a like (rating at or above the threshold)
        self.popularity = np.bincount(indices, minlength=len(items) + 1).astype(np.int64)

    @classmethod
    def from_dataset(cls, dataset: Interactions, like_threshold: float = 4.0) -> InteractionIndex:
        """Index ``dataset``; its users table adds users without interactions (cold start)."""
        inter = dataset.interactions
        users = dataset.all_users
        items = dataset.catalog
        u = users.get_indexer(inter[USER]) + 1
        i = items.get_indexer(inter[ITEM]) + 1
        tie = inter[ITEM].rank(method="dense").to_numpy()  # same-time events: by item id
        keys = (tie, inter[TIME].to_numpy(), u) if TIME in inter else (np.arange(len(u)), u)
        order = np.lexsort(keys)
        liked = np.ones(len(u), bool)
        if RATING in inter:
            liked = inter[RATING].to_numpy() >= like_threshold
        counts = np.bincount(u, minlength=len(users) + 1)
        indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        return cls(users, items, indptr, i[order].astype(np.int32), liked[order])

    # ---- ids ------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @staticmethod
    def _find(ids: pd.Index, key: Any) -> int:
        """A row for ``key``, matching "78" to 78 and back (ids keep their source type).

        The lookup is the Index's own hash table over its array: a dict of Python ids would
        cost about 100 bytes per user, more than the rest of a user's state together."""
        for spelling in id_spellings(key):
            try:
                at = ids.get_loc(spelling)
            except (KeyError, TypeError, ValueError, pd.errors.InvalidIndexError):
                continue
            if isinstance(at, int | np.integer):  # ids are unique: never a slice or mask
                return int(at) + 1
        return 0

    def user_row(self, user: Any) -> int:
        """1..n_users, or 0 for a user the index does not know."""
        return self._find(self.users, user)

    def item_row(self, item: Any) -> int:
        """1..n_items, or 0 for an item not in the catalog."""
        return self._find(self.items, item)

    def item_rows(self, items: Sequence[Any]) -> np.ndarray:
        """:meth:`item_row` of many items [len(items)]: the Index's vectorised lookup for ids
        given in their source type (a catalog's own ids), the one-by-one spellings for the rest.
        """
        if not len(items):
            return np.zeros(0, np.int64)
        rows = self.items.get_indexer(pd.Index(list(items))) + 1
        for at in np.flatnonzero(rows == 0):
            rows[at] = self.item_row(items[at])
        return rows.astype(np.int64)

    def user_id(self, row: int) -> Any:
        return to_python(self.users[row - 1])

    def item_id(self, row: int) -> Any:
        return to_python(self.items[row - 1])

    def resolve_user(self, user: Any) -> Any:
        """The source id of ``user`` ("78" finds 78); an unknown user is a clear error."""
        row = self.user_row(user)
        if not row:
            sample = ", ".join(map(str, list(self.users[:3])))
            raise UnknownUser(f"unknown user {user!r} (users look like {sample}, ...)")
        return self.user_id(row)

    def resolve_item(self, item: Any) -> Any | None:
        """The source id of ``item``, or None when it is not in the catalog."""
        row = self.item_row(item)
        return self.item_id(row) if row else None

    # ---- histories ------------------------------------------------------------------------
    def seen_rows(self, row: int) -> np.ndarray:
        """Item rows the user at ``row`` interacted with (any rating), oldest first."""
        if not 0 < row <= self.n_users:
            return np.zeros(0, np.int32)
        return self.indices[self.indptr[row] : self.indptr[row + 1]]

    def liked_rows(self, row: int) -> np.ndarray:
        if not 0 < row <= self.n_users:
            return np.zeros(0, np.int32)
        lo, hi = self.indptr[row], self.indptr[row + 1]
        return self.indices[lo:hi][self.liked_mask[lo:hi]]

    def seen_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every seen (position in ``rows``, item row) pair of the users at ``rows``: what a
        chunk of users masks, in one vectorised step (unknown rows have none)."""
        rows = np.where((rows > 0) & (rows <= self.n_users), rows, 0)  # row 0 has none
        lo, hi = self.indptr[rows], self.indptr[rows + 1]
        counts = hi - lo
        owner = np.repeat(np.arange(len(rows)), counts)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        return owner, self.indices[np.repeat(lo, counts) + offset]

    def seen(self, user: Any) -> set:
        """Items ``user`` interacted with, whatever the rating, as source ids."""
        return {self.item_id(r) for r in self.seen_rows(self.user_row(user))}

    def liked(self, user: Any) -> set:
        """Items ``user`` liked (every interaction counts when there are no ratings)."""
        return {self.item_id(r) for r in self.liked_rows(self.user_row(user))}

    def co_occurrence(self, item: Any) -> dict[Any, float]:
        """Every other item's cosine similarity to ``item`` over the users who interacted with
        each (shared users / sqrt of the two counts); items sharing no user are left out."""
        row = self.item_row(item)
        if not row:
            return {}
        users, items = self.seen_pairs()
        mine = np.zeros(self.n_users + 1, bool)
        mine[users[items == row]] = True
        shared = np.bincount(items[mine[users]], minlength=self.n_items + 1).astype(float)
        shared[row] = 0
        sims = shared / np.sqrt(np.maximum(self.popularity, 1) * max(self.popularity[row], 1))
        return {self.item_id(int(r)): float(sims[r]) for r in np.flatnonzero(shared)}

    def seen_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(user row, item row) of every interaction."""
        users = np.repeat(np.arange(self.n_users + 1, dtype=np.int32), np.diff(self.indptr))
        return users, self.indices

    def recent(self, length: int) -> np.ndarray:
        """[n_users + 1, length] item rows, each user's newest first (0 = padding)."""
        out = np.zeros((self.n_users + 1, length), np.int32)
        counts = np.diff(self.indptr)
        for lag in range(length):
            has = np.flatnonzero(counts > lag)
            out[has, lag] = self.indices[self.indptr[has + 1] - 1 - lag]
        return out

    def to_arrays(self) -> dict[str, Any]:
        """What :meth:`from_arrays` needs (ids as plain Python lists, rows as arrays)."""
        return {
            "users": [to_python(v) for v in self.users],
            "items": [to_python(v) for v in self.items],
            "indptr": self.indptr,
            "indices": self.indices,
            "liked": self.liked_mask,
        }

    @classmethod
    def from_arrays(cls, data: dict[str, Any]) -> InteractionIndex:
        return cls(
            pd.Index(data["users"]),
            pd.Index(data["items"]),
            np.asarray(data["indptr"], np.int64),
            np.asarray(data["indices"], np.int32),
            np.asarray(data["liked"], bool),
        )
