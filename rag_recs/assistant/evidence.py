"""Evidence computed in code: similar users with their exact overlap, and per-item support.

Every number an explanation shows comes from here; the LLM only words it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any


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
    ranker_score: float
    n_neighbors: int = 0
    supporters: list[Neighbor] = field(default_factory=list)  # similar users who liked it
    genres: list[str] = field(default_factory=list)
    same_genre_liked: list[str] = field(default_factory=list)  # titles the user liked
    shared_genres: list[str] = field(default_factory=list)  # genres those titles share with it
    similar_to: str = ""  # what the question asked for something like ("like X")
    similarity: float | None = None  # this item's similarity to it

    def sentence(self) -> str:
        """The template explanation: every number in it is a field of this object."""
        parts = []
        if self.similar_to and self.similarity is not None:
            parts.append(f"close to '{self.similar_to}' (similarity {self.similarity:.2f})")
        if self.supporters:
            js = " / ".join(f"{n.jaccard:.2f}" for n in self.supporters[:5])
            parts.append(
                f"liked by {len(self.supporters)} of the {self.n_neighbors} users most similar "
                f"to you (Jaccard {js})"
            )
        parts.append(f"ranker score {self.ranker_score:.2f}")
        if self.same_genre_liked:
            shown = " and ".join(f"'{t}'" for t in self.same_genre_liked[:2])
            genre = ", ".join(self.shared_genres[:2])
            parts.append(f"same {genre_word(self.genres)} ({genre}) as {shown} you liked")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    def numbers(self) -> set[str]:
        """The numbers an explanation may mention, as they are written in ``sentence``."""
        found = set(NUMBER_RE.findall(self.sentence()))
        found |= {str(len(self.supporters)), str(self.n_neighbors)}
        found |= set(NUMBER_RE.findall(" ".join([self.title, *self.same_genre_liked])))
        return found

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ranker_score"] = round(self.ranker_score, 4)
        if self.similarity is not None:
            data["similarity"] = round(self.similarity, 4)
        for n in data["supporters"]:
            n["jaccard"] = round(n["jaccard"], 4)
        return data


NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def genre_word(genres: list[str]) -> str:
    return "topic" if genres and genres[0].islower() else "genre"


def numbers_ok(text: str, evidence: Evidence) -> bool:
    """True when ``text`` states no figure: numbers may only come from item titles.

    Figures (counts, Jaccard values, scores) are left to the template sentence, so an LLM
    reason can never attach a true number to the wrong claim.
    """
    allowed = set(NUMBER_RE.findall(" ".join([evidence.title, *evidence.same_genre_liked])))
    return all(n in allowed for n in NUMBER_RE.findall(text))
