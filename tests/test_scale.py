"""Scoring and evaluation in bounded memory: chunks of users give exactly what one whole pass
gives, and the sparse baselines give the dense formulas' metrics."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from conftest import small_config
from scipy import sparse

from rag_recs.data.loaders import load_dataset
from rag_recs.data.synthetic import generate_catalog
from rag_recs.evaluation import ItemKNN, Popularity, UserKNN, evaluate_loo
from rag_recs.evaluation.baselines import top_per_row
from rag_recs.ranker import DeepFMRanker


@pytest.fixture(scope="module")
def mlp_ranker(small_data) -> DeepFMRanker:
    """A ranker with a hidden MLP layer: scored in blocks of items, not one matrix product."""
    return DeepFMRanker(small_config(epochs=1, hidden=(16,))).fit(small_data)


@pytest.mark.parametrize("model", ["linear", "mlp"])
def test_chunked_top_k_equals_one_whole_matrix_pass(model, small_ranker, mlp_ranker) -> None:
    small_ranker = small_ranker if model == "linear" else mlp_ranker
    assert small_ranker.scorer.linear == (model == "linear")
    index = small_ranker.index
    rows = np.r_[np.arange(1, index.n_users + 1), 0]  # every user, and an unknown one
    whole = small_ranker.score_matrix(rows)  # one [users, items] pass
    everything = np.arange(1, index.n_items + 1)
    for r in (0, 5, len(rows) - 1):  # the catalog path and DeepFM's own forward agree
        one = small_ranker.scorer.logits(int(rows[r]), everything)
        np.testing.assert_allclose(whole[r, 1:], one, rtol=1e-5, atol=1e-5)  # float32 sums
    owner, items = index.seen_of(rows)
    whole[owner, items] = -np.inf
    expected = np.argsort(-whole, axis=1, kind="stable")[:, :7]
    # chunks of one scoring block: the chunked path never holds the whole matrix
    block = small_ranker.scorer.users_per_chunk
    best, logits = small_ranker.scorer.top_k_rows(rows, 7, chunk_scores=block * (index.n_items + 1))
    assert np.array_equal(best, expected)
    assert np.array_equal(logits, np.take_along_axis(whole, expected, 1))
    user = index.user_id(5)
    one = small_ranker.top_k(user, 7)
    assert [i for i, _ in one] == [index.item_id(r) for r in expected[4]]
    assert not {i for i, _ in one} & small_ranker.seen(user)


def test_top_k_rows_pads_users_with_few_unseen_items() -> None:
    data = generate_catalog(60, 12, 400, titles=False, text=False, seed=5)
    ranker = DeepFMRanker(small_config(epochs=1)).fit(data)
    rows = np.arange(1, ranker.index.n_users + 1)
    best, logits = ranker.top_k_rows(rows, 12)
    unseen = ranker.index.n_items - np.diff(ranker.index.indptr)[1:]
    assert (np.isfinite(logits).sum(1) == unseen).all()
    assert (best[~np.isfinite(logits)] == 0).all()


def test_evaluate_loo_in_small_chunks_equals_one_chunk(small_ranker, small_data) -> None:
    class Fitted:
        name = "DeepFM"

        def fit(self, train, catalog):
            self.columns = pd.Index(small_ranker.items).get_indexer(catalog) + 1

        def scores(self, users):
            rows = np.array([small_ranker.user_row(u) for u in users])
            return small_ranker.score_matrix(rows)[:, self.columns]

    scorers = [Fitted(), Popularity(), ItemKNN(), UserKNN(5)]
    one = evaluate_loo(small_data, scorers, chunk_scores=1 << 30)
    small = evaluate_loo(small_data, scorers, chunk_scores=7 * len(small_data.catalog))
    for a, b in zip(one, small, strict=True):
        for key in ("recall@10", "ndcg@10", "hit@10", "coverage", "n_users"):
            assert a[key] == b[key], (a["model"], key)


def test_top_per_row_keeps_the_largest_and_their_ties() -> None:
    dense = np.array([[0.5, 0.2, 0.2, 0.1, 0.0], [0.0, 0.3, 0.0, 0.0, 0.0], [0.4, 0.4, 0.4, 0, 0]])
    kept = top_per_row(sparse.csr_matrix(dense), 2).toarray()
    cutoff = -np.partition(-dense, 1, axis=1)[:, 1:2]  # the dense rule: row >= its 2nd largest
    assert np.array_equal(kept, np.where((dense >= cutoff) & (dense > 0), dense, 0.0))


def _dense_scores(name: str, matrix: sparse.csr_matrix, rows: np.ndarray, k: int) -> np.ndarray:
    """The dense formulas the sparse baselines replace (a users x items / items x items matrix
    each): a reference on data small enough to hold them."""
    if name.startswith("ItemKNN"):
        popularity = np.asarray(matrix.sum(0)).ravel()
        normalized = matrix.multiply(1.0 / np.sqrt(popularity).clip(min=1e-12)).tocsc()
        sim = (normalized.T @ normalized).toarray()
        np.fill_diagonal(sim, 0.0)
        return np.asarray(matrix[rows] @ sim)
    size = np.asarray(matrix.sum(1)).ravel()
    shared = (matrix[rows] @ matrix.T).toarray()
    jaccard = shared / (size[rows, None] + size[None, :] - shared).clip(min=1)
    jaccard[np.arange(len(rows)), rows] = 0.0
    cutoff = -np.partition(-jaccard, k - 1, axis=1)[:, k - 1 : k]
    jaccard = np.where(jaccard >= cutoff, jaccard, 0.0)
    return np.asarray(sparse.csr_matrix(jaccard) @ matrix.toarray())


@pytest.mark.skipif(not os.environ.get("RAG_RECS_ML100K"), reason="RAG_RECS_ML100K not set")
def test_sparse_baselines_give_the_dense_metrics_on_ml100k() -> None:
    data = load_dataset(os.environ["RAG_RECS_ML100K"])

    def dense(cls):
        class Dense(cls):
            def _known(self, rows):
                return _dense_scores(self.name, self.matrix, rows, 50)

        return Dense()

    for model in (ItemKNN(), UserKNN(50)):
        (ours,) = evaluate_loo(data, [model])
        (theirs,) = evaluate_loo(data, [dense(type(model))])
        for key in ("recall@10", "ndcg@10", "hit@10", "coverage"):
            assert abs(ours[key] - theirs[key]) <= 1e-6, (model.name, key)
        assert ours["recall@10"] > 0.05  # a real result, not two empty ones
