"""Ollama backend (``ollama:<model>[@<url>]``), through the optional ``langchain-ollama``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rag_recs.llm.backends._util import RETRIES_KEY, is_loopback, require, warn_hosted

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag_recs.llm.config import LLMConfig

DEFAULT_URL = "http://127.0.0.1:11434"


def build_ollama(config: LLMConfig, model: str, base_url: str | None) -> BaseChatModel:
    """ChatOllama for ``model``; warns once when the server is not on this machine."""
    ollama = require("langchain_ollama", "ollama", "ollama", "langchain-ollama")
    url = base_url or os.environ.get("OLLAMA_HOST") or DEFAULT_URL
    if "://" not in url:
        url = f"http://{url}"
    chat = ollama.ChatOllama(
        model=model,
        base_url=url,
        temperature=config.temperature,
        num_predict=config.max_tokens,
        num_ctx=config.n_ctx,
        seed=config.seed,
        client_kwargs={"timeout": config.timeout_s},
        metadata={RETRIES_KEY: config.max_retries},
    )
    if not is_loopback(url):
        warn_hosted("ollama", url)
    return chat
