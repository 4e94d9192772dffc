"""Scoring with a trained ranker: any items for a user, the whole catalog for many users, top-K.

A user's query (user fields, and the history field from their latest items) is embedded once
and scored against every item in one pass; the items' share of the logit
(:meth:`DeepFM.item_side`) is computed once for all users. Scoring a catalog costs one matrix
product for the FM cross terms and the MLP's upper layers per (user, item) pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from rag_recs.data.schema import ITEM, USER
from rag_recs.errors import ModelError
from rag_recs.ranker.features import HISTORY, Tensors
from rag_recs.ranker.train import predict_logits
from rag_recs.ranker.trained import Trained


class Scorer:
    """Logits and probabilities from a :class:`Trained` ranker."""

    def __init__(self, trained: Trained, chunk_pairs: int = 1 << 14) -> None:
        self.trained = trained
        self.model = trained.model
        self.device = next(trained.model.parameters()).device
        self.chunk_pairs = chunk_pairs  # (user, item) pairs per forward pass: bounds memory
        self._all_items: Tensors | None = None

    @property
    def index(self):
        if self.trained.index is None:
            raise ModelError("this ranker was trained on a generic CTR table: use predict(frame)")
        return self.trained.index

    def query(self, user_rows: np.ndarray, history: torch.Tensor | None = None) -> Tensors:
        """User fields plus a serving context: the history field, other context fields unknown."""
        trained = self.trained
        assert trained.user_table is not None
        rows = torch.from_numpy(np.asarray(user_rows, np.int64))
        n = len(rows)
        ctx_fields = trained.feature_map.side("context")
        bags = []
        for f in ctx_fields:
            if f.kind != "bag":
                continue
            if f.name == HISTORY and (history is not None or trained.recent is not None):
                bags.append(history if history is not None else trained.recent[rows])
            else:
                bags.append(torch.zeros((n, max(f.max_len, 1)), dtype=torch.int64))
        ctx = Tensors(
            torch.zeros((n, sum(f.kind == "sparse" for f in ctx_fields)), dtype=torch.int64),
            torch.zeros((n, sum(f.kind == "dense" for f in ctx_fields))),
            bags,
        )
        return Tensors.join(trained.user_table.take(rows), ctx).to(self.device)

    def _items(self, item_rows: np.ndarray | None = None) -> Tensors:
        """Item fields [1, M] of ``item_rows`` (all items, rows 1..n, by default)."""
        table = self.trained.item_table
        assert table is not None
        if item_rows is None:
            if self._all_items is None:
                everything = torch.arange(1, self.index.n_items + 1).unsqueeze(0)
                self._all_items = table.take(everything).to(self.device)
            return self._all_items
        rows = torch.from_numpy(np.asarray(item_rows, np.int64)).unsqueeze(0)
        return table.take(rows).to(self.device)

    @property
    def users_per_chunk(self) -> int:
        """Users :meth:`score_matrix` scores at once (``chunk_pairs`` pairs)."""
        return max(1, self.chunk_pairs // max(self.index.n_items, 1))

    @torch.inference_mode()
    def score_matrix(
        self, user_rows: np.ndarray, history: torch.Tensor | None = None
    ) -> np.ndarray:
        """Logits [len(user_rows), n_items + 1] of every catalog item (column 0 is -inf)."""
        self.model.eval()
        n_items = self.index.n_items
        out = np.empty((len(user_rows), n_items + 1), np.float32)
        out[:, 0] = -np.inf
        side = self.model.item_side(self._items())  # once for every user
        per = self.users_per_chunk
        for s in range(0, len(user_rows), per):
            part = None if history is None else history[s : s + per]
            query = self.query(np.asarray(user_rows[s : s + per]), part)
            out[s : s + per, 1:] = self.model.score(query, side).cpu().numpy()  # [users, items]
        return out

    @torch.inference_mode()
    def logits(self, user_row: int, item_rows: np.ndarray) -> np.ndarray:
        """Logits of ``item_rows`` for one user."""
        self.model.eval()
        if not len(item_rows):
            return np.zeros(0, np.float32)
        query = self.query(np.array([user_row]))
        return self.model(query, self._items(item_rows))[0].cpu().numpy()

    def score(self, user: Any, items: list | np.ndarray) -> np.ndarray:
        """Like probability of each item for ``user`` (unknown users and items still score)."""
        index = self.index
        rows = np.array([index.item_row(x) for x in items], np.int64)
        return _sigmoid(self.logits(index.user_row(user), rows))

    def top_k(
        self, user: Any, k: int = 10, *, candidates: list | None = None, exclude_seen: bool = True
    ) -> list[tuple[Any, float]]:
        """The ``k`` best (item id, probability) for ``user``, unseen only by default."""
        index = self.index
        row = index.user_row(user)
        if candidates is None:
            logits = self.score_matrix(np.array([row]))[0]
        else:
            rows = np.array(sorted({index.item_row(c) for c in candidates} - {0}), np.int64)
            logits = np.full(index.n_items + 1, -np.inf, np.float32)
            logits[rows] = self.logits(row, rows)
        if exclude_seen:
            logits[index.seen_rows(row)] = -np.inf
        k = min(k, int(np.isfinite(logits).sum()))
        best = np.argpartition(-logits, k)[:k] if k < len(logits) else np.arange(len(logits))
        best = best[np.argsort(-logits[best], kind="stable")][:k]
        probs = _sigmoid(logits[best])
        return [(index.item_id(r), float(p)) for r, p in zip(best, probs, strict=True)]

    @torch.inference_mode()
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities for rows of a table with the training columns (or user and item ids)."""
        trained = self.trained
        fmap = trained.feature_map
        if fmap.generic:
            query = fmap.encode(frame, "context").to(self.device)
            return _sigmoid(predict_logits(self.model, query).cpu().numpy())
        index = self.index
        users = np.array([index.user_row(x) for x in frame[USER]], np.int64)
        items = torch.tensor([index.item_row(x) for x in frame[ITEM]], dtype=torch.int64)
        assert trained.item_table is not None
        item_fields = trained.item_table.take(items.unsqueeze(1)).to(self.device)  # [n, 1]
        logits = predict_logits(self.model, self.query(users), item_fields)
        return _sigmoid(logits.cpu().numpy())


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
