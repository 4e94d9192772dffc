"""What flows between the assistant's stages: the request and its candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document

from rag_recs.assistant.answer import Answer
from rag_recs.assistant.evidence import Neighbor


@dataclass
class Request:
    """One recommendation being answered: who, how many, what is allowed, and the answer so far
    (stages add notes and rejections to it)."""

    user: Any
    k: int
    question: str
    answer: Answer
    seen: set
    allowed: Callable[[Any], str | None]  # None when an item meets the constraints, else why not
    eligible: list  # unseen items that meet the constraints, in catalog order
    like: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)  # genres / tags asked for
    taste: str | None = None  # free text the items should be close to ("light-hearted")
    candidates: Candidates | None = None  # set by the candidates stage


@dataclass
class Candidates:
    """The items considered for a request, and the evidence that chose them."""

    pool: dict[Any, str]  # item -> title: what the LLM picks from
    ranker_top: list[tuple[Any, float]]  # the ranker's best eligible items, with probabilities
    support: dict[Any, float] = field(default_factory=dict)  # share of similar users who liked it
    near: dict[Any, float] = field(default_factory=dict)  # similarity to "like X"
    like_to: str = ""  # what X was read as


def neighbors_in(docs: list[Document]) -> list[Neighbor]:
    """The similar users the context stage found, read back from its documents' metadata."""
    found = (d.metadata["neighbors"] for d in docs if d.metadata.get("kind") == "neighbors")
    return list(next(found, []))
