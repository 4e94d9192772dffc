"""Build an :class:`Assistant` from a data source: ranker and store from the workspace, any LLM."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from rag_recs.assistant.assistant import Assistant, AssistantConfig
from rag_recs.config import RankerConfig, Settings
from rag_recs.data.loaders import load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.errors import StoreMissing
from rag_recs.workspace import Workspace

log = logging.getLogger(__name__)


def open_store(
    workspace: Workspace,
    dataset: Dataset,
    *,
    store_dir: str | Path | None = None,
    chroma_url: str | None = None,
    embeddings: str | None = None,
    progress: bool = True,
) -> Any:
    """The dataset's vector store; a missing one is built once (the only write besides index)."""
    from rag_recs.retrieval.store import HistoryStore

    def history_store(create: bool) -> HistoryStore:
        if chroma_url or store_dir:
            return HistoryStore(store_dir, url=chroma_url, embeddings=embeddings, create=create)
        return HistoryStore.in_workspace(workspace, dataset, embeddings=embeddings, create=create)

    try:
        return history_store(create=False)
    except StoreMissing:
        store = history_store(create=True)
    log.warning("building the vector store for %s (first use)", dataset.name)
    store.sync(dataset, progress=progress)
    return store


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
    **load_options: Any,
) -> Assistant:
    """Everything the assistant needs, built once per data fingerprint and reused afterwards.

    ``llm`` is a backend string (``local``, ``none``, ``llamacpp:PATH``, ``hf-endpoint:REPO``,
    ...), an LLM config, or a ready LangChain chat model.
    """
    dataset = data if isinstance(data, Dataset) else load_dataset(data, **load_options)
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ranker_config = ranker_config or RankerConfig(progress=progress)
    ranker, _ = ws.ranker(dataset, ranker_config)
    store = None
    if use_store:
        store = open_store(
            ws,
            dataset,
            store_dir=store_dir,
            chroma_url=chroma_url,
            embeddings=embeddings,
            progress=progress,
        )
    model = llm
    if llm is None or isinstance(llm, str) or type(llm).__name__ == "LLMConfig":
        from rag_recs.llm import build_llm

        model = build_llm(llm or "none")
    return Assistant(dataset, ranker, store=store, llm=model, config=config)
