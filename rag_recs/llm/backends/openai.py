"""OpenAI-compatible backend (``openai:<model>[@<base url>]``): OpenAI itself, vLLM, llama.cpp
server, LM Studio..., through the optional ``langchain-openai``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rag_recs.llm.backends._util import is_loopback, require, warn_hosted
from rag_recs.llm.errors import LLMError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag_recs.llm.config import LLMConfig

KEY_VARIABLE = "OPENAI_API_KEY"


def build_openai(config: LLMConfig, model: str, base_url: str | None) -> BaseChatModel:
    """ChatOpenAI for ``model``; a self-hosted server needs no key, OpenAI's API needs one."""
    openai = require("langchain_openai", "openai", "openai", "langchain-openai")
    key = os.environ.get(KEY_VARIABLE)
    if not key and not base_url:
        raise LLMError(
            f"the openai backend needs {KEY_VARIABLE} set, or a server URL: "
            "openai:<model>@http://host:port/v1"
        )
    chat = openai.ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=key or "EMPTY",  # self-hosted servers (vLLM) accept any key
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=config.seed,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )
    if not is_loopback(base_url):
        warn_hosted("openai", base_url or "the OpenAI API (api.openai.com)")
    return chat
