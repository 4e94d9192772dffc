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
