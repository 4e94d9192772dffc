"""Scoring with a trained ranker: any items for a user, the whole catalog for many users, top-K.

A user's query (user fields, and the history field from their latest items) is embedded once
and scored against every item in one pass; the items' share of the logit
(:meth:`DeepFM.item_side`) is computed once for all users. Scoring a catalog costs one matrix
product for the FM cross terms and the MLP's upper layers per (user, item) pair.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch

from rag_recs.data.schema import ITEM, USER
from rag_recs.errors import ModelError
from rag_recs.ranker.deepfm import ItemSide
from rag_recs.ranker.features import HISTORY, Tensors
from rag_recs.ranker.train import predict_logits
from rag_recs.ranker.trained import Trained

T = TypeVar("T")
CHUNK_SCORES = 1 << 22  # logits per chunk of users in top_k_rows (16 MiB)


def one_thread(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` with one intra-op thread, then restore the count.

    Scoring runs in cache-sized blocks: splitting one block over threads costs more in
    synchronisation than it saves, most of all when other processes share the cores (5e4 items
    on a busy 2-core machine: 20 ms a user on one thread, 333 ms on two).
    """

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> T:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return run


class Scorer:
    """Logits and probabilities from a :class:`Trained` ranker."""

    def __init__(
        self,
        trained: Trained,
        block_users: int = 8,
        block_pairs: int = 1 << 12,
        block_users_linear: int = 64,
    ) -> None:
        self.trained = trained
        self.model = trained.model
        self.device = next(trained.model.parameters()).device
        self.block_users, self.block_pairs = block_users, block_pairs  # see _score_chunk
        self.block_users_linear = block_users_linear
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
    def linear(self) -> bool:
        """Whether the logit is affine in the item's terms (no hidden MLP layer, as with the
        softmax losses): a block of users then scores the whole catalog in one matrix product."""
        return self.model.mlp.linear_only

    @property
    def users_per_chunk(self) -> int:
        """Users scored together in one block: chunks of users that are whole multiples of it
        give bit-identical scores however the users are chunked."""
        return self.block_users_linear if self.linear else self.block_users

    def _chunk_users(self, chunk_scores: int) -> int:
        """Users per chunk: about ``chunk_scores`` scores, a whole multiple of the block."""
        per = max(1, chunk_scores // (self.index.n_items + 1))
        return max(1, per // self.users_per_chunk) * self.users_per_chunk

    def catalog_terms(self) -> ItemSide | torch.Tensor:
        """Every item's share of the logit, computed once however many users follow: the
        items' :meth:`DeepFM.item_side`, or, for a :attr:`linear` model, a matrix [d + 2,
        n_items + 1] whose product with a user's [sum of query vectors, query's own logit, 1]
        is that user's logit of every item (column 0, the unknown item, is masked later)."""
        side = self.model.item_side(self._items())  # [1, M, ...]
        if not self.linear:
            return side
        # DeepFM.score, term by term: own(q) + side.linear + <q_sum, side.sums> + mlp, where a
        # one-layer MLP is w_q . q + b (the query's part) + side.hidden (the item's part)
        sums = side.sums[0].T  # [d, M]
        items = (side.linear + side.hidden[..., 0])[0]  # [M]
        terms = torch.cat([sums, torch.ones_like(items)[None], items[None]])  # [d + 2, M]
        return torch.cat([torch.zeros_like(terms[:, :1]), terms], 1)  # [d + 2, M + 1]

    def _own(self, query: Tensors, embedded: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The query's share of every item's logit [b, 1] (bias, the query's first-order and FM
        terms, the MLP's query part): :meth:`DeepFM.score` of one item whose terms are zero."""
        d = embedded[0].shape[-1]
        zero = ItemSide(torch.zeros((1, 1)), torch.zeros((1, 1, d)), torch.zeros((1, 1, 1)))
        return self.model.score(query, zero, embedded)

    def _score_chunk(
        self, user_rows: np.ndarray, history: torch.Tensor | None, terms: ItemSide | torch.Tensor
    ) -> torch.Tensor:
        """Logits [len(user_rows), n_items + 1] (column 0 is -inf), a block of
        :attr:`users_per_chunk` users at a time: one matrix product per block for a
        :attr:`linear` model (``terms`` from :meth:`catalog_terms`), else blocks of
        ``block_pairs // block_users`` items, so the MLP's [pairs, hidden] activations stay
        small enough for the CPU cache."""
        n_items = self.index.n_items
        out = torch.empty((len(user_rows), n_items + 1))
        b = self.users_per_chunk
        step = max(1, self.block_pairs // b)
        for s in range(0, len(user_rows), b):
            part = None if history is None else history[s : s + b]
            query = self.query(np.asarray(user_rows[s : s + b]), part)
            embedded = self.model.embed_query(query)  # [b, Fq, d], [b, Fq]
            if isinstance(terms, torch.Tensor):  # linear: [b, d + 2] @ [d + 2, M + 1]
                q_sum = embedded[0].sum(1)  # [b, d]
                q = torch.cat([q_sum, self._own(query, embedded)], 1)  # [b, d + 1]
                q = torch.cat([q, torch.ones_like(q[:, :1])], 1)  # [b, d + 2]
                if q.device.type == "cpu":
                    torch.mm(q, terms, out=out[s : s + b])
                else:
                    out[s : s + b] = (q @ terms).cpu()
                continue
            for i in range(0, n_items, step):
                block = ItemSide(*(t[:, i : i + step] for t in terms))
                logits = self.model.score(query, block, embedded)
                out[s : s + b, 1 + i : 1 + i + step] = logits.cpu()
        out[:, 0] = -torch.inf
        return out

    @torch.inference_mode()
    @one_thread
    def score_matrix(
        self, user_rows: np.ndarray, history: torch.Tensor | None = None
    ) -> np.ndarray:
        """Logits [len(user_rows), n_items + 1] of every catalog item (column 0 is -inf).

        The result is users x items: for many users, :meth:`top_k_rows` keeps memory bounded."""
        self.model.eval()
        terms = self.catalog_terms()  # once for every user
        return self._score_chunk(np.asarray(user_rows), history, terms).numpy()

    @torch.inference_mode()
    @one_thread
    def top_k_rows(
        self, user_rows: np.ndarray, k: int, *, exclude_seen: bool = True,
        chunk_scores: int = CHUNK_SCORES,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """The ``k`` best item rows [n, k] and their logits [n, k] for many users, a chunk of
        users at a time (about ``chunk_scores`` logits), each chunk's seen items masked: memory
        does not grow with users x items. A user with fewer than ``k`` unseen items has row 0
        and logit -inf in the places left over."""
        self.model.eval()
        user_rows = np.asarray(user_rows, np.int64)
        index = self.index
        k = max(0, min(k, index.n_items))
        best = np.zeros((len(user_rows), k), np.int64)
        values = np.full((len(user_rows), k), -np.inf, np.float32)
        per = self._chunk_users(chunk_scores)
        terms = self.catalog_terms()  # once for every user
        for s in range(0, len(user_rows), per):
            rows = user_rows[s : s + per]
            logits = self._score_chunk(rows, None, terms)
            if exclude_seen:
                owner, items = index.seen_of(rows)
                logits[
                    torch.from_numpy(owner), torch.from_numpy(items.astype(np.int64))
                ] = -torch.inf
            top = torch.topk(logits, k, dim=1)  # sorted, largest first
            best[s : s + per] = top.indices.numpy()
            values[s : s + per] = top.values.numpy()
        best[~np.isfinite(values)] = 0
        return best, values

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
        rows = index.item_rows(list(items))
        return _sigmoid(self.logits(index.user_row(user), rows))

    def top_k(
        self, user: Any, k: int = 10, *, candidates: list | None = None, exclude_seen: bool = True
    ) -> list[tuple[Any, float]]:
        """The ``k`` best (item id, probability) for ``user``, unseen only by default."""
        index = self.index
        row = index.user_row(user)
        if candidates is None:  # the whole catalog: the bounded batch path, for one user
            (best,), (top,) = self.top_k_rows(np.array([row]), k, exclude_seen=exclude_seen)
            found = np.isfinite(top)
            pairs = zip(best[found], _sigmoid(top[found]), strict=True)
            return [(index.item_id(r), float(p)) for r, p in pairs]
        rows = np.setdiff1d(index.item_rows(candidates), [0])  # sorted, unique, known
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
