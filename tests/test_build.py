"""Building the assistant: the store is built while the ranker trains, and never holds up the
first answer beyond its budget; an incomplete store is completed by the next build."""

from __future__ import annotations

import threading

from conftest import small_config

from rag_recs.assistant.build import build_assistant
from rag_recs.data.synthetic import generate
from rag_recs.retrieval.documents import build_documents
from rag_recs.workspace import Workspace


def test_the_first_answer_does_not_wait_for_the_store(tmp_path):
    data = generate(n_users=700, n_items=80)  # several embedding pieces: a stop can cut in
    workspace = Workspace(tmp_path)
    config = small_config()
    workspace.ranker(data, config)  # trained already: only the store is missing
    first = build_assistant(
        data, llm="none", workspace=workspace, ranker_config=config, progress=False,
        first_answer_s=0,
    )  # fmt: skip
    assert first.store is None
    # the store's thread ended with the build (Chroma's own client threads may stay)
    assert not [t for t in threading.enumerate() if t.name == "store-sync"]
    answer = first.ask("2 items for user 5")
    assert len(answer.items) == 2
    assert any("exact overlap" in note for note in answer.notes)

    again = build_assistant(data, llm="none", workspace=workspace, ranker_config=config)
    assert again.store is not None and again.store.synced(data)
    assert again.store.count() == len(build_documents(data))  # resumed: none missing, no copy
    answer = again.ask("2 items for user 5")
    assert len(answer.items) == 2 and not answer.notes
