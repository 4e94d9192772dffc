"""The canonical column names of the tables, and ids back in their source type.

The dataset (:mod:`rag_recs.data.schema`) and the index over it (:mod:`rag_recs.data.index`)
both need these, so they live apart from either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

USER, ITEM, RATING, LABEL, TIME = "user_id", "item_id", "rating", "label", "timestamp"
TITLE, GENRES, TEXT = "title", "genres", "text"


def to_python(value: Any) -> Any:
    """numpy scalars -> plain Python, so ids come back out in their source type (JSON too)."""
    return value.item() if isinstance(value, np.generic) else value


def id_spellings(key: Any) -> list[Any]:
    """The ways an id may be written, as given first: "78" is also 78, and 78 is also "78"
    (ids keep their source type, and a question or a command line writes them as text)."""
    key = to_python(key)
    if isinstance(key, str):
        text = key.strip()
        spellings = list(dict.fromkeys([key, text]))
        return spellings + [int(text)] if text.lstrip("-").isdigit() else spellings
    if isinstance(key, int) and not isinstance(key, bool):
        return [key, str(key)]
    return [key]
