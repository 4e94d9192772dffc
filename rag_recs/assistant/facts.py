"""Questions about the data answered from computed facts, never from a model: a user's history
and favourite features, the most similar users (exact Jaccard over every user), whether a
user had an item, how many people liked one, what a user liked last, and what an item is.

Each answer is a :class:`Fact`: the computed values (what ``ask --json`` shows under
``facts``) and a template sentence stating only them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag_recs.assistant.finder import ItemFinder
from rag_recs.assistant.links import name
from rag_recs.assistant.questions import FactKind, FactQuestion
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.data.sparse import InteractionMatrix

SHOWN = 10  # items listed in a history
TOP = 5  # favourite values and similar users listed


@dataclass
class Fact:
    """A computed answer: ``values`` hold every figure and title that ``text`` states."""

    kind: FactKind
    text: str
    values: dict[str, Any] = field(default_factory=dict)
    user: Any = None
    item: Any = None  # the item it is about (what "it" refers to next)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "user": self.user, "item": self.item, **self.values}


class Facts:
    """Answers data questions over the interaction index, its sparse matrix and item features.

    ``noun`` is the plural word for items in the answers ("movies", "games", "items").
    """

    def __init__(
        self,
        dataset: Dataset,
        index: InteractionIndex,
        matrix: InteractionMatrix,
        attributes: dict[str, dict[Any, list[str]]],
        finder: ItemFinder,
        noun: str = "items",
    ) -> None:
        self.dataset, self.index, self.matrix = dataset, index, matrix
        self.attributes, self.finder, self.noun = attributes, finder, noun
        self.rated = "rating" in dataset.interactions.columns  # likes differ from interactions

    # ---- items named in a question ----------------------------------------------------------
    def find_item(self, text: str) -> Any | None:
        """The catalog item ``text`` names: by id ("item 50", "#50", "50"), else by title."""
        raw = text.strip().strip("\"'“”‘’?!.,")
        bare = raw.lower().removeprefix("item").removeprefix("#").strip().lstrip("#").strip()
        if bare and (found := self.index.resolve_item(bare)) is not None:
            return found
        return self.finder.title_match(raw, strict=True)

    def answer(self, question: FactQuestion, user: Any = None, item: Any = None) -> Fact | str:
        """The fact ``question`` asks for. ``user`` is whom it is about (the named user, else
        the conversation's for a pronoun), ``item`` the conversation's last item (for "it").
        A question that cannot be answered gets the sentence saying why instead."""
        if question.kind in ("liked_count", "item", "seen"):
            if question.item_pronoun:
                if item is None:
                    return "I could not tell which item 'it' is; name it by title or id."
            else:
                item = self.find_item(question.item_text or "")
                if item is None:
                    return f"There is no item called '{question.item_text}' here."
            if question.kind == "liked_count":
                return self.liked_count(item)
            if question.kind == "item":
                return self.describe(item)
        if user is None:
            return (
                "I could not tell which user that is about; name them by id, for example "
                "'what has user 12 had?'."
            )
        user = self.index.resolve_user(user)
        if question.kind == "seen":
            return self.has_seen(user, item)
        return {
            "history": self.history,
            "favourites": self.favourites,
            "similar_users": self.similar_users,
            "recent": self.recent,
        }[question.kind](user)

    def names(self, text: str) -> bool:
        """Whether ``text`` names an item of the catalog."""
        return self.find_item(text) is not None

    # ---- the facts --------------------------------------------------------------------------
    def history(self, user: Any) -> Fact:
        """How many items the user had and liked, and the latest ones."""
        rows = self.index.seen_rows(self.index.user_row(user))
        liked = self.index.liked_rows(self.index.user_row(user))
        latest = [self.index.item_id(int(r)) for r in rows[::-1][:SHOWN]]
        titles = [self.dataset.title(i) for i in latest]
        if not len(rows):
            return Fact("history", f"User {user} has no {self.noun} in their history yet.", {
                "count": 0, "liked": 0, "latest": []}, user)  # fmt: skip
        liked_part = f", {len(liked)} of them liked" if self.rated else ""
        shown = ", ".join(name(self.dataset, i) for i in latest)
        text = (
            f"User {user} has {len(rows)} {self.noun} in their history{liked_part}. "
            f"The latest {len(latest)}: {shown}."
        )
        values = {"count": len(rows), "latest": [{"item_id": i, "title": t}
                  for i, t in zip(latest, titles, strict=True)]}  # fmt: skip
        if self.rated:
            values["liked"] = len(liked)
        return Fact("history", text, values, user)

    def favourites(self, user: Any) -> Fact:
        """The most frequent feature values (genres, tags, a category) over all the user had."""
        ids = [self.index.item_id(int(r)) for r in self.index.seen_rows(self.index.user_row(user))]
        if not self.attributes:
            return Fact("favourites", f"The {self.noun} here have no genres, tags or categories.",
                        {"count": len(ids), "favourites": {}}, user)  # fmt: skip
        tops: dict[str, list[dict[str, Any]]] = {}
        parts = []
        for column, values in self.attributes.items():
            counts = Counter(v for i in ids for v in values.get(i, ()))
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
            tops[column] = [{"value": v, "count": c} for v, c in ranked]
            if ranked:
                listed = ", ".join(f"{v} ({c})" for v, c in ranked)
                parts.append(f"{column}: {listed}")
        if not parts:
            text = f"User {user} has no {self.noun} with genres, tags or categories yet."
        else:
            text = (
                f"User {user}'s most frequent, over the {len(ids)} {self.noun} in their history: "
                + "; ".join(parts)
                + "."
            )
        return Fact("favourites", text, {"count": len(ids), "favourites": tops}, user)

    def similar_users(self, user: Any) -> Fact:
        """The users whose histories overlap the user's most: exact Jaccard over all users."""
        row = self.index.user_row(user)
        rows, shared, jac = self.matrix.jaccard(row)
        ids = [str(self.index.user_id(int(r))) for r in rows]
        order = sorted(range(len(rows)), key=lambda o: (-jac[o], ids[o]))[:TOP]  # ties by id
        found = [
            {
                "user_id": self.index.user_id(int(rows[o])),
                "jaccard": round(float(jac[o]), 4),
                "shared": int(shared[o]),
            }
            for o in order
        ]
        if not found:
            text = f"No user shares any of user {user}'s {self.noun}."
        else:
            listed = "; ".join(
                f"user {f['user_id']} (Jaccard {f['jaccard']:.2f}, {f['shared']} {self.noun} "
                "in common)"
                for f in found
            )
            text = (
                f"Most like user {user}, by the overlap of their histories with all "
                f"{self.index.n_users} users: {listed}."
            )
        return Fact("similar_users", text, {"users": found}, user)

    def has_seen(self, user: Any, item: Any) -> Fact:
        """Whether ``user`` interacted with ``item``, and whether they liked it."""
        urow, irow = self.index.user_row(user), self.index.item_row(item)
        rows = self.index.seen_rows(urow)
        hit = np.flatnonzero(rows == irow)
        label = name(self.dataset, item)
        values: dict[str, Any] = {"seen": bool(len(hit)), "title": self.dataset.title(item)}
        if not len(hit):
            return Fact("seen", f"No: user {user} has not had {label}.", values, user, item)
        lo = self.index.indptr[urow]
        liked = bool(self.index.liked_mask[lo + hit[0]])
        how = (" and liked it" if liked else " but did not like it") if self.rated else ""
        if self.rated:
            values["liked"] = liked
        return Fact("seen", f"Yes: user {user} had {label}{how}.", values, user, item)

    def liked_count(self, item: Any) -> Fact:
        """How many users liked ``item`` (and how many had it at all)."""
        row = self.index.item_row(item)
        had = int(self.matrix.item_counts[row])
        users, items = self.index.seen_pairs()
        liked = int(np.count_nonzero(self.index.liked_mask[items == row]))
        label = name(self.dataset, item)
        values = {"liked": liked, "had": had, "title": self.dataset.title(item)}
        if self.rated:
            text = f"{liked} of the {had} users who had {label} liked it."
        else:
            text = f"{had} users had {label}."
        return Fact("liked_count", text, values, item=item)

    def recent(self, user: Any) -> Fact:
        """The item the user liked last (by time where the data has it)."""
        rows = self.index.liked_rows(self.index.user_row(user))
        order = "by time" if self.dataset.has_time else "in the data's order"
        if not len(rows):
            return Fact("recent", f"User {user} has not liked anything yet.", {}, user)
        item = self.index.item_id(int(rows[-1]))
        verb = "liked" if self.rated else "had"
        label = name(self.dataset, item)
        text = f"The last of user {user}'s {self.noun} they {verb} ({order}): {label}."
        values = {"item_id": item, "title": self.dataset.title(item)}
        return Fact("recent", text, values, user, item)

    def describe(self, item: Any) -> Fact:
        """What an item is: its title, its features, how many people had it."""
        row = self.index.item_row(item)
        features = {c: v[item] for c, v in self.attributes.items() if v.get(item)}
        had = int(self.matrix.item_counts[row])
        label = name(self.dataset, item)
        shown = "; ".join(f"{c}: {', '.join(v)}" for c, v in features.items())
        text = f"{label} (item {item})" + (f": {shown}" if shown else "") + f"; {had} users had it."
        values = {"title": self.dataset.title(item), "features": features, "had": had}
        return Fact("item", text, values, item=item)
