"""Evidence computed in code: similar users with their exact overlap, per-item support, the
item's links to the user's own history and its rank among the user's unseen items.

Every number an explanation shows comes from here; the LLM only words it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from rag_recs.assistant.links import Link


@dataclass
class Neighbor:
    """A similar user and their exact overlap with the asking user."""

    user_id: Any
    jaccard: float
    shared: int


@dataclass
class Evidence:
    """Why an item fits a user, as computed facts."""

    item_id: Any
    title: str
    ranker_score: float  # the ranker's probability (in JSON; a sentence shows ``rank``)
    n_neighbors: int = 0
    supporters: list[Neighbor] = field(default_factory=list)  # similar users who liked it
    genres: list[str] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # ties to the user's history, strongest first
    rank: int | None = None  # the ranker's rank of the item among the user's unseen items
    unseen: int | None = None  # how many items the user has not seen
    noun: str = "items"  # the data's word for items
    similar_to: str = ""  # what the question asked for something like ("like X")
    similarity: float | None = None  # this item's similarity to it

    def sentence(self) -> str:
        """The template explanation: every number in it is a field of this object."""
        parts = []
        if self.similar_to and self.similarity is not None:
            parts.append(f"close to '{self.similar_to}' (similarity {self.similarity:.2f})")
        parts += [link.text for link in self.links[:2]]
        if self.supporters:
            js = " / ".join(f"{n.jaccard:.2f}" for n in self.supporters[:5])
            parts.append(
                f"liked by {len(self.supporters)} of the {self.n_neighbors} users most similar "
                f"to you (Jaccard {js})"
            )
        if self.rank is not None:
            parts.append(
                f"the ranker puts it {ordinal(self.rank)} of the {self.unseen} {self.noun} "
                "you have not seen"
            )
        text = "; ".join(parts) or f"ranked by the ranker for you ({self.title})"
        return text[0].upper() + text[1:] + "."

    def names(self) -> list[str]:
        """The item titles (or ``#id``) the sentence may quote: this item's and its links'."""
        return [self.title, *(link.history_name for link in self.links if link.history_name)]

    def numbers(self) -> set[str]:
        """The numbers an explanation may mention, as they are written in ``sentence``."""
        found = set(NUMBER_RE.findall(self.sentence()))
        found |= {str(len(self.supporters)), str(self.n_neighbors)}
        found |= set(NUMBER_RE.findall(" ".join(self.names())))
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ranker_score"] = round(self.ranker_score, 4)
        if self.similarity is not None:
            data["similarity"] = round(self.similarity, 4)
        for n in data["supporters"]:
            n["jaccard"] = round(n["jaccard"], 4)
        data["links"] = [link.to_dict() for link in self.links]
        return data


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def numbers_ok(text: str, evidence: Evidence) -> bool:
    """True when ``text`` states no figure: numbers may only come from item titles.

    Figures (counts, Jaccard values, scores) are left to the template sentence, so an LLM
    reason can never attach a true number to the wrong claim.
    """
    allowed = set(NUMBER_RE.findall(" ".join(evidence.names())))
    return all(n in allowed for n in NUMBER_RE.findall(text))
