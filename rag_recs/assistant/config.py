"""How the assistant reads, gathers evidence and blends it with the ranker: one settings object
for the pipeline and the conversations around it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from rag_recs.assistant.intent import MAX_K
from rag_recs.config import LLMMode


class AssistantConfig(BaseModel):
    """How the assistant gathers evidence and blends it with the ranker."""

    n_neighbors: int = Field(10, ge=1, description="similar users shown and used as evidence")
    search_neighbors: int = Field(30, ge=1, description="users fetched by vector search first")
    pool_size: int = Field(20, ge=1, description="candidates offered to the LLM")
    support_weight: float = Field(0.1, ge=0.0, description="weight of similar-user support")
    like_threshold: float = Field(4.0, description="a rating at or above this counts as liked")
    default_k: int = Field(5, ge=1, le=MAX_K, description="items when the question says no number")
    like_weight: float = Field(
        1.0, ge=0.0, description="weight of the similarity to X when asked for something like X"
    )
    like_pool: int = Field(50, ge=1, description="items near X fetched by vector search")
    item_noun: str | None = Field(
        None,
        description="the data's word for items in answers and prompts (default: movies for "
        "MovieLens, else items)",
    )
    history_size: int = Field(100, ge=1, description="answers kept for follow-ups (the latest)")
    context_items: int = Field(8, ge=1, description="liked titles per document the LLM reads")
    context_neighbors: int = Field(2, ge=0, description="similar users whose likes it reads")
    pool_sources: tuple[Literal["like", "support", "ranker"], ...] = Field(
        ("like", "support", "ranker"), description="where the pool's candidates come from"
    )
    llm_mode: LLMMode = Field(
        "auto", description="labels: rank a lettered pool by next-token probability; generate"
    )
    llm_weight: float = Field(0.0, ge=0.0, description="weight of the LLM's probability")
    proposer: Literal["llm", "random"] = Field("llm", description="random: a baseline")
    order: Literal["blend", "proposal"] = Field(
        "blend", description="proposal: the validated proposals first, in the LLM's order"
    )
    seed: int = 0
