"""The retrieval chain as LCEL runnables: retrieve -> stuff into the prompt -> LLM -> parse."""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableGenerator, RunnablePassthrough
from langchain_core.runnables.utils import AddableDict

from rag_recs.llm.calls import invoke_text, stream_text, supports_constrained_output
from rag_recs.llm.parsing import parse_proposal
from rag_recs.llm.prompts import load_prompt
from rag_recs.llm.propose import recommend_inputs
from rag_recs.llm.schema import Proposal


def make_chain(
    retriever: BaseRetriever,
    llm: BaseChatModel | None,
    *,
    k: int = 2,
    structured: bool | None = None,
    prompt: ChatPromptTemplate | None = None,
) -> Runnable[dict[str, Any], dict[str, Any]]:
    """A runnable taking ``{"question", "pool", "k"?, "evidence"?}`` and giving ``{"answer",
    "proposal", "context"}``; ``.stream`` yields the context first, then the answer's tokens
    (in one piece when the output is schema-constrained), then the parsed proposal."""
    template = prompt or load_prompt("recommend")

    def stuff(inputs: dict[str, Any]) -> list:
        """Fill the prompt with the retrieved documents, evidence, pool, question and k."""
        values = recommend_inputs(
            inputs["question"],
            inputs["context"],
            inputs["pool"],
            inputs.get("k", k),
            inputs.get("evidence", ""),
        )
        return template.invoke(values).to_messages()

    def answer(chunks: Iterator[dict[str, Any]]) -> Iterator[AddableDict]:
        """Generate and parse, streaming tokens where the backend and mode allow it."""
        inputs: dict[str, Any] = {}
        for chunk in chunks:
            inputs.update(chunk)
        yield AddableDict(context=inputs["context"])
        pool = inputs["pool"]
        if llm is None or not pool:
            yield AddableDict(answer="", proposal=Proposal())
            return
        n = inputs.get("k", k)
        constrained = supports_constrained_output(llm) if structured is None else structured
        if constrained:
            text = invoke_text(llm, inputs["messages"], pool, n, structured=True)
            yield AddableDict(answer=text)
        else:
            pieces = []
            for piece in stream_text(llm, inputs["messages"]):
                pieces.append(piece)
                yield AddableDict(answer=piece)
            text = "".join(pieces)
        yield AddableDict(proposal=parse_proposal(text, pool))

    retrieve = RunnablePassthrough.assign(context=itemgetter("question") | retriever)
    return (
        retrieve
        | RunnablePassthrough.assign(messages=stuff)
        | RunnableGenerator(answer).with_config(run_name="generate_and_parse")
    ).with_config(run_name="rag_recs_recommend")
