"""Picking from a lettered pool: the LLM ranks every candidate by the probability it gives the
candidate's letter as its next token, in one forward pass (the verbalizer approach of
LlamaRec). It cannot repeat an item or name one outside the pool, and it writes nothing, so
it costs one prompt evaluation instead of a generated answer."""

from __future__ import annotations

import math
import string
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from rag_recs.llm.errors import LLMError
from rag_recs.llm.formatting import as_data

LABELS = tuple(string.ascii_uppercase)
"""One letter per candidate: a single token in the vocabularies of the usual models."""

_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


def label_pool(pool: Mapping[Hashable, str]) -> dict[str, Hashable]:
    """Letter -> item for the first ``len(LABELS)`` items of the pool, in pool order."""
    return dict(zip(LABELS, pool, strict=False))


def format_labelled(labelled: Mapping[str, Hashable], pool: Mapping[Hashable, str]) -> str:
    """The pool as ``A. title`` lines, for the prompt."""
    return "\n".join(f"{label}. {as_data(pool[item])}" for label, item in labelled.items())


def supports_label_scores(llm: BaseChatModel | None) -> bool:
    """True when the model's next-token probabilities can always be read: a llama.cpp model in
    process. (An OpenAI-compatible server may give them too, as ``top_logprobs``: chosen with
    ``llm_mode="labels"``, since not every server does.)"""
    return _llama(llm) is not None


def label_probabilities(
    llm: BaseChatModel, messages: Sequence[BaseMessage], labels: Sequence[str]
) -> dict[str, float]:
    """Probability of each label as the answer's first token, normalised over the labels.

    Evaluates the prompt once through llama.cpp and reads the last position's logits; raises
    LLMError when the backend cannot give them or the prompt does not fit the context.
    """
    llama = _llama(llm)
    if llama is None:
        if _is_openai(llm):
            return _server_probabilities(llm, messages, labels)
        raise LLMError(f"{type(llm).__name__} gives no next-token probabilities here")
    import llama_cpp
    import numpy as np

    prompt = _chat_prompt(llama, messages)
    tokens = llama.tokenize(prompt.prompt.encode(), add_bos=not prompt.added_special, special=True)
    if len(tokens) >= llama.n_ctx():
        raise LLMError(f"the prompt has {len(tokens)} tokens, over the context of {llama.n_ctx()}")
    ids = [llama.tokenize(label.encode(), add_bos=False, special=False)[0] for label in labels]
    llama.reset()
    llama.eval(tokens)
    # the last position's logits, read from the context: Llama.scores keeps them only when
    # every position's logits are computed (logits_all), which costs a vocabulary-wide
    # projection per prompt token
    logits = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),)
    )
    chosen = [float(logits[i]) for i in ids]
    top = max(chosen)
    weights = [math.exp(v - top) for v in chosen]
    total = sum(weights)
    return {label: w / total for label, w in zip(labels, weights, strict=True)}


TOP_LOGPROBS = 20
"""The most alternatives the OpenAI API returns for a token."""


def _server_probabilities(
    llm: BaseChatModel, messages: Sequence[BaseMessage], labels: Sequence[str]
) -> dict[str, float]:
    """Label probabilities from an OpenAI-compatible server's ``top_logprobs`` for the first
    answer token; a label outside the returned alternatives gets probability 0."""
    reply = llm.bind(logprobs=True, top_logprobs=TOP_LOGPROBS, max_tokens=1).invoke(messages)
    content = (reply.response_metadata.get("logprobs") or {}).get("content") or []
    if not content:
        raise LLMError("the server returned no logprobs: use llm_mode='generate' with it")
    found: dict[str, float] = {}
    for alternative in content[0].get("top_logprobs") or []:
        token = str(alternative.get("token", "")).strip()
        if token in labels and token not in found:
            found[token] = float(alternative["logprob"])
    if not found:
        return dict.fromkeys(labels, 1.0 / len(labels))  # no opinion: every label alike
    top = max(found.values())
    weights = {label: math.exp(found[label] - top) if label in found else 0.0 for label in labels}
    total = sum(weights.values())
    return {label: w / total for label, w in weights.items()}


def _is_openai(llm: Any) -> bool:
    return any(cls.__name__ == "ChatOpenAI" for cls in type(llm).__mro__)


def _llama(llm: Any) -> Any:
    """The ``llama_cpp.Llama`` behind a ChatLlamaCpp, or None for any other model."""
    client = getattr(llm, "client", None)
    if client is None or type(client).__name__ != "Llama":
        return None
    return client


def _chat_prompt(llama: Any, messages: Sequence[BaseMessage]) -> Any:
    """The messages as the model's own chat template writes them, ending where it answers
    (a ChatFormatterResponse: ``prompt``, and ``added_special`` when it holds the BOS)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise LLMError("the GGUF model has no chat template to write the prompt with")

    def token(i: int) -> str:
        return llama.detokenize([i]).decode(errors="ignore") if i >= 0 else ""

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=token(llama.token_eos()), bos_token=token(llama.token_bos())
    )
    chat = [{"role": _ROLES.get(m.type, m.type), "content": m.text} for m in messages]
    return formatter(messages=chat)
