"""Streamed training and evaluation on a small Parquet file read in row-group batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import small_config

from rag_recs.data import load_dataset
from rag_recs.data import stream as stream_module
from rag_recs.data.stream import ParquetStream, roll_history, sort_segments
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFMRanker
from rag_recs.ranker.features import history_rows
from rag_recs.ranker.sampling import SeenSegments, pair_keys, sample_negatives
from rag_recs.ranker.stream_fit import fit_stream
from rag_recs.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
BATCH = 500  # rows per row group and per streamed batch: several batches in the file


@pytest.fixture(scope="module")
def parquet(tmp_path_factory) -> Path:
    """About 4,000 interactions in time order, written in row groups of ``BATCH`` rows."""
    inter = generate(n_users=200, n_items=80, seed=5).interactions
    inter = inter.sort_values("timestamp", kind="stable").reset_index(drop=True)
    path = tmp_path_factory.mktemp("stream") / "interactions.parquet"
    inter.to_parquet(path, index=False, row_group_size=BATCH)
    return path


def test_roll_history_matches_the_whole_file_history():
    rng = np.random.default_rng(0)
    users, items = rng.integers(1, 40, 3000), rng.integers(1, 200, 3000)
    whole, _ = history_rows(users, items, np.arange(3000), 6)
    ring = np.zeros((40, 6), np.int32)
    parts = [
        roll_history(ring, users[s : s + 417], items[s : s + 417]) for s in range(0, 3000, 417)
    ]
    assert (np.concatenate(parts) == whole).all()
    assert (ring[users[-1]][0] == items[-1]).all()  # the ring holds the newest item first


def test_seen_segments_agree_with_sorted_pair_keys():
    rng = np.random.default_rng(1)
    users = np.sort(rng.integers(1, 60, 2000))
    items = rng.integers(1, 50, 2000).astype(np.int32)
    indptr = np.r_[0, np.cumsum(np.bincount(users, minlength=61))].astype(np.int64)
    indices = items.copy()
    repeats = sort_segments(indptr, indices, chunk=97)  # several chunks
    keys = np.sort(pair_keys(users, items, 50))
    assert repeats == len(keys) - len(np.unique(keys))
    for seed in (2, 3):  # the same draws and the same checks, by either membership test
        a = sample_negatives(users, keys, 50, np.random.default_rng(seed))
        b = sample_negatives(users, SeenSegments(indptr, indices), 50, np.random.default_rng(seed))
        assert all((x == y).all() for x, y in zip(a, b, strict=True))


def test_scan_and_index_match_the_in_memory_load(parquet):
    memory = load_dataset(parquet)
    data = ParquetStream(parquet, batch_rows=BATCH)
    scan = data.scan()
    assert scan.fingerprint == memory.fingerprint  # so ask / recommend find a streamed model
    assert list(scan.users) == list(memory.user_index)
    assert list(scan.items) == list(memory.catalog)
    seen = data.seen_index(scan, ring_len=3)
    index = memory.index
    assert (seen.indptr == index.indptr).all()
    assert (seen.indices == index.indices).all()
    assert (seen.liked == index.liked_mask).all()


def test_streamed_fit_never_holds_the_table(parquet, monkeypatch):
    batches: list[int] = []
    checked: list[int] = []
    read = ParquetStream.batches
    check = stream_module.from_frame

    def counting_batches(self, columns=None):
        for batch in read(self, columns):
            batches.append(batch.num_rows)
            yield batch

    def counting_check(frame, **kwargs):
        checked.append(len(frame))
        return check(frame, **kwargs)

    def no_full_read(*args, **kwargs):
        raise AssertionError("the whole table was read")

    monkeypatch.setattr(ParquetStream, "batches", counting_batches)
    monkeypatch.setattr(stream_module, "from_frame", counting_check)
    monkeypatch.setattr(pd, "read_parquet", no_full_read)
    config = small_config(epochs=2, patience=0)
    fitted = fit_stream(ParquetStream(parquet, batch_rows=BATCH), config)
    rows = fitted.scan.rows["read"]
    assert rows > 5 * BATCH
    assert max(batches) <= BATCH and max(checked) <= BATCH
    # scan, seen index, 2 epochs, seen index again in time order: five passes, no more
    assert sum(batches) == 5 * rows
    assert len(fitted.trained.log.losses) == 2


def test_streamed_ranker_trains_saves_loads_and_serves(parquet, tmp_path):
    config = small_config(epochs=4, min_steps=0, valid_users=50)
    data = ParquetStream(parquet, batch_rows=BATCH)
    scan = data.scan()
    ws = Workspace(tmp_path / "ws")
    ranker, trained = ws.ranker_for(
        scan.fingerprint, config, lambda: DeepFMRanker(config).fit_stream(data, scan=scan)
    )
    assert trained
    log = ranker.log
    assert log.losses[-1] < log.losses[0] and len(log.valid) == 4
    assert log.valid[log.best_epoch] > 0.15  # NDCG of a random ranking on 80 items is ~0.11
    # the in-memory path finds the streamed model under the same data and config: no retrain
    memory = load_dataset(parquet)
    again, retrained = ws.ranker(memory, config)
    assert not retrained
    user = memory.interactions["user_id"].iloc[0]
    top = again.top_k(user, 5)
    assert [i for i, _ in top] == [i for i, _ in ranker.top_k(user, 5)]
    assert not {i for i, _ in top} & memory.index.seen(user)
    assert np.isfinite(again.score(user, [i for i, _ in top])).all()
    recent = memory.index.recent(config.history_len)
    offset = again.feature_map.field("item_id").offset - 1
    expected = torch.from_numpy(np.where(recent > 0, recent + offset, 0).astype(np.int64))
    assert torch.equal(again.trained.recent, expected)  # serving histories as in memory


def _cli(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    env = {"RAG_RECS_WORKSPACE": str(workspace), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "rag_recs", *args, "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
        timeout=120,
    )


def test_evaluate_streams_leave_one_out(parquet, tmp_path):
    proc = _cli(
        "evaluate", "--data", str(parquet), "--stream", "--batch-rows", str(BATCH),
        "--json", workspace=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    result = json.loads(line)
    assert result["stream"] and result["protocol"] == "loo"
    assert result["n_users"] == 200 and result["rows_read"] > 5 * BATCH
    assert 0.125 < result["recall@10"] <= 1  # above 10 picks among ~60 unseen items at random
    assert 0 < result["ndcg@10"] <= result["recall@10"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.with_suffix(".csv").write_text("user_id,item_id\n1,2\n"), "reads Parquet"),
        (lambda p: p.write_bytes(b"not parquet at all"), "cannot read it as parquet"),
        (lambda p: pd.DataFrame({"a": [1, 2]}).to_parquet(p), "no user id column"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, message):
    path = tmp_path / "bad.parquet"
    make(path)
    target = path if path.exists() else path.with_suffix(".csv")
    proc = _cli("train", "--data", str(target), "--stream", "--json", workspace=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_rows_out_of_time_order_are_counted(tmp_path):
    frame = pd.DataFrame(
        {"user_id": [1, 2, 1, 2, 1], "item_id": [1, 2, 3, 4, 5], "timestamp": [-5, 9, -7, 11, 3]}
    )
    frame.to_parquet(tmp_path / "events.parquet", index=False)
    scan = ParquetStream(tmp_path / "events.parquet", batch_rows=2).scan()
    assert scan.out_of_order == 1  # user 1's -7 after -5, across a batch boundary
    assert scan.rows == {"read": 5, "used": 5, "dropped": {}}
