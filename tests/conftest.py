"""Shared fixtures: small seeded data and a small trained ranker, built once per session.

Nothing here writes outside pytest's temporary directories: ``RAG_RECS_WORKSPACE`` points at a
session temp dir for the whole run (the workspace reads it only when one is created), so the
user's cache is never touched.
"""

from __future__ import annotations

import pytest
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.schema import Dataset
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFMRanker

# The test machine is small and shared: one intra-op thread is several times faster here than
# two threads fighting over two busy cores, and it keeps the CPU results reproducible.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _workspace_env(tmp_path_factory: pytest.TempPathFactory):
    """Every workspace (library or CLI) defaults to a temp dir, never the per-user cache."""
    root = tmp_path_factory.mktemp("workspace")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_RECS_WORKSPACE", str(root))
        yield root


def small_config(**overrides) -> RankerConfig:
    """A quick, quiet, CPU-only, seeded ranker configuration."""
    base = {"epochs": 3, "implicit_batch": 64, "progress": False, "device": "cpu", "seed": 11}
    return RankerConfig(**{**base, **overrides})


@pytest.fixture(scope="session")
def ranker_config():
    """``ranker_config(**overrides)``: the quick test configuration, with changes."""
    return small_config


@pytest.fixture(scope="session")
def small_data() -> Dataset:
    """150 users x 60 items of generated data (titles, genres, user features, timestamps)."""
    return generate(n_users=150, n_items=60)


@pytest.fixture(scope="session")
def small_ranker(small_data: Dataset) -> DeepFMRanker:
    """A DeepFM ranker trained for a few epochs on ``small_data`` (read-only for tests)."""
    return DeepFMRanker(small_config()).fit(small_data)


def seen_sets(dataset: Dataset) -> dict:
    """user -> items with any interaction, straight from the table (an independent reference)."""
    inter = dataset.interactions
    return {u: set(g) for u, g in inter.groupby("user_id", sort=False)["item_id"]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_chroma(path, port: int):
    """``chroma run`` on 127.0.0.1:``port`` over ``path``, returned once it answers."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    local = Path(sys.executable).with_name("chroma")
    chroma = str(local) if local.exists() else shutil.which("chroma")
    if chroma is None:
        pytest.skip("the chroma command is not installed")
    command = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, 30, "chroma run")
    return proc


def stop(proc) -> None:
    """Terminate ``proc`` and wait for it (killed if it lingers)."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_until_up(url: str, proc, seconds: float, what: str) -> None:
    """Poll ``url`` until it answers 200; fail the test if ``proc`` exits or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stderr = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            pytest.fail(f"{what} did not start: {stderr}")
        time.sleep(0.2)


def check_link(link, dataset: Dataset, user, item) -> set[str]:
    """Recompute a reason's link to the user's history from the interactions table (pandas and
    sets, not the index); returns the numbers its sentence may state."""
    table = dataset.interactions
    holders = {i: set(g) for i, g in table.groupby("item_id")["user_id"]}
    history = set(table[table.user_id == user].item_id)
    if link.kind in ("popularity", "constraint"):
        assert not history  # only for a user without history
        if link.kind == "popularity":
            counts = table.item_id.value_counts()
            had = int(counts.get(item, 0))
            assert link.item_users == had and link.share == int((counts > had).sum()) + 1
            return {str(had), str(table.user_id.nunique()), str(link.share)}
        return set()
    assert link.history_item in history  # names something the user did
    if link.kind == "co-occurrence":
        n, both = table.user_id.nunique(), len(holders[link.history_item] & holders[item])
        assert link.both == both and link.anchor_users == len(holders[link.history_item])
        assert link.item_users == len(holders[item]) and link.n_users == n
        lift = both / link.anchor_users / (len(holders[item]) / n)
        assert link.lift == pytest.approx(lift)
        floor = 2 if any(len(holders[h] & holders[item]) >= 2 for h in history) else 1
        for h in history:  # no history item shared by as many people over-represents it more
            if len(holders[h] & holders[item]) >= floor:
                assert (
                    len(holders[h] & holders[item]) / len(holders[h])
                    <= both / len(holders[link.history_item]) + 1e-12
                )
        return {str(both), str(link.anchor_users), f"{lift:.1f}"}
    if link.kind == "feature":
        features = {}
        if dataset.items is not None and "genres" in dataset.items:
            features = dict(zip(dataset.items.item_id, dataset.items.genres, strict=True))
        having = [h for h in history if link.feature in features.get(h, ())]
        assert link.feature in features[item] and link.history_item in having
        assert link.share == len(having) and link.history_size == len(history)
        return {str(len(having) - 1), str(len(history))}
    assert link.kind == "vector"
    return {f"{link.similarity:.2f}"}
