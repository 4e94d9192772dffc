"""Two processes on one workspace: the ranker is trained once, and a killed writer blocks nobody."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rag_recs.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]


def _start(name: str, data: Path, workspace: Path) -> subprocess.Popen:
    """``rag-recs NAME --data DATA --workspace WORKSPACE --json`` as a child process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "rag_recs", name, "--data", str(data)]
    command += ["--workspace", str(workspace), "--json"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env
    )


def _train(data: Path, workspace: Path) -> subprocess.Popen:
    return _start("train", data, workspace)


def test_two_trainings_at_once_train_once(tmp_path):
    data = tmp_path / "small.csv"
    generate(n_users=60, n_items=30).interactions.to_csv(data, index=False)
    first, second = _train(data, tmp_path / "ws"), _train(data, tmp_path / "ws")
    results = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["trained"] for r in results) == [False, True]
    assert results[0]["model_dir"] == results[1]["model_dir"]


def test_a_writer_killed_holding_the_lock_blocks_nobody(tmp_path):
    data = tmp_path / "small.csv"
    generate(n_users=60, n_items=30).interactions.to_csv(data, index=False)
    workspace = tmp_path / "ws"
    victim = _train(data, workspace)
    deadline = time.time() + 120
    while not list(workspace.glob("*/ranker-*.lock")) and time.time() < deadline:
        time.sleep(0.05)  # wait until it holds the lock (training has begun)
    assert list(workspace.glob("*/ranker-*.lock")), "the first process never took the lock"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    proc = _train(data, workspace)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["trained"] is True
    assert "waiting for another process" not in err


def test_two_index_runs_at_once_on_a_new_store_write_it_once(tmp_path):
    data = tmp_path / "small.csv"
    generate(n_users=60, n_items=30).interactions.to_csv(data, index=False)
    procs = [_start("index", data, tmp_path / "ws") for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err  # neither fails on the other's half-made collection
        results.append(json.loads(out))
    total = results[0]["documents"]
    assert total > 0 and results[1]["documents"] == total
    # one wrote every document; the other, holding the lock after it, found nothing to do
    assert sorted(r["added"] for r in results) == [0, total]
    assert sorted(r["unchanged"] for r in results) == [0, total]
