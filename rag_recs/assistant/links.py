"""Why an item fits a user, tied to the user's own history: links computed in code.

For a recommended item, each kind of link names an item the user interacted with:
- co-occurrence: of the people who had that history item, how many also had this one, and the
  lift over this item's overall rate (the history item with the strongest lift, among those
  shared by at least ``MIN_BOTH`` people);
- item vectors: the history item closest to it in the store's item vectors (cosine);
- a shared feature (genre, tag, brand): the value most of the user's history shares with it.
Strongest first: co-occurrence backed by ``MIN_BOTH`` people and a lift above 1, then vector
similarity, then a shared feature, then weaker co-occurrence. Where none exists (a user without
history), what is true instead: the asked constraint, or the item's popularity.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.data.sparse import InteractionMatrix

MIN_BOTH = 2
"""People a co-occurrence must rest on to lead a reason (one shared person is a coincidence)."""
VECTOR_POOL = 50
"""Nearest item vectors looked at for a history item."""
Kind = Literal["co-occurrence", "vector", "feature", "constraint", "popularity"]
ORDER: dict[str, int] = {"vector": 1, "feature": 2, "constraint": 4, "popularity": 5}
NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")


@dataclass
class Link:
    """One computed link between a recommended item and the user's history (or, without one,
    a fact about the item); ``text`` is its sentence, every number in it a field here."""

    kind: Kind
    text: str
    history_item: Any = None  # the item of the user's own history it names
    history_name: str = ""
    both: int | None = None  # co-occurrence: people who had both
    anchor_users: int | None = None  # co-occurrence: people who had the history item
    item_users: int | None = None  # people who had the recommended item
    n_users: int | None = None
    lift: float | None = None  # (both / anchor_users) / (item_users / n_users)
    similarity: float | None = None  # vector: cosine
    feature: str | None = None  # feature: the shared value
    share: int | None = None  # feature: history items with it; popularity: rank by popularity
    history_size: int | None = None

    @property
    def strong(self) -> bool:
        return self.kind != "co-occurrence" or (self.both or 0) >= MIN_BOTH and (self.lift or 0) > 1

    @property
    def order(self) -> int:
        if self.kind == "co-occurrence":
            return 0 if self.strong else 3
        return ORDER[self.kind]

    def numbers(self) -> set[str]:
        """The numbers ``text`` states (as written there)."""
        names = " ".join(filter(None, [self.history_name, self.feature]))
        return set(NUMBER_RE.findall(self.text)) - set(NUMBER_RE.findall(names)) | {
            n for n in NUMBER_RE.findall(names)
        }

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None and v != ""}
        for key in ("lift", "similarity"):
            if key in data:
                data[key] = round(data[key], 4)
        return data


def name(dataset: Dataset, item: Any) -> str:
    """How a reason names an item: its title in quotes, or ``#id`` when it has none."""
    title = dataset.title(item)
    return f"#{item}" if title == f"item {item}" else f"'{title}'"


class HistoryLinks:
    """Computes the links of recommended items to a user's history (see the module's doc)."""

    def __init__(
        self,
        dataset: Dataset,
        index: InteractionIndex,
        matrix: InteractionMatrix,
        attributes: dict[str, dict[Any, list[str]]],
        store: Any = None,
    ) -> None:
        self.dataset, self.index, self.matrix = dataset, index, matrix
        self.attributes, self.store = attributes, store

    def links(self, user: Any, item: Any, asked: list[str] | tuple = ()) -> list[Link]:
        """The links of ``item`` to ``user``'s history, strongest first; without any, the asked
        constraint it meets (``asked``: included genres or tags) and its popularity."""
        index = self.index
        history = index.seen_rows(index.user_row(user))
        row = index.item_row(item)
        found = []
        if len(history) and row:
            found = [
                link
                for link in (
                    self.co_occurrence(row, history),
                    self.vector(item, history),
                    self.feature(item, history),
                )
                if link is not None
            ]
        if not found:
            found = [self.constraint(item, asked), self.popularity(row)]
        return sorted((x for x in found if x is not None), key=lambda x: x.order)

    # ---- the kinds ------------------------------------------------------------------------
    def co_occurrence(self, row: int, history: np.ndarray) -> Link | None:
        """The history item whose people most over-represent this item (lift), with counts."""
        m = self.matrix
        both = m.co_counts(row, history)
        if not both.any():
            return None
        anchors = m.item_counts[history]
        n_item, n = int(m.item_counts[row]), m.n_users
        lift = both * n / np.maximum(anchors * n_item, 1)
        floor = MIN_BOTH if (both >= MIN_BOTH).any() else 1
        ok = np.flatnonzero(both >= floor)
        best = ok[np.lexsort((-both[ok], -lift[ok]))[0]]  # highest lift, then most people
        anchor_row = int(history[best])
        anchor = self.index.item_id(anchor_row)
        label = name(self.dataset, anchor)
        b, a, lf = int(both[best]), int(anchors[best]), float(lift[best])
        text = (
            f"{b} of the {a} people who had {label} (as you did) also had this, "
            f"{lf:.1f} times its overall rate"
        )
        return Link(
            "co-occurrence", text, anchor, label, b, a, n_item, n, lf, history_size=len(history)
        )

    def vector(self, item: Any, history: np.ndarray) -> Link | None:
        """The history item nearest to ``item`` among its closest item vectors in the store."""
        if self.store is None:
            return None
        mine = {self.index.item_id(int(r)) for r in history}
        try:
            near = self.store.similar_items(item, VECTOR_POOL)
        except Exception:  # noqa: BLE001 - a store outage leaves the other kinds of link
            return None
        for other, similarity in near:  # nearest first
            if other in mine:
                label = name(self.dataset, other)
                text = f"close to {label} in your history (item-vector similarity {similarity:.2f})"
                return Link("vector", text, other, label, similarity=float(similarity))
        return None

    def feature(self, item: Any, history: np.ndarray) -> Link | None:
        """The item's feature value that most of the user's history shares, and the best-known
        history item with it."""
        ids = [self.index.item_id(int(r)) for r in history]
        best: tuple[int, str, str] | None = None
        for column, values in self.attributes.items():
            for value in values.get(item, []):
                count = sum(value in values.get(i, ()) for i in ids)
                if count and (best is None or count > best[0]):
                    best = (count, column, value)
        if best is None:
            return None
        count, column, value = best
        values, pop, row = self.attributes[column], self.matrix.item_counts, self.index.item_row
        having = [i for i in ids if value in values.get(i, ())]
        anchor = max(having, key=lambda i: (pop[row(i)], str(i)))
        label = name(self.dataset, anchor)
        others = f" and {count - 1} more of the {len(ids)} in your history" if count > 1 else ""
        text = f"shares {value} with {label}{others}"
        return Link(
            "feature", text, anchor, label, feature=value, share=count, history_size=len(ids)
        )

    def constraint(self, item: Any, asked: list[str] | tuple) -> Link | None:
        """The asked genre or tag the item has, said as the reason for a user without history."""
        if not asked:
            return None
        has = [v for values in self.attributes.values() for v in values.get(item, ())]
        met = [a for a in asked if a in has]
        if not met:
            return None
        return Link("constraint", f"{' and '.join(met)}, as asked", feature=" and ".join(met))

    def popularity(self, row: int) -> Link:
        """How many people had the item, and its rank by that count."""
        counts = self.matrix.item_counts
        count = int(counts[row]) if row else 0
        rank = int((counts[1:] > count).sum()) + 1
        n = self.matrix.n_users
        text = f"popular: {count} of the {n} users had it (number {rank} by popularity)"
        return Link("popularity", text, item_users=count, n_users=self.matrix.n_users, share=rank)


def unseen_rank(ranker: Any, user: Any, items: list) -> tuple[dict[Any, int], int]:
    """Each of ``items``' rank among all the items ``user`` has not seen, by the ranker's
    score (1 = its best), and how many unseen items there are: a number a person can read,
    unlike a probability that is low even for a good pick."""
    index = ranker.index
    row = index.user_row(user)
    logits = ranker.score_matrix(np.array([row]))[0]  # [n_items + 1], column 0 is -inf
    unseen = np.ones(len(logits), bool)
    unseen[0] = False
    unseen[index.seen_rows(row)] = False
    pool = logits[unseen]
    ranks = {}
    for item in items:
        r = index.item_row(item)
        ranks[item] = int((pool > logits[r]).sum()) + 1
    return ranks, int(unseen.sum())
