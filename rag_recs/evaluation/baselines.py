"""Classical top-K baselines: popularity, ItemKNN (cosine) and UserKNN (Jaccard).

Each scores every catalog item for a list of users; the LOO protocol masks seen items and asks
for a bounded chunk of users at a time. Everything else is ``scipy.sparse``: the user x item
matrix, the item x item similarities (only pairs some user shares, and optionally each item's
top neighbours) and each chunk's user x user similarities (each user's top ``k``), so memory
grows with the interactions, not with users x items or items x items.
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
        """[len(users), len(catalog)] scores, higher is better (asked for a chunk of users)."""
        ...


def top_per_row(matrix: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    """Each row's ``n`` largest entries, and any tied with the ``n``-th (rows with at most
    ``n`` entries are kept whole): the sparse form of ``where(row >= its n-th largest, row, 0)``.
    """
    matrix = matrix.tocsr()
    counts = np.diff(matrix.indptr)
    if n <= 0 or counts.max(initial=0) <= n:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((-matrix.data, rows))  # by row, largest first
    cutoff = np.full(matrix.shape[0], -np.inf, matrix.data.dtype)
    long = np.flatnonzero(counts > n)
    cutoff[long] = matrix.data[order[matrix.indptr[long] + n - 1]]
    keep = matrix.data >= cutoff[rows]
    kept = (matrix.data[keep], (rows[keep], matrix.indices[keep]))
    return sparse.csr_matrix(kept, shape=matrix.shape)


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
    """Sum of cosine similarities between a candidate and the user's items.

    The similarity matrix holds only item pairs some user shares; ``neighbours`` further keeps
    each item's most similar ones (None: all of them, the exact sum).
    """

    name = "ItemKNN (cosine)"

    def __init__(self, neighbours: int | None = None) -> None:
        self.neighbours = neighbours

    def _prepare(self) -> None:
        norms = np.sqrt(self.popularity).clip(min=1e-12)
        normalized = self.matrix.multiply(1.0 / norms).tocsc()
        sim = (normalized.T @ normalized).tocsr()
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.similarity = top_per_row(sim, self.neighbours) if self.neighbours else sim

    def _known(self, rows: np.ndarray) -> np.ndarray:
        return (self.matrix[rows] @ self.similarity).toarray()


class UserKNN(_Matrix):
    """Items of the ``k`` most Jaccard-similar users, weighted by similarity."""

    name = "UserKNN (Jaccard, k=50)"

    def __init__(self, k: int = 50) -> None:
        self.k = k
        self.name = f"UserKNN (Jaccard, k={k})"

    def _prepare(self) -> None:
        self.size = np.asarray(self.matrix.sum(1)).ravel()
        self.transposed = self.matrix.T.tocsr()

    def _known(self, rows: np.ndarray) -> np.ndarray:
        shared = (self.matrix[rows] @ self.transposed).tocoo()  # users sharing an item only
        r, c = shared.row, shared.col
        union = (self.size[rows][r] + self.size[c] - shared.data).clip(min=1)
        jaccard = shared.data / union
        other = c != rows[r]  # not the user themself
        similar = sparse.csr_matrix(
            (jaccard[other], (r[other], c[other])), shape=(len(rows), self.matrix.shape[0])
        )
        k = min(self.k, self.matrix.shape[0] - 1)
        if k > 0:
            similar = top_per_row(similar, k)
        return (similar @ self.matrix).toarray()
