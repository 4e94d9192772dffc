"""What keeps memory bounded as users and data grow: hashed user rows, compact streamed
indexes, validation in chunks, and the allocator settings."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_config

from rag_recs import memory
from rag_recs.data import load_dataset
from rag_recs.data.schema import RATING, USER, Dataset
from rag_recs.data.stream import ParquetStream, item_rows_dtype
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFMRanker
from rag_recs.ranker import fit as fit_module
from rag_recs.ranker.features import FeatureMap
from rag_recs.ranker.fit import ndcg_validation
from rag_recs.ranker.score import Scorer
from rag_recs.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(n_users=120, n_items=60, seed=3)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory, data) -> Path:
    inter = data.interactions.sort_values("timestamp", kind="stable").reset_index(drop=True)
    path = tmp_path_factory.mktemp("memory") / "interactions.parquet"
    inter.to_parquet(path, index=False, row_group_size=400)
    return path


def test_user_rows_cap_the_user_field_and_hash_ids_by_value(data):
    exact = FeatureMap.fit(data, history_len=5)
    capped = FeatureMap.fit(data, history_len=5, user_rows=16)
    field = capped.field(USER)
    assert field.size == 16 and not field.vocab
    assert capped.num_embeddings == exact.num_embeddings - exact.field(USER).size + 16
    users = data.all_users
    rows = field.lookup(pd.Series(users))
    assert ((rows >= field.offset) & (rows < field.offset + 16)).all()
    assert len(np.unique(rows)) > 8  # 120 users spread over the rows, not piled on a few
    # the same id read as int64, as a Python int in an object column, or beside a missing value
    as_object = field.lookup(pd.Series([None, *users.tolist()], dtype=object))
    assert as_object[0] == 0 and (as_object[1:] == rows).all()
    assert (field.lookup(pd.Series(["a", "a", "b"])) > 0).all()  # text ids hash too
    # fewer users than the cap: one row each, as without it
    assert FeatureMap.fit(data, user_rows=500).field(USER).vocab == exact.field(USER).vocab


def test_a_ranker_with_capped_user_rows_trains_saves_and_serves(data, tmp_path):
    config = small_config(user_rows=16)
    ws = Workspace(tmp_path)
    ranker, trained = ws.ranker(data, config)
    assert trained and ranker.feature_map.num_embeddings < 1 + 120 + 60
    assert ws.ranker_dir(data, config) != ws.ranker_dir(data, small_config())
    user = data.interactions[USER].iloc[0]
    top = [i for i, _ in ranker.top_k(user, 5)]
    assert len(top) == 5 and not set(top) & data.index.seen(user)
    again, retrained = ws.ranker(data, config)  # loads, same answers
    assert not retrained and [i for i, _ in again.top_k(user, 5)] == top


def test_streamed_fit_with_capped_user_rows_via_the_cli(parquet, tmp_path):
    def train(*extra: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-m", "rag_recs", "train", "--data", str(parquet), "--user-rows",
             "16", "--workspace", str(tmp_path), "--json", *extra],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    streamed = train("--stream", "--batch-rows", "400")
    meta = json.loads((Path(streamed["model_dir"]) / "ranker.json").read_text())
    (user_field,) = [f for f in meta["feature_map"]["fields"] if f["name"] == USER]
    assert user_field["buckets"] == 16 and user_field["vocab"] == []
    # the same cap on the data loaded in memory finds the streamed model: no second fit
    again = train()
    assert again["model_dir"] == streamed["model_dir"] and not again["trained"]


def test_streamed_index_keeps_item_rows_in_16_bits_and_likes_as_one_value(data, tmp_path):
    assert item_rows_dtype(65_535) is np.uint16 and item_rows_dtype(65_536) is np.int32
    path = tmp_path / "no-ratings.parquet"
    data.interactions.to_parquet(path.with_name("ratings.parquet"), index=False)
    data.interactions.drop(columns=[RATING]).to_parquet(path, index=False, row_group_size=400)
    for source, all_liked in ((path, True), (None, False)):
        stream = ParquetStream(source or path.with_name("ratings.parquet"), batch_rows=400)
        scan = stream.scan()
        seen = stream.seen_index(scan, ring_len=4)
        assert seen.indices.dtype == np.uint16 and seen.ring.dtype == np.uint16
        # without ratings every row is a like, kept as one broadcast value
        assert (seen.liked.strides == (0,)) is all_liked
        memory_index = load_dataset(stream.name).index
        assert np.array_equal(np.sort(seen.indices), np.sort(memory_index.indices))
        assert seen.liked.sum() == memory_index.liked_mask.sum()


def test_validation_in_chunks_equals_one_pass(data, monkeypatch):
    ranker = DeepFMRanker(small_config(epochs=1)).fit(data)
    trained, index = ranker.trained, ranker.trained.index
    users = np.arange(1, 41)
    items = np.array([index.seen_rows(u)[-1] for u in users])
    history = trained.recent[users]
    # forward passes of 3 users, and room for one such pass of scores: 14 validation chunks
    monkeypatch.setattr(Scorer, "users_per_chunk", property(lambda self: 3))
    monkeypatch.setattr(fit_module, "VALIDATION_SCORES", 3 * (index.n_items + 1))
    chunks = []
    real = Scorer.score_matrix
    monkeypatch.setattr(
        Scorer,
        "score_matrix",
        lambda self, rows, **kw: chunks.append(len(rows)) or real(self, rows, **kw),
    )

    scores = Scorer(trained).score_matrix(users, history=history)  # all 40 users in one call
    for r, user in enumerate(users):
        seen = index.seen_rows(int(user))
        scores[r, seen[seen != items[r]]] = -np.inf
    rank = (scores > scores[np.arange(len(users)), items][:, None]).sum(1)
    whole = float((1.0 / np.log2(rank + 2.0)).mean())

    assert ndcg_validation(trained, users, items, history)() == whole
    assert chunks == [40] + [3] * 13 + [1]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_allocator_settings_apply_on_glibc():
    assert memory.return_large_blocks()
    assert memory.few_arenas()
