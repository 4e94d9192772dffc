"""Ranking and CTR metrics, for one held-out target per user or sets of targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (sklearn's)."""
    return float(roc_auc_score(labels, scores))


def logloss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Binary cross-entropy of probabilities (clipped away from 0 and 1)."""
    return float(log_loss(labels, np.clip(probs, 1e-7, 1 - 1e-7), labels=[0, 1]))


def recall_at_k(ranked: Sequence, relevant: set, k: int = 10) -> float:
    """Share of the relevant items found in the top ``k``."""
    if not relevant:
        return 0.0
    return len(set(list(ranked)[:k]) & relevant) / len(relevant)


def hit_at_k(ranked: Sequence, relevant: set, k: int = 10) -> float:
    """1 if any relevant item is in the top ``k``."""
    return float(bool(set(list(ranked)[:k]) & relevant))


def ndcg_at_k(ranked: Sequence, relevant: set, k: int = 10) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    gains = [
        1.0 / np.log2(pos + 2) for pos, item in enumerate(list(ranked)[:k]) if item in relevant
    ]
    ideal = sum(1.0 / np.log2(pos + 2) for pos in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal else 0.0


def coverage(recommended: Sequence[Sequence], n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    distinct = {item for items in recommended for item in items}
    return len(distinct) / n_items if n_items else 0.0


def rank_of_target(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """0-based rank of each row's target column; ties count against the target (pessimistic),
    so a model that scores everything equal gets no free hits."""
    target_scores = scores[np.arange(len(target)), target][:, None]
    return (scores >= target_scores).sum(1) - 1  # the ones above, the ties, not itself


def loo_metrics(ranks: np.ndarray, k: int = 10) -> dict[str, float]:
    """Recall@k (= HitRate@k with one target) and NDCG@k from the targets' 0-based ranks."""
    hit = ranks < k
    return {
        f"recall@{k}": float(hit.mean()),
        f"ndcg@{k}": float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean()),
        f"hit@{k}": float(hit.mean()),
    }
