"""The retrieval chain: retrieve -> stuff -> LLM -> parse, with fixed documents and fake models."""

from __future__ import annotations

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever

from rag_recs.llm import Proposal, make_chain

POOL = {7: "Rockets explained", 8: "Bread basics", 9: "Blue notes"}
DOCS = [
    Document(page_content="User 78 history: Mars rovers; Deep space probes."),
    Document(page_content="Similar user 12 history: Mars rovers; Rockets explained."),
]


class FixedRetriever(BaseRetriever):
    """Returns the same documents for every query and remembers the queries."""

    docs: list[Document]
    queries: list[str] = []

    def _get_relevant_documents(self, query, *, run_manager):
        self.queries.append(query)
        return self.docs


class Recorder(BaseCallbackHandler):
    """Keeps the text of every prompt a chat model received."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.prompts += ["\n".join(m.text for m in batch) for batch in messages]


class ToolCallingFake(GenericFakeChatModel):
    """A fake model that accepts a schema (as constrained backends do) and answers a tool call."""

    def bind_tools(self, tools, **kwargs):
        return self


ANSWER = '{"items": [{"item_id": "7", "reason": "user 12 read it"}]} and item 99999 too'
QUESTION = {"question": "Suggest 1 article to user 78", "pool": POOL, "k": 1, "evidence": "E1"}


def test_chain_stuffs_retrieved_docs_into_the_prompt_and_parses():
    recorder = Recorder()
    retriever = FixedRetriever(docs=DOCS, queries=[])
    llm = GenericFakeChatModel(messages=iter([AIMessage(ANSWER)]), callbacks=[recorder])
    out = make_chain(retriever, llm).invoke(QUESTION)
    assert retriever.queries == [QUESTION["question"]]
    (prompt,) = recorder.prompts
    assert all(d.page_content in prompt for d in DOCS)
    assert "E1" in prompt and "- 9: Blue notes" in prompt
    assert out["answer"] == ANSWER
    assert out["context"] == DOCS
    assert out["proposal"].pool_ids() == [7]
    assert out["proposal"].unparsed == ["and item 99999 too"]


def test_chain_streams_tokens_then_the_proposal():
    llm = GenericFakeChatModel(messages=iter([AIMessage(ANSWER)]))
    chain = make_chain(FixedRetriever(docs=DOCS, queries=[]), llm, stream=True)
    chunks = list(chain.stream(QUESTION))
    tokens = [c["answer"] for c in chunks if "answer" in c]
    assert len(tokens) > 3 and "".join(tokens) == ANSWER
    assert "context" in chunks[0]
    assert isinstance(chunks[-1]["proposal"], Proposal)


def test_chain_uses_the_schema_where_the_backend_has_one():
    call = {"name": "Proposal", "args": {"items": [{"item_id": "9", "reason": "jazz"}]}, "id": "1"}
    llm = ToolCallingFake(messages=iter([AIMessage("", tool_calls=[call])]))
    out = make_chain(FixedRetriever(docs=DOCS, queries=[]), llm, structured=True).invoke(QUESTION)
    assert out["proposal"].items[0].item_id == 9  # the int id, back from the Literal's "9"
    assert out["proposal"].items[0].reason == "jazz"


def test_chain_without_llm_still_retrieves():
    out = make_chain(FixedRetriever(docs=DOCS, queries=[]), None).invoke(QUESTION)
    assert out["context"] == DOCS and out["proposal"] == Proposal() and out["answer"] == ""


def test_chain_builds_its_pool_and_evidence_from_the_retrieved_context():
    recorder = Recorder()
    llm = GenericFakeChatModel(messages=iter([AIMessage(ANSWER)]), callbacks=[recorder])
    seen_context = []

    def candidates(inputs):
        seen_context.append(inputs["context"])
        return {i: t for i, t in POOL.items() if i != 8}

    chain = make_chain(
        FixedRetriever(docs=DOCS, queries=[]),
        llm,
        retrieve_key="user",
        candidates=candidates,
        evidence=lambda inputs: f"{len(inputs['pool'])} candidates",
    )
    out = chain.invoke({"question": "q", "user": 78, "k": 1})
    assert seen_context == [DOCS] and list(out["pool"]) == [7, 9]
    (prompt,) = recorder.prompts
    assert "2 candidates" in prompt and "Bread basics" not in prompt
    assert out["proposal"].pool_ids() == [7]
