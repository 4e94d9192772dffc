"""The retrieval chain as LCEL runnables: retrieve -> (candidates) -> prompt -> LLM -> parse,
and its LLM step on its own (:func:`make_proposer`), for chains whose first steps are others'.

Two ways for the LLM to answer from the candidate pool:

- ``labels``: the pool is lettered and the model ranks it by each letter's next-token
  probability in one forward pass (:mod:`rag_recs.llm.labels`): no repeats, no invented items,
  no generated text. Used where the probabilities can be read (llama.cpp in process).
- ``generate``: the model writes its picks and reasons (schema-constrained where the backend
  allows), parsed leniently into a Proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnablePassthrough,
)
from langchain_core.runnables.utils import AddableDict

from rag_recs.config import LLMMode
from rag_recs.llm.calls import invoke_text, stream_text, supports_constrained_output
from rag_recs.llm.formatting import as_data, format_candidates, format_context
from rag_recs.llm.labels import (
    format_labelled,
    label_pool,
    label_probabilities,
    supports_label_scores,
)
from rag_recs.llm.parsing import parse_proposal
from rag_recs.llm.prompts import load_prompt
from rag_recs.llm.schema import Candidate, Proposal

Mode = LLMMode


def chain_mode(llm: BaseChatModel | None, mode: Mode = "auto") -> str:
    """The mode a chain runs in: ``auto`` is ``labels`` where the model's probabilities can be
    read, else ``generate``."""
    if mode == "auto":
        return "labels" if supports_label_scores(llm) else "generate"
    return mode


def make_proposer(
    llm: BaseChatModel | None,
    *,
    k: int = 2,
    mode: Mode = "auto",
    structured: bool | None = None,
    stream: bool = False,
    prompt: ChatPromptTemplate | None = None,
    noun: str = "items",
) -> Runnable[dict[str, Any], dict[str, Any]]:
    """The LLM step: ``{"context", "pool", "question", "k"?, "evidence"?, "stream"?}`` ->
    prompt -> LLM -> parse, giving ``{"context", "pool", "answer", "proposal"}``.

    ``.stream`` yields the context and pool first, then the answer (token by token where the
    model writes it unconstrained and ``stream``, or the input's ``"stream"``, is set), then the
    parsed proposal. ``noun`` is the data's word for its items, where the prompt names them.
    """
    how = chain_mode(llm, mode)
    template = prompt or load_prompt("pick" if how == "labels" else "recommend")

    def stuff(inputs: dict[str, Any]) -> list:
        """Fill the prompt with the retrieved documents, evidence, pool, question and k."""
        pool = inputs["pool"]
        listed = format_labelled(label_pool(pool), pool) if how == "labels" else None
        values = {
            "context": format_context(inputs["context"]),
            "evidence": as_data(inputs.get("evidence", "")).strip() or "(none)",
            "candidates": listed if listed is not None else format_candidates(pool),
            "question": as_data(inputs["question"]).strip(),
            "k": inputs.get("k", k),
            "noun": noun,
        }
        return template.invoke({v: values[v] for v in template.input_variables}).to_messages()

    def answer(chunks: Iterator[dict[str, Any]]) -> Iterator[AddableDict]:
        """Rank or generate, then parse, streaming tokens where the model writes them."""
        inputs: dict[str, Any] = {}
        for chunk in chunks:
            inputs.update(chunk)
        yield AddableDict(context=inputs["context"], pool=inputs["pool"])
        pool = inputs["pool"]
        if llm is None or not pool:
            yield AddableDict(answer="", proposal=Proposal())
            return
        if how == "labels":
            labelled = label_pool(pool)
            probs = label_probabilities(llm, inputs["messages"], list(labelled))
            order = sorted(labelled, key=lambda label: -probs[label])
            items = [Candidate(item_id=labelled[lb], score=probs[lb]) for lb in order]
            yield AddableDict(answer="", proposal=Proposal(items=items, raw=" ".join(order)))
            return
        n = inputs.get("k", k)
        constrained = supports_constrained_output(llm) if structured is None else structured
        if constrained or not inputs.get("stream", stream):
            text = invoke_text(llm, inputs["messages"], pool, n, structured=constrained)
            yield AddableDict(answer=text)
        else:
            pieces = []
            for piece in stream_text(llm, inputs["messages"]):
                pieces.append(piece)
                yield AddableDict(answer=piece)
            text = "".join(pieces)
        yield AddableDict(proposal=parse_proposal(text, pool))

    return RunnablePassthrough.assign(messages=stuff) | RunnableGenerator(answer).with_config(
        run_name="rank_or_generate_and_parse"
    )


def make_chain(
    retriever: BaseRetriever | Runnable,
    llm: BaseChatModel | None,
    *,
    k: int = 2,
    mode: Mode = "auto",
    structured: bool | None = None,
    retrieve_key: str = "question",
    candidates: Callable[[dict[str, Any]], Mapping[Hashable, str]] | None = None,
    evidence: Callable[[dict[str, Any]], str] | None = None,
    stream: bool = False,
    prompt: ChatPromptTemplate | None = None,
) -> Runnable[dict[str, Any], dict[str, Any]]:
    """A runnable taking ``{"question", "pool"?, "k"?, "evidence"?}`` (plus ``retrieve_key``)
    and giving ``{"context", "pool", "answer", "proposal"}``: retrieve -> (candidates) ->
    :func:`make_proposer`.

    The retriever reads ``inputs[retrieve_key]``. Without a ``"pool"`` input, ``candidates``
    builds it from the inputs and the retrieved context, and ``evidence`` (if given) writes
    the evidence section from them once the pool is known. ``.stream`` yields the context first,
    then the answer (token by token with ``stream=True`` where the model writes it unconstrained),
    then the parsed proposal.
    """

    def pool_of(inputs: dict[str, Any]) -> Mapping[Hashable, str]:
        if "pool" in inputs:
            return inputs["pool"]
        if candidates is None:
            raise ValueError("give the chain a 'pool' input, or make it with candidates=")
        return candidates(inputs)

    chain = RunnablePassthrough.assign(context=itemgetter(retrieve_key) | retriever)
    chain |= RunnablePassthrough.assign(pool=RunnableLambda(pool_of, name="candidates"))
    if evidence is not None:
        chain |= RunnablePassthrough.assign(evidence=RunnableLambda(evidence, name="evidence"))
    proposer = make_proposer(
        llm, k=k, mode=mode, structured=structured, stream=stream, prompt=prompt
    )
    return (chain | proposer).with_config(run_name="rag_recs_recommend")
