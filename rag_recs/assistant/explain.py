"""Reasons: the evidence behind an item for a user, computed in code, and each final item's
reason sentence, led by the LLM's own words only when they state no figure of their own."""

from __future__ import annotations

import re
from typing import Any

from rag_recs.assistant.answer import AnswerItem
from rag_recs.assistant.evidence import Evidence, Neighbor, numbers_ok
from rag_recs.assistant.stages import Candidates, Ranked
from rag_recs.assistant.validate import Catalog
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.llm.schema import Proposal


class Explainer:
    """Builds :class:`Evidence` and the answer's items from the data, the index and the genres."""

    def __init__(
        self,
        dataset: Dataset,
        index: InteractionIndex,
        catalog: Catalog,
        genres: dict[Any, list[str]],
    ) -> None:
        self.dataset, self.index, self.catalog, self.genres = dataset, index, catalog, genres

    def by_popularity(self, items: set) -> list:
        """``items`` from the most to the least interacted with (ties by id)."""
        count, row = self.index.popularity, self.index.item_row
        return sorted(items, key=lambda i: (-count[row(i)], str(i)))

    def evidence(self, user: Any, item: Any, neighbors: list[Neighbor], score: float) -> Evidence:
        """Why ``item`` fits ``user``: the similar users who liked it, and the liked items of the
        same main genre or topic."""
        supporters = [n for n in neighbors if item in self.index.liked(n.user_id)]
        genres = self.genres.get(item, [])
        primary = genres[:1]  # the item's main genre / topic: the strongest match to explain
        liked = self.by_popularity(self.index.liked(user))  # best-known liked items first
        same = [i for i in liked if set(self.genres.get(i, [])) & set(primary)]
        shared = [g for g in genres if any(g in self.genres.get(i, []) for i in same[:2])]
        return Evidence(
            item,
            self.dataset.title(item),
            score,
            len(neighbors),
            supporters,
            genres,
            [self.dataset.title(i) for i in same],
            shared,
        )

    def items(
        self, user: Any, ranked: list[Ranked], proposal: Proposal, found: Candidates
    ) -> list[AnswerItem]:
        """The ranked items, each with its computed evidence and a reason: the template sentence,
        led by the LLM's own words when they state no figure of their own and are a sentence
        rather than a fragment."""
        reasons: dict[Any, str] = {}
        for c in proposal.items:
            item = self.catalog.resolve(c.item_id)
            if item is not None and c.reason:
                reasons.setdefault(item, c.reason)
        out = []
        for item, score, blend, source in ranked:
            evidence = self.evidence(user, item, found.neighbors, score)
            if found.near.get(item, 0.0) > 0:
                evidence.similar_to, evidence.similarity = found.like_to, found.near[item]
            own = reasons.get(item, "").strip()
            reason, by = evidence.sentence(), "evidence"
            if own and numbers_ok(own, evidence) and not fragment(own, found.pool):
                reason, by = f"{own} ({reason})", "llm"
            title = self.dataset.title(item)
            out.append(AnswerItem(item, title, score, reason, evidence, source, blend, by))
        return out


def fragment(text: str, pool: dict[Any, str]) -> bool:
    """True when ``text`` is no sentence of its own: under four words once the pool's titles are
    taken out (so "The (1997)", a title's pieces, is no reason)."""
    rest = text
    for title in sorted(pool.values(), key=len, reverse=True):
        rest = rest.replace(title, " ")
    return len(re.findall(r"[^\W\d_]{2,}", rest)) < 4
