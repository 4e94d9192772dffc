"""The assistant's context stage as a LangChain retriever, so the retrieval chain starts from
it (imported with the chain: LangChain's retriever classes bring its tracing along)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class ContextRetriever(BaseRetriever):
    """A LangChain retriever over one function: user -> the documents the LLM reads about them
    (the assistant's context stage), so the retrieval chain starts from it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    context: Callable[[Any], list[Document]]

    def _get_relevant_documents(
        self, query: Any, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.context(query)
