"""The HTTP service: one loaded assistant behind FastAPI (``rag-recs serve``)."""

from rag_recs.serve.app import make_app

__all__ = ["make_app"]
