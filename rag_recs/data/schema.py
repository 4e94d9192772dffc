"""The in-memory dataset every stage works on: interactions plus optional item and user tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from rag_recs.data.columns import (  # noqa: F401 - the names every stage imports from here
    GENRES,
    ITEM,
    LABEL,
    RATING,
    TEXT,
    TIME,
    TITLE,
    USER,
    to_python,
)
from rag_recs.data.index import InteractionIndex


@dataclass
class Dataset:
    """Interactions (one row per user-item event) with optional item and user tables.

    Canonical columns: ``user_id``, ``item_id`` and, when known, ``rating``, ``label`` (0/1),
    ``timestamp`` (int seconds). Other columns are features. ``items`` has ``item_id`` and
    optionally ``title``, ``genres`` (list of str) and ``text``; ``users`` has ``user_id``.
    Ids keep their source type (int or str). The catalog is ``items.item_id`` when given
    (items nobody interacted with still exist), else the interacted items.
    """

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = "data"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_users(self) -> bool:
        """False for a generic CTR table (events whose columns are all plain features)."""
        if self.meta.get("generic"):
            return False
        return USER in self.interactions.columns and ITEM in self.interactions.columns

    @property
    def rows(self) -> dict[str, Any]:
        """Rows the loader read and kept, and the dropped count by reason."""
        n = len(self.interactions)
        return self.meta.get("rows") or {"read": n, "used": n, "dropped": {}}

    @property
    def has_time(self) -> bool:
        return TIME in self.interactions.columns

    @cached_property
    def catalog(self) -> pd.Index:
        """Every item that exists, in a stable order."""
        ids = self.interactions[ITEM].unique()
        if self.items is not None:
            ids = pd.Index(self.items[ITEM]).append(pd.Index(ids)).unique()
        return pd.Index(ids)

    @cached_property
    def user_index(self) -> pd.Index:
        return pd.Index(self.interactions[USER].unique())

    @property
    def all_users(self) -> pd.Index:
        """Every user: those with interactions, then those only in the users table (cold
        start), in the order that gives them their rows."""
        if self.users is None:
            return self.user_index
        return self.user_index.append(pd.Index(self.users[USER])).unique()

    @cached_property
    def index(self) -> InteractionIndex:
        """Ids as rows, each user's seen and liked items, popularity, recent history."""
        return InteractionIndex.from_dataset(self)

    def title(self, item: Any) -> str:
        """A readable name for an item: its title when the data has one, else ``item <id>``."""
        titles = self._titles
        return titles.get(item) or f"item {item}"

    @cached_property
    def _titles(self) -> dict[Any, str]:
        if self.items is None or TITLE not in self.items.columns:
            return {}
        return {k: v for k, v in zip(self.items[ITEM], self.items[TITLE], strict=True) if v}

    @cached_property
    def fingerprint(self) -> str:
        """A short content hash of all tables: the workspace key of models built from them."""
        digest = hashlib.sha256()
        for frame in (self.interactions, self.items, self.users):
            if frame is None:
                digest.update(b"-")
                continue
            digest.update(",".join(map(str, frame.columns)).encode())
            digest.update(hash_rows(frame))
        return digest.hexdigest()[:16]

    def subset(self, interactions: pd.DataFrame) -> Dataset:
        """The same catalog and side tables over other interactions (a split's part)."""
        return Dataset(interactions, self.items, self.users, self.name, dict(self.meta))

    def __repr__(self) -> str:
        n_items = len(self.catalog) if self.has_users else 0
        return (
            f"Dataset({self.name!r}: {len(self.interactions):,} interactions, "
            f"{self.interactions[USER].nunique() if self.has_users else 0:,} users, "
            f"{n_items:,} items)"
        )


def hash_rows(frame: pd.DataFrame) -> bytes:
    """One 64-bit hash per row, as bytes: row by row, so a table hashed in consecutive slices
    gives the same bytes as the whole (what a streamed fingerprint relies on)."""
    hashable = frame.copy()
    for col in frame.select_dtypes(include=["object"]).columns:
        hashable[col] = frame[col].map(_hashable)
    return pd.util.hash_pandas_object(hashable, index=False).to_numpy().tobytes()


def _hashable(value: Any) -> Any:
    return "|".join(map(str, value)) if isinstance(value, list | tuple | np.ndarray) else value
