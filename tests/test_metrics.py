"""Metrics against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag_recs.evaluation.metrics import (
    auc,
    coverage,
    hit_at_k,
    logloss,
    loo_metrics,
    ndcg_at_k,
    rank_of_target,
    recall_at_k,
)

RANKED = [5, 3, 9, 1, 8]


def test_recall_at_k():
    relevant = {3, 1, 7}
    assert recall_at_k(RANKED, relevant, k=1) == 0.0
    assert recall_at_k(RANKED, relevant, k=3) == pytest.approx(1 / 3)  # finds 3
    assert recall_at_k(RANKED, relevant, k=4) == pytest.approx(2 / 3)  # finds 3 and 1
    assert recall_at_k(RANKED, relevant, k=10) == pytest.approx(2 / 3)  # 7 is never ranked
    assert recall_at_k(RANKED, set(), k=10) == 0.0


def test_hit_at_k():
    assert hit_at_k(RANKED, {9}, k=2) == 0.0
    assert hit_at_k(RANKED, {9}, k=3) == 1.0
    assert hit_at_k(RANKED, {9, 5}, k=1) == 1.0
    assert hit_at_k(RANKED, {42}, k=5) == 0.0


def test_ndcg_at_k():
    # one hit at position 3: 1/log2(4) = 0.5, ideal 1
    assert ndcg_at_k(RANKED, {9}, k=10) == pytest.approx(0.5)
    assert ndcg_at_k(RANKED, {5}, k=10) == pytest.approx(1.0)
    assert ndcg_at_k(RANKED, {9}, k=2) == 0.0
    # hits at positions 2 and 4: (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(RANKED, {3, 1}, k=10) == pytest.approx(expected)  # = 1.0616 / 1.6309
    assert ndcg_at_k(RANKED, {3, 1}, k=10) == pytest.approx(0.65092, abs=1e-5)
    # ideal DCG is capped at k: 3 relevant, k=2, both top slots relevant -> 1
    assert ndcg_at_k([1, 2, 9], {1, 2, 3}, k=2) == pytest.approx(1.0)
    assert ndcg_at_k(RANKED, set(), k=10) == 0.0


def test_coverage():
    assert coverage([[1, 2], [2, 3], [3]], n_items=10) == pytest.approx(0.3)
    assert coverage([[1, 2], [2, 1]], n_items=2) == 1.0
    assert coverage([], n_items=5) == 0.0
    assert coverage([[1]], n_items=0) == 0.0


def test_auc():
    labels = np.array([0, 0, 1, 1])
    # pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(labels, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_logloss():
    labels = np.array([1, 0])
    expected = -(math.log(0.8) + math.log(0.7)) / 2  # = 0.2899...
    assert logloss(labels, np.array([0.8, 0.3])) == pytest.approx(expected)
    assert logloss(labels, np.array([0.8, 0.3])) == pytest.approx(0.28990, abs=1e-5)
    # certain and wrong is clipped to 1e-7, not infinite
    assert logloss(np.array([0]), np.array([1.0])) == pytest.approx(-math.log(1e-7), rel=1e-3)
    # a single class still works (labels=[0, 1] is given)
    assert logloss(np.array([1, 1]), np.array([0.5, 0.5])) == pytest.approx(math.log(2))


def test_rank_of_target_is_pessimistic_on_ties():
    scores = np.array(
        [
            [0.9, 0.5, 0.5, 0.1],  # target col 1: 0.9 is higher, col 2 ties -> 2
            [0.9, 0.5, 0.5, 0.1],  # target col 0: nothing higher -> 0
            [0.2, 0.2, 0.2, 0.2],  # all equal: the target ranks last (3)
            [0.1, 0.4, 0.3, -np.inf],  # target col 2: one higher -> 1
        ]
    )
    ranks = rank_of_target(scores, np.array([1, 0, 2, 2]))
    assert ranks.tolist() == [2, 0, 3, 1]


def test_loo_metrics():
    ranks = np.array([0, 2, 9, 10, 50])
    metrics = loo_metrics(ranks, k=10)
    assert set(metrics) == {"recall@10", "ndcg@10", "hit@10"}
    assert metrics["recall@10"] == pytest.approx(3 / 5)  # ranks 0, 2, 9 are inside the top 10
    assert metrics["hit@10"] == metrics["recall@10"]
    # 1/log2(2) + 1/log2(4) + 1/log2(11) = 1 + 0.5 + 0.28906..., averaged over 5 users
    expected = (1 + 0.5 + 1 / math.log2(11)) / 5
    assert metrics["ndcg@10"] == pytest.approx(expected)
    assert metrics["ndcg@10"] == pytest.approx(0.357813, abs=1e-6)
    assert loo_metrics(np.array([3]), k=3) == {"recall@3": 0.0, "ndcg@3": 0.0, "hit@3": 0.0}
