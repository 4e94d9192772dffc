"""Build the chat model named by one backend string; each backend lives in its own module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_recs.llm.config import LLMConfig

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def build_llm(spec: str | LLMConfig | None = None, **overrides: object) -> BaseChatModel | None:
    """The chat model for a backend string or config (``none`` gives None: no LLM is used)."""
    if spec is None:
        config = LLMConfig()
    elif isinstance(spec, LLMConfig):
        config = spec
    else:
        config = LLMConfig(backend=spec)
    if overrides:
        config = LLMConfig.model_validate({**config.model_dump(), **overrides})
    kind, target, base_url = config.spec
    if kind == "none":
        return None
    if kind in ("local", "llamacpp"):
        from rag_recs.llm.backends.llamacpp import build_llamacpp

        return build_llamacpp(config, target)
    if kind == "hf-endpoint":
        from rag_recs.llm.backends.huggingface import build_hf_endpoint

        return build_hf_endpoint(config, target)
    if kind == "hf-local":
        from rag_recs.llm.backends.huggingface import build_hf_local

        return build_hf_local(config, target)
    if kind == "ollama":
        from rag_recs.llm.backends.ollama import build_ollama

        return build_ollama(config, target, base_url)
    from rag_recs.llm.backends.openai import build_openai

    return build_openai(config, target, base_url)
