"""SIGKILL at random moments: every workspace write ends exactly as a clean run leaves it.

Each command runs once cleanly in its own workspace (the reference, timed). In a second workspace
the same command is killed with SIGKILL at 5 seeded random moments within that time, one after
another on whatever the previous kill left, and then run to the end. The final state must equal
the reference: the same documents (ids and content hashes) in the store, the same weights, the
same metrics, and no leftover of a half-written save.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rag_recs.data.synthetic import generate
from rag_recs.retrieval.client import persistent_client

REPO = Path(__file__).resolve().parents[1]
KILLS = 5


def _start(args: list[str], data: Path, workspace: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [sys.executable, "-m", "rag_recs", *args, "--data", str(data)]
    command += ["--workspace", str(workspace), "--json"]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env
    )


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out)


def _killed_then_finished(args, data, workspace, seconds, seed) -> tuple[dict, list[str]]:
    """Kill the command at ``KILLS`` random moments in [0, seconds], then run it to the end."""
    rng = random.Random(seed)
    log = []
    for at in sorted(rng.uniform(0.2, seconds) for _ in range(KILLS)):
        proc = _start(args, data, workspace)
        try:
            proc.wait(timeout=at)
            log.append(f"{at:.1f}s: had finished")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            log.append(f"{at:.1f}s: killed")
        proc.communicate()
    return _finish(_start(args, data, workspace)), log


def _leftovers(workspace: Path) -> list[str]:
    return [p.name for p in workspace.rglob(".*") if p.suffix in (".tmp", ".old")]


def _store(result: dict) -> dict[str, str]:
    got = persistent_client(result["store"], create=False).get_collection(
        result["collection"], embedding_function=None
    )
    page = got.get(include=["metadatas"])
    return {i: m["hash"] for i, m in zip(page["ids"], page["metadatas"], strict=True)}


def _weights(result: dict) -> dict[str, torch.Tensor]:
    return torch.load(Path(result["model_dir"]) / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "small.csv"
    generate(n_users=80, n_items=40, seed=7).interactions.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "args", [["index"], ["train"], ["evaluate", "--protocol", "loo"]], ids=lambda a: a[0]
)
def test_killed_at_random_moments_then_rerun_equals_a_clean_run(args, data, tmp_path):
    start = time.perf_counter()
    clean = _finish(_start(args, data, tmp_path / "clean"))
    seconds = time.perf_counter() - start
    final, log = _killed_then_finished(args, data, tmp_path / "killed", seconds, seed=len(args))
    print(f"{args[0]}: clean run {seconds:.1f}s; " + ", ".join(log))
    assert sum("killed" in line for line in log) >= 3  # most kill points land mid-run
    assert _leftovers(tmp_path / "killed") == []
    if args[0] == "index":
        assert final["documents"] == clean["documents"]
        assert _store(final) == _store(clean)
    elif args[0] == "train":
        mine, theirs = _weights(final), _weights(clean)
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    else:
        metrics = [k for k in clean if "@" in k]
        assert metrics
        assert {k: final[k] for k in metrics} == {k: clean[k] for k in metrics}
