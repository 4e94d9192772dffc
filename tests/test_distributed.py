"""Data-parallel training under torchrun: 2 real processes on CPU (gloo), against 1 process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.loaders import load_dataset
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFMRanker
from rag_recs.ranker.features import Tensors
from rag_recs.ranker.train import Epoch

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]


def torchrun(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 ARGS``: two CPU processes, one thread each."""
    env = {**os.environ, "RAG_RECS_WORKSPACE": str(workspace), "OMP_NUM_THREADS": "1"}
    env.pop("RAG_RECS_DEBUG", None)
    return subprocess.run(
        [*TORCHRUN, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )


def assert_close_weights(state: dict, model: torch.nn.Module, atol: float) -> None:
    for name, value in model.state_dict().items():
        torch.testing.assert_close(state[name], value, atol=atol, rtol=0, msg=name)


def test_the_shards_steps_together_are_the_single_process_steps():
    n, m, batch = 11, 3, 4
    query = Tensors(torch.arange(n).unsqueeze(1), torch.zeros(n, 0), [])
    epoch = Epoch(
        query, torch.arange(n * m).view(n, m).float(), None, torch.zeros(n, m), None, batch
    )
    shards = [epoch.shard(rank, 2) for rank in range(2)]
    assert [len(s) for s in shards] == [5, 5]  # equal step counts: the odd row sits out
    assert all(s.batch_size == 2 for s in shards)
    for start in range(0, 10, batch):
        together = torch.cat([s.batch(start // 2, start // 2 + 2)[0].sparse for s in shards])
        single = epoch.batch(start, start + batch)[0].sparse
        assert sorted(together.flatten().tolist()) == single.flatten().tolist()[: len(together)]
    torch.testing.assert_close(shards[1].labels[0], epoch.labels[1])


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp-data") / "small.csv"
    generate(n_users=60, n_items=40).interactions.to_csv(path, index=False)
    return path


def test_torchrun_train_prints_one_json_and_saves_one_model_that_matches_one_process(
    small_csv, tmp_path
):
    proc = torchrun(tmp_path, "-m", "rag_recs", "train", "--data", str(small_csv), "--json",
                    "--workspace", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # rank 1 printed nothing
    result = json.loads(lines[0])
    assert result["trained"] is True
    model_dir = Path(result["model_dir"])
    written = [p.name for p in model_dir.parent.iterdir() if not p.name.endswith(".lock")]
    assert written == [model_dir.name]  # one model, no half-written copy beside it
    assert "waiting for another process" not in proc.stderr  # only rank 0 wrote it
    ranker = DeepFMRanker.load(model_dir, device="cpu")
    # the default ranker: the history read in order, trained with a softmax over the catalog
    assert ranker.trained.model.embedding.sequence is not None
    assert ranker.trained.loss == "softmax"
    user = ranker.users[0]
    top = ranker.top_k(user, k=5)
    assert len(top) == 5 and not {item for item, _ in top} & ranker.seen(user)
    assert all(np.isfinite(score) for _, score in top)
    # the ranks' steps together are one process's steps: the same model, up to rounding
    alone = DeepFMRanker(RankerConfig(progress=False)).fit(load_dataset(str(small_csv)))
    assert ranker.log.best_epoch == alone.log.best_epoch
    assert len(ranker.log.losses) == len(alone.log.losses) == result["epochs"]
    assert_close_weights(ranker.trained.model.state_dict(), alone.trained.model, atol=1e-4)


def test_torchrun_evaluate_prints_one_json(small_csv, tmp_path):
    proc = torchrun(tmp_path, "-m", "rag_recs", "evaluate", "--data", str(small_csv),
                    "--protocol", "loo", "--json", "--workspace", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["n_users"] == 60
    assert 0.0 < result["recall@10"] <= 1.0


SPARSE_FIT = """
import sys, torch
from rag_recs import distributed
from rag_recs.config import RankerConfig
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFMRanker
distributed.start("cpu")
config = RankerConfig(progress=False, epochs=2, sparse_rows=0, valid_users=20, min_steps=0)
ranker = DeepFMRanker(config).fit(generate(n_users=60, n_items=40))
assert ranker.trained.model.embedding.sparse_grad  # gloo all-reduces sparse gradients
if distributed.is_main():
    torch.save(ranker.trained.model.state_dict(), sys.argv[1])
distributed.stop()
"""


def test_sparse_table_gradients_are_averaged_over_ranks(tmp_path):
    script, weights = tmp_path / "fit.py", tmp_path / "weights.pt"
    script.write_text(SPARSE_FIT)
    proc = torchrun(tmp_path, str(script), str(weights))
    assert proc.returncode == 0, proc.stderr
    config = RankerConfig(progress=False, epochs=2, sparse_rows=0, valid_users=20, min_steps=0)
    alone = DeepFMRanker(config).fit(generate(n_users=60, n_items=40)).trained.model
    assert_close_weights(torch.load(weights, weights_only=True), alone, atol=1e-5)
