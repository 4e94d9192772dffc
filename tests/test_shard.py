"""Sharded indexing into one real ``chroma run`` server: the shares add up to the whole store.

Every writer is a real ``rag-recs index`` process (two at once, and under torchrun) or a real
``HistoryStore``; the reference is one unsharded sync of the same data into the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, serve_chroma, stop

from rag_recs.data.loaders import load_dataset
from rag_recs.data.synthetic import generate
from rag_recs.errors import DataError
from rag_recs.retrieval import HistoryStore, LazyEmbeddings, build_documents
from rag_recs.retrieval.shard import Shard

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ``chroma run`` server on a free 127.0.0.1 port, over a temp dir, for this module."""
    port = free_port()
    proc = serve_chroma(tmp_path_factory.mktemp("chroma"), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def embeddings() -> LazyEmbeddings:
    lazy = LazyEmbeddings()
    lazy.load()
    return lazy


def _index(*args: str, runner: tuple[str, ...] = ()) -> subprocess.Popen:
    """``rag-recs index --data synthetic ... --json`` as a child process (under ``runner``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for name in ("RAG_RECS_CHROMA_URL", "RAG_RECS_DEBUG", "RANK", "WORLD_SIZE"):
        env.pop(name, None)
    command = [*(runner or (sys.executable,)), "-m", "rag_recs", "index", "--data", "synthetic"]
    return subprocess.Popen(
        [*command, *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 1, out  # one JSON object for the whole run, whatever the processes
    return json.loads(lines[0])


def _contents(store: HistoryStore) -> dict[str, tuple[str, list[float]]]:
    """id -> (content hash, vector) of every stored document."""
    got = store.collection.get(include=["metadatas", "embeddings"])
    assert len(got["ids"]) == len(set(got["ids"])) == store.count()
    return {
        i: (m["hash"], list(e))
        for i, m, e in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True)
    }


def _same(left: dict, right: dict) -> None:
    assert sorted(left) == sorted(right)
    assert {i: h for i, (h, _) in left.items()} == {i: h for i, (h, _) in right.items()}
    for doc_id, (_, vector) in left.items():
        np.testing.assert_allclose(vector, right[doc_id][1], atol=1e-6)


def test_shard_specs_and_shares() -> None:
    assert Shard.parse("1/4") == Shard(1, 4) and str(Shard.parse(" 0 / 2 ")) == "0/2"
    for bad in ("2/2", "0/0", "-1/2", "x", "1", "1/2/3", ""):
        with pytest.raises(DataError, match="invalid shard"):
            Shard.parse(bad)
    assert Shard.from_env({}) is None and Shard.from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert Shard.from_env({"RANK": "1", "WORLD_SIZE": "3"}) == Shard(1, 3)
    with pytest.raises(DataError):
        Shard.from_env({"RANK": "3", "WORLD_SIZE": "3"})
    ids = [d.id for d in build_documents(generate(n_users=200, n_items=80))]
    shares = [Shard(i, 3) for i in range(3)]
    owners = [[s for s in shares if s.owns(doc_id)] for doc_id in ids]
    assert all(len(o) == 1 for o in owners)  # every document in exactly one share
    sizes = [sum(o[0] == s for o in owners) for s in shares]
    assert min(sizes) > len(ids) / 3 * 0.8  # shares of about equal size
    by_user: dict[str, set] = {}
    for doc_id, (share,) in zip(ids, owners, strict=True):
        if doc_id.startswith("user:"):
            by_user.setdefault(doc_id.rsplit(":", 1)[0], set()).add(share)
    assert all(len(s) == 1 for s in by_user.values())  # a user's chunks stay together


def test_two_shard_processes_at_once_make_the_unsharded_store(server, embeddings) -> None:
    whole = HistoryStore(url=server, embeddings=embeddings, collection="whole", create=True)
    dataset = load_dataset("synthetic")
    whole.sync(dataset, progress=False)
    url = ("--chroma-url", server, "--collection", "sharded")
    first, second = (_index(*url, "--shard", s) for s in ("0/2", "1/2"))
    results = [_result(first), _result(second)]
    assert [r["shard"] for r in results] == ["0/2", "1/2"]
    assert sum(r["added"] for r in results) == whole.count()
    assert all(r["documents"] <= whole.count() for r in results)
    assert any(r["store_complete"] for r in results)  # the one that finished last saw both
    sharded = HistoryStore(url=server, collection="sharded")
    _same(_contents(sharded), _contents(whole))
    assert sharded.synced(dataset)

    again = _result(_index(*url, "--shard", "1/2"))  # a rerun finds its share done
    assert (again["added"], again["updated"], again["deleted"]) == (0, 0, 0)
    assert again["unchanged"] == results[1]["added"] and again["store_complete"]
    assert sharded.count() == whole.count()


def test_a_stopped_share_resumes_and_the_store_is_complete_only_after_every_share(
    server, embeddings
) -> None:
    data = generate(n_users=120, n_items=40)
    whole = HistoryStore(url=server, embeddings=embeddings, collection="small", create=True)
    whole.sync(data, progress=False)
    store = HistoryStore(url=server, embeddings=embeddings, collection="parts", create=True)
    halt = threading.Event()
    halt.set()  # stops after the first batch: as if killed there
    cut = store.sync(data, progress=False, batch_size=8, stop=halt, shard=Shard(0, 2))
    assert not cut.complete and cut.added == 8
    rest = store.sync(data, progress=False, shard=Shard(0, 2))
    assert rest.complete and rest.added == rest.documents - 8 and rest.unchanged == 8
    assert not store.synced(data)  # share 1 of 2 is still missing
    other = store.sync(data, progress=False, shard=Shard(1, 2))
    assert other.complete and store.synced(data)
    _same(_contents(store), _contents(whole))

    # fewer users: each share deletes its own users' documents, and only those
    inter = data.interactions
    fewer = data.subset(inter[inter["user_id"] % 3 != 0])
    whole.sync(fewer, progress=False)
    first = store.sync(fewer, progress=False, shard=Shard(0, 2))
    assert first.deleted > 0 and not store.synced(fewer) and not store.synced(data)
    second = store.sync(fewer, progress=False, shard=Shard(1, 2))
    assert second.deleted > 0 and store.synced(fewer)
    _same(_contents(store), _contents(whole))


def test_torchrun_ranks_take_a_share_each_and_print_one_result(server) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed")
    runner = (str(torchrun), "--standalone", "--nproc-per-node", "2")
    result = _result(_index("--chroma-url", server, "--collection", "ranks", runner=runner))
    assert result["shard"] == "all/2" and result["complete"] and result["store_complete"]
    assert result["added"] == result["documents"] == len(build_documents(load_dataset("synthetic")))


def test_bad_shards_are_one_line_and_exit_2(server) -> None:
    for spec in ("2/2", "a/b"):
        proc = _index("--chroma-url", server, "--shard", spec)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and not out
        assert err.strip().splitlines() == [err.strip()] and "invalid shard" in err
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "2", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "rag_recs", "index", "--shard", "0/2", "--chroma-url", server],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "--shard under torchrun" in proc.stderr
