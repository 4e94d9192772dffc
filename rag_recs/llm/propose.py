"""Ask the LLM for candidates from a pool, and for reasons worded from computed evidence."""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable, Iterator, Mapping, Sequence

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from rag_recs.llm.calls import invoke_text, stream_text
from rag_recs.llm.parsing import parse_proposal
from rag_recs.llm.prompts import load_prompt
from rag_recs.llm.schema import Proposal, plain_id

log = logging.getLogger("rag_recs.llm")

_TAGS = re.compile(r"</?\s*(documents|evidence|candidates|question|item)\s*>", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def as_data(text: object) -> str:
    """User-provided text with the prompt's section tags removed, so it cannot close a section."""
    return _TAGS.sub("", str(text))


def format_context(docs: Sequence[Document | str]) -> str:
    """Retrieved documents as numbered blocks for the prompt ("stuffing")."""
    texts = [d.page_content if isinstance(d, Document) else str(d) for d in docs]
    return "\n\n".join(f"[{i}] {as_data(t).strip()}" for i, t in enumerate(texts, 1)) or "(none)"


def format_candidates(pool: Mapping[Hashable, str]) -> str:
    """The candidate pool as ``- id: title`` lines, ids written the way the model must echo them."""
    return "\n".join(f"- {plain_id(i)}: {as_data(t)}" for i, t in pool.items()) or "(none)"


def recommend_inputs(
    question: str,
    context_docs: Sequence[Document | str],
    pool: Mapping[Hashable, str],
    k: int,
    evidence: str = "",
) -> dict[str, object]:
    """The variables of the ``recommend`` prompt."""
    return {
        "context": format_context(context_docs),
        "evidence": as_data(evidence).strip() or "(none)",
        "candidates": format_candidates(pool),
        "question": as_data(question).strip(),
        "k": k,
    }


def recommend_messages(
    question: str,
    context_docs: Sequence[Document | str],
    pool: Mapping[Hashable, str],
    k: int,
    evidence: str = "",
    prompt: ChatPromptTemplate | None = None,
) -> list[BaseMessage]:
    """The filled ``recommend`` prompt (loaded from its files unless one is given)."""
    template = prompt or load_prompt("recommend")
    messages = template.invoke(recommend_inputs(question, context_docs, pool, k, evidence))
    log.debug("recommend prompt: %d characters", sum(len(m.text) for m in messages.messages))
    return messages.to_messages()


def propose(
    llm: BaseChatModel | None,
    question: str,
    context_docs: Sequence[Document | str],
    pool: Mapping[Hashable, str],
    k: int,
    *,
    evidence: str = "",
    structured: bool | None = None,
    prompt: ChatPromptTemplate | None = None,
) -> Proposal:
    """Ask the LLM for ``k`` items from ``pool`` (item id -> title) with reasons; output is
    schema-constrained where the backend allows and leniently parsed everywhere, so garbage
    ends up in ``Proposal.unparsed``, never in an exception. No LLM or no pool: empty."""
    if llm is None or not pool:
        return Proposal()
    messages = recommend_messages(question, context_docs, pool, k, evidence, prompt)
    text = invoke_text(llm, messages, pool, k, structured)
    return parse_proposal(text, pool)


def stream_answer(
    llm: BaseChatModel | None,
    question: str,
    context_docs: Sequence[Document | str],
    pool: Mapping[Hashable, str],
    k: int,
    *,
    evidence: str = "",
    prompt: ChatPromptTemplate | None = None,
) -> Iterator[str]:
    """The LLM's free-text answer to the ``recommend`` prompt, token by token as it comes."""
    if llm is None or not pool:
        return
    messages = recommend_messages(question, context_docs, pool, k, evidence, prompt)
    yield from stream_text(llm, messages)


def added_numbers(text: str, evidence: str) -> set[str]:
    """Numbers in ``text`` that the evidence does not contain (an LLM must not make any up)."""
    return set(_NUMBER.findall(text)) - set(_NUMBER.findall(evidence))


def explain(
    llm: BaseChatModel | None,
    item: str,
    evidence: str,
    *,
    prompt: ChatPromptTemplate | None = None,
) -> str:
    """One sentence wording ``evidence`` as a reason for ``item``; the evidence itself is returned
    when there is no LLM, the model says nothing, or it adds a number of its own."""
    if llm is None or not evidence.strip():
        return evidence.strip()
    template = prompt or load_prompt("explain")
    values = {"item": as_data(item).strip(), "evidence": as_data(evidence).strip()}
    text = invoke_text(llm, template.invoke(values).to_messages(), structured=False)
    reason = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not reason or added_numbers(reason, evidence):
        return evidence.strip()
    return reason
