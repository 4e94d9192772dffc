"""Hugging Face backends: ``hf-endpoint`` (hosted Inference API) and ``hf-local`` (transformers)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rag_recs.llm.backends._util import RETRIES_KEY, is_loopback, require, warn_hosted
from rag_recs.llm.errors import LLMError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag_recs.llm.config import LLMConfig

TOKEN_VARIABLE = "HUGGINGFACEHUB_API_TOKEN"


def build_hf_endpoint(config: LLMConfig, target: str) -> BaseChatModel:
    """ChatHuggingFace over HuggingFaceEndpoint: a repo id on the Hugging Face Inference API, or
    an endpoint URL (a TGI or any OpenAI-compatible chat server, e.g. ``python -m
    llama_cpp.server``). The token is read from the environment only, and needed only for a
    server that is not on this machine."""
    hf = require("langchain_huggingface", "hf-endpoint", "hf", "langchain-huggingface")
    url = target if target.startswith(("http://", "https://")) else None
    # HuggingFaceEndpoint reads the token from the environment itself and keeps it out of repr;
    # it is never passed through here, so it cannot end up in a log or a saved config.
    has_token = bool(os.environ.get(TOKEN_VARIABLE) or os.environ.get("HF_TOKEN"))
    if not has_token and not is_loopback(url):
        raise LLMError(f"the hf-endpoint backend needs a Hugging Face token: set {TOKEN_VARIABLE}")
    sampled = config.temperature > 0
    endpoint = hf.HuggingFaceEndpoint(
        **({"endpoint_url": url} if url else {"repo_id": target}),
        task="text-generation",
        max_new_tokens=config.max_tokens,
        do_sample=sampled,
        temperature=config.temperature if sampled else None,
        seed=config.seed,
        timeout=int(config.timeout_s),
    )
    model = hf.ChatHuggingFace(llm=endpoint, metadata={RETRIES_KEY: config.max_retries})
    if not is_loopback(url):
        warn_hosted("hf-endpoint", url or f"the Hugging Face Inference API ({target})")
    return model


def build_hf_local(config: LLMConfig, model: str) -> BaseChatModel:
    """ChatHuggingFace over a local transformers pipeline (a path, or a model id in the cache)."""
    hf = require("langchain_huggingface", "hf-local", "hf", "langchain-huggingface")
    require("transformers", "hf-local", "hf", "transformers")
    sampled = config.temperature > 0
    generation = {"max_new_tokens": config.max_tokens, "do_sample": sampled}
    if sampled:
        generation["temperature"] = config.temperature
    try:
        pipeline = hf.HuggingFacePipeline.from_model_id(
            model_id=model, task="text-generation", pipeline_kwargs=generation
        )
        return hf.ChatHuggingFace(llm=pipeline)
    except (OSError, ValueError) as exc:
        raise LLMError(
            f"could not load the transformers model '{model}': give a local path, or a model id "
            "already in the Hugging Face cache or downloadable from here"
        ) from exc
