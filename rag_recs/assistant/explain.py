"""Reasons: the evidence behind an item for a user, computed in code (its links to the user's
own history, the similar users who liked it, its rank among the unseen items), and each final
item's reason sentence, led by the LLM's own words only when they state no figure of their own."""

from __future__ import annotations

import re
from typing import Any

from rag_recs.assistant.answer import AnswerItem
from rag_recs.assistant.evidence import Evidence, Neighbor, numbers_ok
from rag_recs.assistant.links import HistoryLinks, unseen_rank
from rag_recs.assistant.stages import Candidates, Ranked
from rag_recs.assistant.validate import Catalog
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.llm.schema import Proposal
from rag_recs.ranker.ranker import DeepFMRanker


class Explainer:
    """Builds :class:`Evidence` and the answer's items: the similar users who liked an item, its
    links to the user's own history (:class:`HistoryLinks`) and its rank by the ranker."""

    def __init__(
        self,
        dataset: Dataset,
        index: InteractionIndex,
        catalog: Catalog,
        genres: dict[Any, list[str]],
        links: HistoryLinks,
        ranker: DeepFMRanker,
        noun: str = "items",
    ) -> None:
        self.dataset, self.index, self.catalog, self.genres = dataset, index, catalog, genres
        self.links, self.ranker, self.noun = links, ranker, noun

    def by_popularity(self, items: set) -> list:
        """``items`` from the most to the least interacted with (ties by id)."""
        count, row = self.index.popularity, self.index.item_row
        return sorted(items, key=lambda i: (-count[row(i)], str(i)))

    def evidence(
        self,
        user: Any,
        item: Any,
        neighbors: list[Neighbor],
        score: float,
        asked: list[str] | tuple = (),
        ranks: tuple[dict[Any, int], int] | None = None,
    ) -> Evidence:
        """Why ``item`` fits ``user``: the similar users who liked it, its links to the user's
        history (``asked``: the genres asked for, said for a user without history) and its rank
        among the items the user has not seen (``ranks``: :func:`unseen_rank`'s, when known)."""
        supporters = [n for n in neighbors if item in self.index.liked(n.user_id)]
        evidence = Evidence(
            item,
            self.dataset.title(item),
            score,
            len(neighbors),
            supporters,
            self.genres.get(item, []),
            self.links.links(user, item, asked),
            noun=self.noun,
        )
        if item not in self.index.seen(user):
            by_item, evidence.unseen = ranks or unseen_rank(self.ranker, user, [item])
            evidence.rank = by_item[item]
        return evidence

    def items(
        self,
        user: Any,
        ranked: list[Ranked],
        proposal: Proposal,
        found: Candidates,
        asked: list[str] | tuple = (),
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
        ranks = unseen_rank(self.ranker, user, [r.item for r in ranked])  # one scoring pass
        for item, score, blend, source in ranked:
            evidence = self.evidence(user, item, found.neighbors, score, asked, ranks)
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
