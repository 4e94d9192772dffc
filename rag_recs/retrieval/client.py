"""Chroma clients: an embedded persistent store by default, a ``chroma run`` server to scale.

Telemetry is off for both. Opening a store only to read never creates it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402
from chromadb.api import ClientAPI  # noqa: E402
from chromadb.config import Settings  # noqa: E402

from rag_recs.errors import RagRecsError  # noqa: E402

URL_ENV = "RAG_RECS_CHROMA_URL"
_SQLITE = "chroma.sqlite3"


def settings() -> Settings:
    return Settings(anonymized_telemetry=False)


def exists(path: str | Path) -> bool:
    """Whether a persistent store was ever written at ``path``."""
    return (Path(path) / _SQLITE).is_file()


def persistent_client(path: str | Path, *, create: bool) -> ClientAPI:
    """The embedded store in a directory; without ``create`` a missing store is not made."""
    path = Path(path).expanduser()
    if not create and not exists(path):
        raise FileNotFoundError(path)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings())


def http_client(url: str) -> ClientAPI:
    """A client of a Chroma server, e.g. ``http://127.0.0.1:8000`` (``chroma run --path DIR``)."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RagRecsError(f"not a Chroma server URL: {url!r} (expected http://HOST:PORT)")
    ssl = parsed.scheme == "https"
    port = parsed.port or (443 if ssl else 8000)
    try:
        client = chromadb.HttpClient(host=parsed.hostname, port=port, ssl=ssl, settings=settings())
        client.heartbeat()
    except Exception as exc:  # connection refused, DNS, TLS...: all mean "not reachable"
        raise RagRecsError(
            f"cannot reach the Chroma server at {url} ({type(exc).__name__}); "
            "start one with: chroma run --path DIR --host 127.0.0.1 --port PORT"
        ) from None
    return client
