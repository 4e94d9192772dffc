"""What flows between the pipeline's stages: the request, its context, its candidates and the
ranked items; plain values, so each stage can be called and checked on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rag_recs.assistant.answer import Answer
from rag_recs.assistant.evidence import Neighbor


@dataclass
class Request:
    """One recommendation being answered: who, how many, what is allowed, and the answer so far
    (stages add notes, rejections and their timings to it)."""

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
    candidates: Candidates | None = None  # what the proposal was made from (set by propose)


@dataclass
class Context:
    """What the LLM reads about a user: the items they liked, their most similar users with the
    exact overlap, and what the closest of those liked that the user has not seen."""

    user: Any
    liked: list  # the user's liked items, the best known first
    neighbors: list[Neighbor]  # the most similar users, by exact Jaccard
    also_liked: dict[Any, list] = field(default_factory=dict)  # neighbour -> unseen liked items

    def texts(self, title: Callable[[Any], str]) -> list[str]:
        """The context as the passages the prompt quotes."""
        titles = "; ".join(title(i) for i in self.liked) or "nothing yet"
        texts = [f"User {self.user} liked: {titles}"]
        if self.neighbors:
            texts.append(f"Most similar users: {', '.join(str(n.user_id) for n in self.neighbors)}")
        for other, items in self.also_liked.items():
            texts.append(f"User {other} also liked: {'; '.join(title(i) for i in items)}")
        return texts


@dataclass
class Candidates:
    """The items considered for a request, and the evidence that chose them."""

    pool: dict[Any, str]  # item -> title: what the LLM picks from
    ranker_top: list[tuple[Any, float]]  # the ranker's best eligible items, with probabilities
    support: dict[Any, float] = field(default_factory=dict)  # share of similar users who liked it
    near: dict[Any, float] = field(default_factory=dict)  # similarity to "like X"
    like_to: str = ""  # what X was read as
    neighbors: list[Neighbor] = field(default_factory=list)  # the similar users behind support


class Ranked(NamedTuple):
    """One item of the final order."""

    item: Any
    score: float  # the ranker's probability
    blend: float  # the ordering key
    source: str  # "llm" (a validated proposal) or "ranker"
