"""The assistant's answer: typed, printable, and serialisable in the CLI's JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag_recs.assistant.evidence import Evidence, Neighbor
from rag_recs.assistant.validate import Rejection


@dataclass
class AnswerItem:
    """One recommended item, its ranker score, its reason and the evidence behind it.

    Items are ordered by ``blend``, the documented blend of :mod:`rag_recs.assistant.pipeline`
    (the ranker's probability plus weighted similar-user support, similarity to X and the LLM's
    probability).
    """

    item_id: Any
    title: str
    score: float  # the ranker's probability that the user likes the item
    reason: str
    evidence: Evidence
    source: str  # "llm" (proposed and validated) or "ranker" (filled from the ranker's top-K)
    blend: float = 0.0  # the ordering key (see above)
    reason_by: str = "evidence"  # "llm": the reason leads with the LLM's own words

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "title": self.title,
            "score": round(self.score, 4),
            "blend": round(self.blend, 4),
            "reason": self.reason,
            "source": self.source,
            "reason_by": self.reason_by,
            "evidence": self.evidence.to_dict(),
        }


@dataclass
class Answer:
    """What the assistant returns for one question."""

    question: str
    user: Any = None
    items: list[AnswerItem] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    similar_users: list[Neighbor] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    message: str = ""  # the reply when there is nothing to recommend (or a follow-up's answer)
    kind: str = "recommend"  # "fact": an answer to a question about the data, in ``message``
    facts: dict[str, Any] | None = None  # a fact answer's computed values
    proposed: int = 0  # how many candidates the LLM proposed before validation
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``rag-recs ask --json``."""
        return {
            "question": self.question,
            "kind": self.kind,
            "user": self.user,
            "items": [i.to_dict() for i in self.items],
            "rejected": [r.to_dict() for r in self.rejected],
            "similar_users": [
                {"user_id": n.user_id, "jaccard": round(n.jaccard, 4), "shared": n.shared}
                for n in self.similar_users
            ],
            "notes": self.notes,
            "message": self.message,
            "facts": self.facts,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def __str__(self) -> str:
        lines = [self.message] if self.message else []
        if self.items:
            lines.append(f"For user {self.user}:")
            for n, item in enumerate(self.items, 1):
                ev = item.evidence
                rank = f", ranked {ev.rank} of {ev.unseen} unseen" if ev.rank is not None else ""
                lines.append(f"{n}. {item.title} (item {item.item_id}{rank})")
                lines.append(f"   {item.reason}")
        if self.rejected:
            lines.append("Rejected candidates:")
            lines += [
                f"- {r.item_id if r.item_id is not None else r.text}: {r.reason} ({r.detail})"
                for r in self.rejected
            ]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)
