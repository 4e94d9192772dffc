"""Build an :class:`Assistant` from a data source: ranker and store from the workspace, any LLM."""

from __future__ import annotations

import logging
import time
from contextlib import suppress
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
        from rag_recs.retrieval.background import StoreAddress, sync_in_background

        address = StoreAddress(ws.root, store_dir, chroma_url, embeddings)
        store = address.open(dataset)
        if not store.synced(dataset):
            log.warning("building the vector store for %s (first use)", dataset.name)
            build = sync_in_background(store, address, dataset, progress)  # overlaps the fit
    try:
        ranker, _ = ws.ranker(dataset, ranker_config)
    except BaseException:
        if build is not None:
            with suppress(Exception):  # the fit's own error is the one to report
                build.finish(0.0)
        raise
    if build is not None:
        store = build.finish(first_answer_s - (time.perf_counter() - start))
    if build is not None and store is None:
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
