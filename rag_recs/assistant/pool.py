"""The candidate pool the LLM picks from, and the similar users' support behind it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rag_recs.assistant.evidence import Neighbor
from rag_recs.data.index import InteractionIndex


def support(index: InteractionIndex, neighbors: list[Neighbor], eligible: list) -> dict:
    """Eligible item -> the share of ``neighbors`` who liked it (items none liked are left out)."""
    if not neighbors:
        return {}
    allowed = set(eligible)
    counts: dict[Any, int] = {}
    for n in neighbors:
        for item in index.liked(n.user_id) & allowed:
            counts[item] = counts.get(item, 0) + 1
    return {i: c / len(neighbors) for i, c in counts.items()}


def pool(
    ranker_top: list[tuple[Any, float]],
    support: dict[Any, float],
    near: dict[Any, float],
    *,
    size: int,
    sources: Sequence[str],
    title: Callable[[Any], str],
) -> dict[Any, str]:
    """Item -> title, from ``sources``: items near a "like X" first, then similar users' and the
    ranker's favourites (half the pool at most for each of the first two when the ranker's list
    follows)."""
    share = size // 2 if "ranker" in sources else size
    closest = sorted(near, key=lambda i: (-near[i], str(i)))[:share]
    closest = closest if "like" in sources else []
    by_support = sorted(support, key=lambda i: (-support[i], str(i)))[:share]
    ranked = [i for i, _ in ranker_top] if "ranker" in sources else []
    chosen = closest + (by_support if "support" in sources else []) + ranked
    return {i: title(i) for i in list(dict.fromkeys(chosen))[:size]}


def support_text(pool: dict[Any, str], support: dict[Any, float], n: int, labels: bool) -> str:
    """The computed support for the pool's items, as the prompt's evidence section: by letter
    where the LLM ranks a lettered pool (``labels``: short prompts answer faster), else by id."""
    counts = {i: round(support.get(i, 0.0) * n) for i in pool}
    if labels:
        from rag_recs.llm.labels import label_pool

        named = [f"{lb} {counts[i]}" for lb, i in label_pool(pool).items() if counts[i]]
        return f"Liked by the {n} most similar users: {', '.join(named)}" if named else ""
    return "\n".join(f"item {i}: liked by {c} of {n} similar users" for i, c in counts.items() if c)
