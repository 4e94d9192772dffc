"""The benchmark protocols of docs/protocols.md: CTR (chronological 80/20) and leave-one-out
top-K."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.schema import ITEM, LABEL, RATING, USER, Dataset
from rag_recs.data.split import leave_one_out, random_split, split_by_ratio_chrono
from rag_recs.evaluation.baselines import TopKScorer
from rag_recs.evaluation.metrics import auc, logloss, loo_metrics, rank_of_target
from rag_recs.ranker.ranker import DeepFMRanker

CHUNK_SCORES = 1 << 22  # scores per chunk of users in evaluate_loo: 32 MiB as float64


def ctr_split(dataset: Dataset, seed: int = 2024) -> tuple[Dataset, pd.DataFrame]:
    """Per-user chronological 80/20 when there are timestamps, else a seeded random 80/20."""
    inter = dataset.interactions
    if dataset.has_users and dataset.has_time:
        train, test = split_by_ratio_chrono(inter, 0.2)
    else:
        train, test = random_split(inter, 0.2, seed)
    return dataset.subset(train), test


def evaluate_ctr(
    dataset: Dataset,
    config: RankerConfig | None = None,
    *,
    epochs: int | None = None,
    early_stopping: bool = True,
) -> dict[str, Any]:
    """Train on the CTR split with explicit labels and report test AUC and logloss."""
    config = (config or RankerConfig()).model_copy(update={"objective": "explicit"})
    train, test = ctr_split(dataset, config.seed)
    start = time.perf_counter()
    ranker = DeepFMRanker(config).fit(train, epochs=epochs, early_stopping=early_stopping)
    fit_seconds = time.perf_counter() - start
    labels = (test[LABEL] if LABEL in test else test[RATING] >= config.threshold).to_numpy(float)
    probs = ranker.predict(test)
    return {
        "protocol": "ctr",
        "auc": auc(labels, probs),
        "logloss": logloss(labels, probs),
        "n_train": len(train.interactions),
        "n_test": len(test),
        "epochs": len(ranker.log.losses),
        "train_samples_per_s": ranker.log.samples / fit_seconds,
        "step_samples_per_s": ranker.log.samples_per_s,
        "fit_seconds": fit_seconds,
    }


class RankerScorer:
    """Adapts the DeepFM ranker to the leave-one-out protocol."""

    def __init__(self, config: RankerConfig | None = None, name: str = "DeepFM") -> None:
        self.config, self.name = config or RankerConfig(), name

    def train(self, train: Dataset) -> DeepFMRanker:
        """The ranker to evaluate (a subclass may take it from a cache instead)."""
        return DeepFMRanker(self.config.model_copy(update={"objective": "implicit"})).fit(train)

    def fit(self, train: Dataset, catalog: pd.Index) -> RankerScorer:
        self.ranker = self.train(train)
        self.columns = pd.Index(self.ranker.items).get_indexer(catalog) + 1  # catalog -> ranker row
        return self

    @property
    def same_order(self) -> bool:
        """The ranker's rows in catalog order (as when it trained on this catalog): scores are
        then a view of its matrix, no copy."""
        return np.array_equal(self.columns, np.arange(1, len(self.columns) + 1))

    def scores(self, users: list) -> np.ndarray:
        rows = np.array([self.ranker.user_row(u) for u in users], np.int64)
        matrix = self.ranker.score_matrix(rows)  # [n, n_items + 1], column 0 unknown
        if self.same_order:
            return matrix[:, 1:]
        out = matrix[:, self.columns.clip(min=0)]
        out[:, self.columns <= 0] = -np.inf
        return out


def loo_split(dataset: Dataset) -> tuple[Dataset, pd.DataFrame]:
    """Each user's last interaction (by time, ties by item id) is the test row; the rest train."""
    train_frame, test = leave_one_out(dataset.interactions)
    return dataset.subset(train_frame), test


def evaluate_loo(
    dataset: Dataset,
    scorers: list[TopKScorer],
    *,
    k: int = 10,
    max_users: int | None = None,
    seed: int = 2024,
    chunk_scores: int = CHUNK_SCORES,
) -> list[dict[str, Any]]:
    """Leave-one-out: each user's last interaction is the target; every unseen item competes.

    Users are scored a chunk at a time (``chunk_scores`` scores per chunk): each chunk's seen
    items are masked, its targets ranked and its top ``k`` kept, then it is dropped, so memory
    stays bounded however many users x items there are.
    """
    train, test = loo_split(dataset)
    train_frame = train.interactions
    if max_users and len(test) > max_users:
        test = test.sample(max_users, random_state=seed)
    catalog = dataset.catalog
    users = test[USER].tolist()
    target = catalog.get_indexer(test[ITEM])
    seen = SeenItems(pd.Index(users).get_indexer(train_frame[USER]),
                     catalog.get_indexer(train_frame[ITEM]), len(users))  # fmt: skip
    per = max(1, chunk_scores // max(len(catalog), 1))
    results = []
    for scorer in scorers:
        start = time.perf_counter()
        scorer.fit(train, catalog)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        ranks, recommended = [], np.zeros(len(catalog), bool)
        for s in range(0, len(users), per):
            scores = np.asarray(scorer.scores(users[s : s + per]))  # float32 or float64
            if scores.dtype.kind != "f":
                scores = scores.astype(np.float64)
            rows, cols = seen.chunk(s, s + per)
            scores[rows, cols] = -np.inf  # seen = any interaction, whatever its rating
            ranks.append(rank_of_target(scores, target[s : s + per]))
            # each row's k best: torch's topk is a tenth of numpy's argpartition's time here
            best = torch.topk(torch.from_numpy(scores), k, dim=1, sorted=False).indices
            recommended[best.numpy().ravel()] = True
        score_s = time.perf_counter() - start
        result = {"model": scorer.name, **loo_metrics(np.concatenate(ranks), k)}
        result.update(
            coverage=float(recommended.sum() / len(catalog)),
            n_users=len(users),
            fit_seconds=fit_s,
            score_seconds=score_s,
        )
        results.append(result)
    return results


class SeenItems:
    """The (row, column) pairs to mask, grouped by row so a chunk of rows finds its own."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n_rows: int) -> None:
        keep = rows >= 0
        order = np.argsort(rows[keep], kind="stable")
        self.rows, self.cols = rows[keep][order], cols[keep][order]
        self.starts = np.searchsorted(self.rows, np.arange(n_rows + 1))

    def chunk(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``lo:hi``'s pairs, rows counted from ``lo``."""
        a, b = self.starts[lo], self.starts[min(hi, len(self.starts) - 1)]
        return self.rows[a:b] - lo, self.cols[a:b]
