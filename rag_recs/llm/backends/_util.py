"""Helpers shared by the backend modules: optional imports, privacy notices, retry settings."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from urllib.parse import urlparse

from rag_recs.llm.errors import LLMError

log = logging.getLogger("rag_recs.llm")

RETRIES_KEY = "rag_recs_max_retries"
"""Metadata key telling the callers how often to retry a model whose client does not retry."""

_warned: set[str] = set()


def require(module: str, backend: str, extra: str, package: str) -> ModuleType:
    """Import an optional dependency or raise LLMError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LLMError(
            f"the {backend} backend needs {package}: pip install 'rag-recs[{extra}]'"
        ) from exc


def is_loopback(url: str | None) -> bool:
    """True for a server on this machine (localhost, 127.x, ::1), where data stays local."""
    host = (urlparse(url).hostname or "") if url else ""
    return host in ("localhost", "::1") or host.startswith("127.")


def warn_hosted(backend: str, destination: str) -> None:
    """Say once per process and backend that prompts, histories included, leave this machine."""
    if backend in _warned:
        return
    _warned.add(backend)
    log.warning(
        "the %s backend sends prompts, including users' interaction histories, to %s",
        backend,
        destination,
    )
