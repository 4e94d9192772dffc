"""Retrieval stage: interaction histories -> documents -> embeddings -> Chroma."""

from rag_recs.retrieval.documents import (
    DocumentConfig,
    build_documents,
    item_documents,
    user_documents,
)
from rag_recs.retrieval.embeddings import (
    DEFAULT_MODEL,
    EmbeddingModel,
    LazyEmbeddings,
    resolve_model,
)
from rag_recs.retrieval.overlap import Overlap, jaccard, overlap
from rag_recs.retrieval.store import COLLECTION, HistoryStore, SyncSummary

__all__ = [
    "COLLECTION",
    "DEFAULT_MODEL",
    "DocumentConfig",
    "EmbeddingModel",
    "HistoryStore",
    "LazyEmbeddings",
    "Overlap",
    "SyncSummary",
    "build_documents",
    "item_documents",
    "jaccard",
    "overlap",
    "resolve_model",
    "user_documents",
]
