"""How data goes into a prompt: user text defused, documents numbered, the pool listed."""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence

from langchain_core.documents import Document

from rag_recs.llm.schema import plain_id

_TAGS = re.compile(r"</?\s*(documents|evidence|candidates|question|item)\s*>", re.IGNORECASE)


def as_data(text: object) -> str:
    """User-provided text with the prompt's section tags removed, so it cannot close a section."""
    return _TAGS.sub("", str(text))


def format_context(docs: Sequence[Document | str]) -> str:
    """Retrieved documents as numbered blocks for the prompt ("stuffing")."""
    texts = [d.page_content if isinstance(d, Document) else str(d) for d in docs]
    return "\n\n".join(f"[{i}] {as_data(t).strip()}" for i, t in enumerate(texts, 1)) or "(none)"


def format_candidates(pool: Mapping[Hashable, str]) -> str:
    """The candidate pool as ``- id: title`` lines, ids written the way the model must echo them."""
    return "\n".join(f"- {plain_id(i)}: {as_data(t)}" for i, t in pool.items()) or "(none)"
