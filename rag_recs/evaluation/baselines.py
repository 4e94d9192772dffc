"""Classical top-K baselines: popularity, ItemKNN (cosine) and UserKNN (Jaccard).

Each scores every catalog item for a list of users; the LOO protocol masks seen items.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from rag_recs.data.schema import ITEM, USER, Dataset


class TopKScorer(Protocol):
    """Anything the leave-one-out protocol can rank with."""

    name: str

    def fit(self, train: Dataset, catalog: pd.Index) -> Any: ...

    def scores(self, users: list) -> np.ndarray:
        """[len(users), len(catalog)] scores, higher is better."""
        ...


class _Matrix:
    """Shared set-up: the binary user x item matrix of the training interactions."""

    name = "base"

    def fit(self, train: Dataset, catalog: pd.Index) -> _Matrix:
        inter = train.interactions
        self.users = pd.Index(inter[USER].unique())
        rows = self.users.get_indexer(inter[USER])
        cols = catalog.get_indexer(inter[ITEM])
        data = np.ones(len(rows), np.float32)
        shape = (len(self.users), len(catalog))
        self.matrix = sparse.csr_matrix((data, (rows, cols)), shape=shape)
        self.matrix.data[:] = 1.0  # duplicates collapse to 1
        self.popularity = np.asarray(self.matrix.sum(0)).ravel()
        self._prepare()
        return self

    def _prepare(self) -> None:
        pass

    def _rows(self, users: list) -> tuple[np.ndarray, np.ndarray]:
        rows = self.users.get_indexer(pd.Index(users))
        return rows, rows >= 0

    def scores(self, users: list) -> np.ndarray:
        rows, known = self._rows(users)
        out = np.zeros((len(users), self.matrix.shape[1]), np.float64)
        if known.any():
            out[known] = self._known(rows[known])
        # cold users and ties fall back to popularity: a tie-breaker too small to outrank evidence
        return out + 1e-9 * self.popularity / max(self.popularity.max(), 1)

    def _known(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Popularity(_Matrix):
    """Most-interacted items first."""

    name = "Popularity"

    def _known(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity, (len(rows), len(self.popularity))).astype(
            np.float64
        )


class ItemKNN(_Matrix):
    """Sum of cosine similarities between a candidate and the user's items."""

    name = "ItemKNN (cosine)"

    def _prepare(self) -> None:
        norms = np.sqrt(self.popularity).clip(min=1e-12)
        normalized = self.matrix.multiply(1.0 / norms).tocsc()
        sim = (normalized.T @ normalized).toarray()
        np.fill_diagonal(sim, 0.0)
        self.similarity = sim

    def _known(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[rows] @ self.similarity)


class UserKNN(_Matrix):
    """Items of the ``k`` most Jaccard-similar users, weighted by similarity."""

    name = "UserKNN (Jaccard, k=50)"

    def __init__(self, k: int = 50) -> None:
        self.k = k
        self.name = f"UserKNN (Jaccard, k={k})"

    def _known(self, rows: np.ndarray) -> np.ndarray:
        size = np.asarray(self.matrix.sum(1)).ravel()
        shared = (self.matrix[rows] @ self.matrix.T).toarray()
        jaccard = shared / (size[rows, None] + size[None, :] - shared).clip(min=1)
        jaccard[np.arange(len(rows)), rows] = 0.0
        k = min(self.k, jaccard.shape[1] - 1)
        if k > 0:
            cutoff = -np.partition(-jaccard, k - 1, axis=1)[:, k - 1 : k]
            jaccard = np.where(jaccard >= cutoff, jaccard, 0.0)
        return np.asarray(sparse.csr_matrix(jaccard) @ self.matrix.toarray())
