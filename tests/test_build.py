"""Building the assistant: the store is built while the ranker trains, and never holds up the
first answer beyond its budget; an incomplete store is completed by the next build."""

from __future__ import annotations

import threading

import pytest
from conftest import small_config

from rag_recs.assistant.build import build_assistant
from rag_recs.data.synthetic import generate
from rag_recs.retrieval import background
from rag_recs.retrieval.background import StoreAddress, SyncProcess
from rag_recs.retrieval.documents import build_documents
from rag_recs.retrieval.store import open_store
from rag_recs.workspace import Workspace


def _spy(monkeypatch) -> list:
    """The background syncs started from now on."""
    started = []
    for kind in ("SyncProcess", "SyncThread"):
        real = getattr(background, kind)

        def record(*args, real=real, **kwargs):
            started.append(real(*args, **kwargs))
            return started[-1]

        monkeypatch.setattr(background, kind, record)
    return started


def test_the_first_answer_does_not_wait_for_the_store(tmp_path, monkeypatch):
    data = generate(n_users=700, n_items=80)  # several embedding pieces: a stop can cut in
    workspace = Workspace(tmp_path)
    config = small_config()
    workspace.ranker(data, config)  # trained already: only the store is missing
    started = _spy(monkeypatch)
    first = build_assistant(
        data, llm="none", workspace=workspace, ranker_config=config, progress=False,
        first_answer_s=0,
    )  # fmt: skip
    assert first.store is None
    # the sync ran in a child process, which ended with the build, its files with it
    (sync,) = started
    assert isinstance(sync, SyncProcess)
    assert sync.process.returncode == 0 and not sync.dir.exists()
    answer = first.ask("2 items for user 5")
    assert len(answer.items) == 2
    assert any("exact overlap" in note for note in answer.notes)

    again = build_assistant(data, llm="none", workspace=workspace, ranker_config=config)
    assert again.store is not None and again.store.synced(data)
    assert again.store.count() == len(build_documents(data))  # resumed: none missing, no copy
    answer = again.ask("2 items for user 5")
    assert len(answer.items) == 2 and not answer.notes


def test_the_store_built_by_the_child_is_read_afresh(tmp_path, monkeypatch):
    """What the child wrote (documents, vectors, the synced mark) is what the parent reads."""
    data = generate(n_users=60, n_items=30)
    workspace = Workspace(tmp_path)
    config = small_config()
    started = _spy(monkeypatch)
    assistant = build_assistant(
        data, llm="none", workspace=workspace, ranker_config=config, progress=False
    )
    assert isinstance(started[0], SyncProcess)
    assert assistant.store is not None and assistant.store.synced(data)
    assert assistant.store.count() == len(build_documents(data))
    assert assistant.store.similar_users(data.interactions["user_id"].iloc[0], k=3)


def test_a_store_held_open_elsewhere_syncs_in_a_thread(tmp_path, monkeypatch):
    """Another client of the directory in this process keeps Chroma's cache: a child's writes
    would not be seen through it, so the sync runs in a thread, which every client sees."""
    data = generate(n_users=60, n_items=30)
    workspace = Workspace(tmp_path)
    held = open_store(workspace, data, create=True)  # a user's own handle on the store
    started = _spy(monkeypatch)
    assistant = build_assistant(
        data, llm="none", workspace=workspace, ranker_config=small_config(), progress=False
    )
    assert [type(s).__name__ for s in started] == ["SyncThread"]
    assert not [t for t in threading.enumerate() if t.name == "store-sync"]
    assert assistant.store is not None and assistant.store.synced(data)
    assert held.count() == assistant.store.count() == len(build_documents(data))


def test_an_error_in_the_child_reaches_the_caller(tmp_path):
    """The child's error is raised by the parent, as itself; nothing is left behind."""
    data = generate(n_users=30, n_items=20)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    sync = SyncProcess(StoreAddress(blocked), data, progress=False)
    with pytest.raises(OSError):
        sync.finish(60.0)
    assert sync.process.returncode == 0 and not sync.dir.exists()


def test_without_a_child_process_the_sync_runs_in_a_thread(tmp_path, monkeypatch):
    """No interpreter to start (an embedded Python): the sync falls back to a thread."""
    data = generate(n_users=40, n_items=20)

    def no_interpreter(*args, **kwargs):
        raise OSError("no such file: python")

    monkeypatch.setattr(background, "SyncProcess", no_interpreter)
    started = _spy(monkeypatch)
    assistant = build_assistant(
        data, llm="none", workspace=Workspace(tmp_path), ranker_config=small_config(),
        progress=False,
    )  # fmt: skip
    assert [type(s).__name__ for s in started] == ["SyncThread"]
    assert assistant.store is not None and assistant.store.synced(data)


def test_the_child_stops_when_told_or_when_its_parent_is_gone(tmp_path, monkeypatch):
    stop = background._StopFile(tmp_path / "stop")
    assert not stop.is_set()
    (tmp_path / "stop").touch()
    assert stop.is_set()
    (tmp_path / "stop").unlink()
    monkeypatch.setattr(background.os, "getppid", lambda: stop.parent + 1)  # reparented
    assert stop.is_set()
