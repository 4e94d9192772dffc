"""The history store on real Chroma with the real models: sync, search, servers, the CLI.

The default model is the static one distilled from MiniLM on first use; MiniLM stays selectable.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, seen_sets, serve_chroma, stop
from langchain_core.retrievers import BaseRetriever

from rag_recs.data.schema import Dataset
from rag_recs.data.synthetic import generate
from rag_recs.errors import DataError, RagRecsError
from rag_recs.retrieval import HistoryStore, LazyEmbeddings, build_documents, overlap
from rag_recs.retrieval.distill import STATIC_DIMS, static_dir
from rag_recs.retrieval.embeddings import DEFAULT_MODEL, MINILM, MINILM_BF16, resolve_model
from rag_recs.retrieval.static import StaticEmbeddings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def embeddings() -> LazyEmbeddings:
    """The default model, loaded once: later LazyEmbeddings in this process share it."""
    lazy = LazyEmbeddings()
    lazy.load()
    return lazy


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(n_users=150, n_items=60)


@pytest.fixture(scope="module")
def store(tmp_path_factory, data: Dataset, embeddings: LazyEmbeddings) -> HistoryStore:
    history = HistoryStore(
        tmp_path_factory.mktemp("store") / "s", embeddings=embeddings, create=True
    )
    summary = history.sync(data, progress=False)
    assert summary.added == summary.documents == len(build_documents(data)) == history.count()
    return history


def _tiny(n_users: int = 12, n_items: int = 24) -> Dataset:
    return generate(n_users=n_users, n_items=n_items, mean_activity=8)


def _ids(history: HistoryStore) -> list[str]:
    return sorted(history.collection.get(include=[])["ids"])


def test_similar_users_overlap_more_than_the_median(data: Dataset, store: HistoryStore) -> None:
    """The must-show check: retrieved neighbours really share more items than a typical user."""
    for user in (78, 1, 2, 3, 10):
        similar = store.similar_users(user, k=5)
        assert len(similar) == 5 and user not in {u for u, _ in similar}
        scores = [s for _, s in similar]
        assert scores == sorted(scores, reverse=True)
        everyone = overlap(data, user, [u for u in seen_sets(data) if u != user])
        median = statistics.median(o.jaccard for o in everyone)
        top = overlap(data, user, [u for u, _ in similar])
        assert all(o.jaccard > median for o in top), (user, median, top)


def test_neighbours_come_back_as_the_datasets_own_ids(tmp_path: Path, embeddings) -> None:
    """Neighbours are read from chunk ids: int ids stay ints, str ids (even with a colon or
    digits only) stay the strings they are."""
    tiny = _tiny()
    as_text = tiny.interactions.assign(user_id=lambda d: "u:" + d["user_id"].astype(str))
    for data, kind in ((tiny, int), (tiny.subset(as_text), str)):
        history = HistoryStore(tmp_path / kind.__name__, embeddings=embeddings, create=True)
        history.sync(data, progress=False)
        users = set(data.interactions["user_id"])
        user = sorted(users)[0]
        found = [u for u, _ in history.similar_users(user, k=4)]
        assert len(found) == 4 and user not in found
        assert set(found) <= users and all(type(u) is kind for u in found), found
    digits = tiny.interactions.assign(user_id=lambda d: d["user_id"].astype(str))
    history = HistoryStore(tmp_path / "digits", embeddings=embeddings, create=True)
    history.sync(tiny.subset(digits), progress=False)
    found = [u for u, _ in history.similar_users("1", k=3)]
    assert found and all(isinstance(u, str) and u in set(digits["user_id"]) for u in found)


def test_second_sync_changes_nothing_and_loads_no_model(data: Dataset, store: HistoryStore) -> None:
    lazy = LazyEmbeddings()
    reopened = HistoryStore(store.location, embeddings=lazy)
    summary = reopened.sync(data, progress=False)
    assert (summary.added, summary.updated, summary.deleted) == (0, 0, 0)
    assert summary.unchanged == store.count()
    assert not lazy.loaded


def test_search_items_and_users(store: HistoryStore) -> None:
    hits = store.search("jazz and poetry", k=3, kind="item")
    assert [h.metadata["kind"] for h in hits] == ["item"] * 3
    assert "jazz" in hits[0].page_content.lower() or "poetry" in hits[0].page_content.lower()
    scores = [h.metadata["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    users = store.search("liked articles on climate and glaciers", k=4, kind="user")
    assert all(h.id.startswith("user:") and "User " in h.page_content for h in users)
    with pytest.raises(DataError, match="empty"):
        store.search("  ")


def test_as_retriever_is_a_langchain_retriever(store: HistoryStore) -> None:
    retriever = store.as_retriever(k=2, kind="item")
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("sourdough bread")
    assert len(docs) == 2 and all(d.metadata["kind"] == "item" for d in docs)


def test_history_and_unknown_users(store: HistoryStore, data: Dataset) -> None:
    chunks = store.history("78")  # a string id from a command line finds user 78
    assert chunks[0].metadata["chunk"] == len(chunks) - 1  # newest chunk first
    assert store.seen([78])[78] == seen_sets(data)[78]
    with pytest.raises(DataError, match="unknown user"):
        store.similar_users(99_999)


_OFFLINE_LOAD = """
import json, sys
from langchain_huggingface import HuggingFaceEmbeddings
model = HuggingFaceEmbeddings(model_name=sys.argv[1], encode_kwargs={"normalize_embeddings": True})
texts = ["Liked: Star Wars (1977); Alien (1979)", "Disliked: Babe (1995)"]
print(json.dumps([model.embed_documents(texts), model.embed_documents(texts[::-1])]))
"""


def test_the_static_model_loads_offline_and_embeds_deterministically(embeddings) -> None:
    """Plain ``HuggingFaceEmbeddings(model_name=DIR)``, the hub switched off, in a new process."""
    model_dir = Path(embeddings.model.source)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert size < 20 * 2**20, size
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_LOAD, str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    first, reversed_ = json.loads(proc.stdout)
    assert [len(v) for v in first] == [STATIC_DIMS, STATIC_DIMS]
    assert first == reversed_[::-1]  # the same text, the same vector, whatever its batch
    texts = ["Liked: Star Wars (1977); Alien (1979)", "Disliked: Babe (1995)"]
    # what the stores use: the same vectors, bit for bit, without sentence-transformers
    assert StaticEmbeddings(model_dir).embed_documents(texts) == first
    assert StaticEmbeddings(model_dir).embed_query(texts[1]) == first[1]
    assert all(abs(sum(x * x for x in v) - 1) < 1e-3 for v in first)
    assert first[0] != first[1]


def test_the_default_is_the_static_model_and_minilm_stays_selectable(embeddings) -> None:
    assert embeddings.model == resolve_model() == resolve_model("static")
    assert embeddings.model.name == DEFAULT_MODEL and embeddings.model.source == str(static_dir())
    a = embeddings.embed_query("a quiet film about jazz musicians")
    assert len(a) == STATIC_DIMS and a == embeddings.embed_query(
        "a quiet film about jazz musicians"
    )
    for name in ("minilm", "all-MiniLM-L6-v2", MINILM):
        assert resolve_model(name).name == MINILM and resolve_model(name).local
    bf16 = resolve_model("minilm-bf16")
    assert (bf16.name, bf16.dtype, bf16.key) == (MINILM_BF16, "bfloat16", "all-minilm-l6-v2-bf16")
    assert resolve_model(MINILM_BF16) == bf16
    minilm = LazyEmbeddings("minilm")
    vector = minilm.embed_query("a quiet film about jazz musicians")
    assert len(vector) == 384 and minilm.loaded and minilm.model.key == "all-minilm-l6-v2"


def test_the_static_model_is_built_whole_and_byte_for_byte_the_same(
    tmp_path: Path, embeddings, monkeypatch
) -> None:
    """A second machine (here: another model cache) distils the very same model, atomically."""
    from rag_recs.retrieval.distill import ensure_static

    monkeypatch.setenv("RAG_RECS_MODELS", str(tmp_path / "models"))
    built = ensure_static()
    assert built == static_dir() == tmp_path / "models" / Path(embeddings.model.source).name
    weights = "model.safetensors"
    assert (built / weights).read_bytes() == (Path(embeddings.model.source) / weights).read_bytes()
    leftovers = {p.name for p in built.parent.iterdir()} - {built.name, built.name + ".lock"}
    assert not leftovers, leftovers  # no half-built model beside it
    mtime = (built / weights).stat().st_mtime_ns
    assert ensure_static() == built and (built / weights).stat().st_mtime_ns == mtime  # once


def test_missing_or_other_model_stores_are_refused(tmp_path: Path, store: HistoryStore) -> None:
    with pytest.raises(RagRecsError, match="no store at"):
        HistoryStore(tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()  # reading never creates a store
    HistoryStore(tmp_path / "empty", create=True)  # created, never synced
    with pytest.raises(RagRecsError, match="is empty"):
        HistoryStore(tmp_path / "empty")
    with pytest.raises(RagRecsError, match="built with the embedding model"):
        HistoryStore(store.location, embeddings="sentence-transformers/all-mpnet-base-v2")
    assert store.collection.metadata["embedding_model"] == DEFAULT_MODEL
    for other in ("minilm", "minilm-bf16"):  # MiniLM's vectors do not match the static model's
        with pytest.raises(RagRecsError, match=f"built with the embedding model '{DEFAULT_MODEL}'"):
            HistoryStore(store.location, embeddings=other)
    assert HistoryStore(store.location).model.name == DEFAULT_MODEL  # the recorded model


def test_changed_histories_update_and_removed_users_delete(tmp_path: Path, embeddings) -> None:
    tiny = _tiny()
    history = HistoryStore(tmp_path / "s", embeddings=embeddings, create=True)
    history.sync(tiny, progress=False)
    frame = tiny.interactions
    changed = frame[frame["user_id"] != 2].copy()  # user 2 leaves
    first = changed.index[changed["user_id"] == 1][0]
    changed.loc[first, "rating"] = 6 - changed.loc[first, "rating"]  # user 1 re-rates an item
    after = tiny.subset(changed)
    summary = history.sync(after, progress=False)
    removed = sum(d.metadata.get("user_id") == 2 for d in build_documents(tiny))
    assert summary.deleted == removed and summary.added == 0
    assert (
        summary.updated >= 1 and summary.unchanged == len(build_documents(after)) - summary.updated
    )
    assert _ids(history) == sorted(d.id for d in build_documents(after))


def test_an_interrupted_build_is_completed_without_duplicates(
    tmp_path: Path, embeddings, monkeypatch
) -> None:
    tiny = _tiny()
    history = HistoryStore(tmp_path / "s", embeddings=embeddings, create=True)
    real = history._write
    calls = []

    def killed_after_one_batch(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(history, "_write", killed_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        history.sync(tiny, progress=False, batch_size=8)
    assert history.count() == 8
    monkeypatch.undo()
    summary = HistoryStore(tmp_path / "s", embeddings=embeddings, create=True).sync(
        tiny, progress=False
    )
    docs = build_documents(tiny)
    assert (summary.added, summary.unchanged, summary.updated) == (len(docs) - 8, 8, 0)
    assert _ids(history) == sorted(d.id for d in docs) and history.count() == len(docs)


@pytest.fixture
def chroma_server(tmp_path: Path):
    """A ``chroma run`` server on a free 127.0.0.1 port, stopped afterwards."""
    port = free_port()
    server = serve_chroma(tmp_path / "db", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def test_server_mode(chroma_server: str, embeddings) -> None:
    tiny = _tiny(8, 16)
    with pytest.raises(RagRecsError, match="no store at"):
        HistoryStore(url=chroma_server)
    built = HistoryStore(url=chroma_server, embeddings=embeddings, create=True).sync(
        tiny, progress=False
    )
    assert built.added == len(build_documents(tiny))
    lazy = LazyEmbeddings()
    remote = HistoryStore(url=chroma_server, embeddings=lazy)
    assert remote.sync(tiny, progress=False).unchanged == built.added and not lazy.loaded
    assert remote.search("football", k=2)[0].metadata["score"] > 0
    assert len(remote.similar_users(1, k=3)) == 3


def test_a_server_gone_mid_session_is_one_clear_error_and_then_works_again(
    tmp_path: Path, embeddings, small_data, small_ranker
) -> None:
    from rag_recs.assistant import Assistant

    port, path = free_port(), tmp_path / "db"
    url = f"http://127.0.0.1:{port}"
    server = serve_chroma(path, port)
    try:
        store = HistoryStore(url=url, embeddings=embeddings, create=True)
        store.sync(small_data, progress=False)
        assistant = Assistant(small_data, small_ranker, store=store)
        question = f"suggest 3 items for user {small_data.user_index[0]}"
        before = assistant.ask(question)
        assert len(before.items) == 3 and before.similar_users
        stop(server)
        with pytest.raises(RagRecsError, match="Chroma server at .* stopped answering"):
            assistant.ask(question)
        user, item = small_data.user_index[0], small_data.catalog[0]
        calls = {  # every public method reaches Chroma through the one guard
            "resolve_user": lambda: store.resolve_user(user),
            "count": store.count,
            "synced": lambda: store.synced(small_data),
            "search": lambda: store.search("football"),
            "similar_items": lambda: store.similar_items(item),
            "similar_users": lambda: store.similar_users(user),
            "history": lambda: store.history(user),
            "seen": lambda: store.seen([user]),
        }
        for call in calls.values():
            with pytest.raises(RagRecsError, match="Chroma server at .* stopped answering"):
                call()
        server = serve_chroma(path, port)  # back, with the same data
        after = assistant.ask(question)
        assert [i.item_id for i in after.items] == [i.item_id for i in before.items]
    finally:
        stop(server)


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RagRecsError, match="cannot reach the Chroma server"):
        HistoryStore(url=f"http://127.0.0.1:{port}")


def _cli(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "RAG_RECS_WORKSPACE": str(workspace),
        "PYTHONWARNINGS": "ignore",
        "COLUMNS": "200",
    }
    env.pop("RAG_RECS_DEBUG", None)
    env.pop("RAG_RECS_CHROMA_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "rag_recs.cli.main", *args, "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=180,
    )


def _json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def test_cli_index_and_search(tmp_path: Path) -> None:
    source = tmp_path / "tiny.csv"
    _tiny().interactions.to_csv(source, index=False)
    workspace = tmp_path / "ws"
    built = _json(_cli(workspace, "index", "--data", str(source), "--json"))
    assert built["added"] == built["documents"] > 0 and built["unchanged"] == 0
    assert built["embedding_model"] == DEFAULT_MODEL and "store-static-minilm" in built["store"]
    again = _cli(workspace, "index", "--data", str(source))
    assert again.returncode == 0, again.stderr
    assert f"0 added, 0 updated, 0 deleted, {built['documents']} unchanged" in again.stdout
    found = _json(
        _cli(
            workspace,
            "search",
            "sports",
            "--user",
            "3",
            "--k",
            "2",
            "--data",
            str(source),
            "--json",
        )
    )
    assert found["user"] == 3 and len(found["similar_users"]) == 2
    assert {"user_id", "score", "jaccard", "shared_items"} <= found["similar_users"][0].keys()
    assert len(found["hits"]) == 2 and found["hits"][0]["kind"] == "user"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "anything", "--store", "{tmp}/missing"], "no store at"),
        (["search", " ", "--store", "{tmp}/missing"], "the search text is empty"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _cli(tmp_path / "ws", *(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "missing").exists()


def test_like_x_through_the_store_uses_item_vectors(tmp_path: Path, embeddings, small_data,
                                                    small_ranker) -> None:  # fmt: skip
    from rag_recs.assistant import Assistant

    store = HistoryStore(tmp_path / "s", embeddings=embeddings, create=True)
    store.sync(small_data, progress=False)
    anchor = small_data.catalog[4]
    near = store.similar_items(anchor, k=8)
    assert len(near) == 8 and anchor not in [i for i, _ in near]
    assert [s for _, s in near] == sorted((s for _, s in near), reverse=True)
    assistant = Assistant(small_data, small_ranker, store=store)
    title = small_data.title(anchor)
    answer = assistant.ask(f"4 items like '{title}' for user {small_data.user_index[2]}")
    assert any("(item vectors)" in n for n in answer.notes), answer.notes
    cited = {i.item_id: i.evidence.similarity for i in answer.items if i.evidence.similarity}
    assert cited and all(abs(s - dict(near).get(i, s)) < 1e-6 for i, s in cited.items())
    # free text that is no title is searched among the item documents
    matched, found, how = assistant.pipeline.like_items("football and tennis")
    assert how == "item vectors" and matched == "football and tennis" and found
