"""The LLM's answer as data: a Proposal of Candidates, and a pool-bound schema to constrain it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Literal

from pydantic import BaseModel, Field, create_model


class Candidate(BaseModel):
    """One item the model proposed, with its reason; ``in_pool`` is False for ids it made up."""

    item_id: int | str
    reason: str = ""
    in_pool: bool = True
    score: float | None = None  # the LLM's probability for it, when it ranked a lettered pool


class Proposal(BaseModel):
    """Everything the model proposed, in its order (duplicates and out-of-pool ids kept, so the
    caller can count and reject them), plus the fragments of its output that could not be read."""

    items: list[Candidate] = Field(default_factory=list)
    unparsed: list[str] = Field(default_factory=list)
    raw: str = Field("", description="the model's output text, for display and debugging")

    def pool_ids(self) -> list[int | str]:
        """Ids of the proposed items that are in the pool, first occurrence only, in order."""
        return list(dict.fromkeys(c.item_id for c in self.items if c.in_pool))


def plain_id(item_id: Hashable) -> Hashable:
    """A numpy / pandas scalar id as the plain Python value (5, not np.int64(5))."""
    return item_id.item() if hasattr(item_id, "item") and not isinstance(item_id, str) else item_id


def pool_schema(pool: Mapping[Hashable, str], k: int) -> type[BaseModel]:
    """A Proposal-shaped model whose item ids are a Literal of the pool (as strings), with
    exactly min(k, pool size) items, so constrained decoding can only emit pool ids."""
    ids = tuple(dict.fromkeys(str(plain_id(i)) for i in pool))
    count = max(min(k, len(ids)), 1)
    pick = create_model(
        "Pick",
        __doc__="An item from the candidate pool and why it suits the user.",
        item_id=(Literal[ids], Field(description="id of the item, exactly as in the pool")),
        reason=(str, Field(description="one short sentence, using only the given evidence")),
    )
    return create_model(
        "Proposal",
        __doc__=f"Exactly {count} items picked from the candidate pool.",
        items=(list[pick], Field(min_length=count, max_length=count)),
    )
