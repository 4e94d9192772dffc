"""The benchmark protocols of docs/protocols.md: CTR (chronological 80/20) and leave-one-out
top-K."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from rag_recs.config import RankerConfig
from rag_recs.data.schema import ITEM, LABEL, RATING, USER, Dataset
from rag_recs.data.split import leave_one_out, random_split, split_by_ratio_chrono
from rag_recs.evaluation.baselines import TopKScorer
from rag_recs.evaluation.metrics import auc, coverage, logloss, loo_metrics, rank_of_target
from rag_recs.ranker.ranker import DeepFMRanker


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

    def scores(self, users: list) -> np.ndarray:
        rows = np.array([self.ranker.user_row(u) for u in users], np.int64)
        matrix = self.ranker.score_matrix(rows)
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
) -> list[dict[str, Any]]:
    """Leave-one-out: each user's last interaction is the target; every unseen item competes."""
    train, test = loo_split(dataset)
    train_frame = train.interactions
    if max_users and len(test) > max_users:
        test = test.sample(max_users, random_state=seed)
    catalog = dataset.catalog
    users = test[USER].tolist()
    target = catalog.get_indexer(test[ITEM])
    seen_rows = pd.Index(users).get_indexer(train_frame[USER])
    keep = seen_rows >= 0
    seen_cols = catalog.get_indexer(train_frame[ITEM])[keep]
    seen_rows = seen_rows[keep]
    results = []
    for scorer in scorers:
        start = time.perf_counter()
        scorer.fit(train, catalog)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        scores = np.asarray(scorer.scores(users), np.float64)
        scores[seen_rows, seen_cols] = -np.inf  # seen = any interaction, whatever its rating
        score_s = time.perf_counter() - start
        ranks = rank_of_target(scores, target)
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        result = {"model": scorer.name, **loo_metrics(ranks, k)}
        result.update(
            coverage=coverage(top.tolist(), len(catalog)),
            n_users=len(users),
            fit_seconds=fit_s,
            score_seconds=score_s,
        )
        results.append(result)
    return results
