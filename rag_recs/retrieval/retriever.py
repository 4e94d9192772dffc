"""The history store as a standard LangChain retriever, so it plugs into any chain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class HistoryRetriever(BaseRetriever):
    """Nearest user-history and item documents to a query; scores in ``metadata["score"]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any  # a HistoryStore (typed loosely: pydantic cannot build a schema for it)
    k: int = 4
    kind: str | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.store.search(query, k=self.k, kind=self.kind)
