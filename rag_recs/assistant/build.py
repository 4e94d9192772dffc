"""Build an :class:`Assistant` from a data source: ranker and store from the workspace, any LLM."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from rag_recs.assistant.assistant import Assistant
from rag_recs.assistant.config import AssistantConfig
from rag_recs.config import RankerConfig, Settings
from rag_recs.data.loaders import load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.workspace import Workspace

log = logging.getLogger(__name__)


class StoreBuild:
    """Syncs a store in a background thread while the ranker trains, and stops it on demand.

    A stopped build ends after its current batch; every finished batch is kept, so the next
    command that needs the store resumes it. Nothing outlives the command: ``finish`` joins.
    """

    def __init__(self, store: Any, dataset: Dataset, progress: bool) -> None:
        self.store, self.dataset = store, dataset
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.complete = False
        self.thread = threading.Thread(target=self._run, args=(progress,), name="store-sync")

    def start(self) -> StoreBuild:
        log.warning("building the vector store for %s (first use)", self.dataset.name)
        self.thread.start()
        return self

    def _run(self, progress: bool) -> None:
        try:
            summary = self.store.sync(self.dataset, progress=progress, stop=self.stop)
            self.complete = summary.complete
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc

    def finish(self, wait_s: float) -> bool:
        """Wait up to ``wait_s`` for the build, then stop it; True when the store is complete."""
        self.thread.join(max(0.0, wait_s))
        if self.thread.is_alive():
            self.stop.set()
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.complete


def from_settings(settings: Settings | None = None, **overrides: Any) -> Assistant:
    """An assistant configured by :class:`Settings` (TOML file, ``RAG_RECS_*`` variables)."""
    s = settings or Settings(**overrides)
    return build_assistant(
        s.data,
        llm=s.llm,
        workspace=s.workspace,
        chroma_url=s.chroma_url,
        embeddings=s.embeddings,
        ranker_config=s.ranker,
        config=AssistantConfig(**s.assistant),
    )


def build_assistant(
    data: str | Path | pd.DataFrame | Dataset = "synthetic",
    *,
    llm: Any = "local",
    workspace: str | Path | Workspace | None = None,
    store_dir: str | Path | None = None,
    chroma_url: str | None = None,
    embeddings: str | None = None,
    use_store: bool = True,
    ranker_config: RankerConfig | None = None,
    config: AssistantConfig | None = None,
    progress: bool = True,
    first_answer_s: float = 45.0,
    **load_options: Any,
) -> Assistant:
    """Everything the assistant needs, built once per data fingerprint and reused afterwards.

    ``llm`` is a backend string (``local``, ``none``, ``llamacpp:PATH``, ``hf-endpoint:REPO``,
    ...), an LLM config, or a ready LangChain chat model. A missing vector store is built while
    the ranker trains; if it is not complete ``first_answer_s`` after the start, it is stopped
    (to resume next time) and similar users come from exact overlap instead.
    """
    start = time.perf_counter()
    dataset = data if isinstance(data, Dataset) else load_dataset(data, **load_options)
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ranker_config = ranker_config or RankerConfig(progress=progress)
    store, build, notes = None, None, []
    if use_store:
        from rag_recs.retrieval.store import open_store

        store = open_store(
            ws,
            dataset,
            store_dir=store_dir,
            chroma_url=chroma_url,
            embeddings=embeddings,
            create=True,
        )
        if not store.synced(dataset):
            build = StoreBuild(store, dataset, progress).start()  # overlaps the ranker's fit
    ranker, _ = ws.ranker(dataset, ranker_config)
    if build is not None and not build.finish(first_answer_s - (time.perf_counter() - start)):
        store = None
        notes.append(
            "the vector store is still incomplete (the next command resumes it): similar users "
            "come from exact overlap with every user"
        )
    model = llm
    if llm is None or (isinstance(llm, str) and llm.strip().lower() == "none"):
        model = None  # no LLM: nothing of the LLM layer is even imported
    elif isinstance(llm, str) or type(llm).__name__ == "LLMConfig":
        from rag_recs.llm import build_llm

        model = build_llm(llm or "none")
    return Assistant(dataset, ranker, store=store, llm=model, config=config, notes=notes)
