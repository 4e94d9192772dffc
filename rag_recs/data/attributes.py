"""Item features a person can read: genres or tags, and the items table's other categorical
columns (a brand, a category), as (column, value) pairs per item."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rag_recs.data.schema import GENRES, ITEM, TEXT, TITLE, Dataset, to_python

MAX_SHARE = 0.5
"""A column whose distinct values exceed this share of the items names items, not kinds."""


def item_attributes(dataset: Dataset) -> dict[str, dict[Any, list[str]]]:
    """column -> item -> its values there: ``genres`` (a list per item) and every other column
    of the items table holding few distinct text values; empty without an items table."""
    items = dataset.items
    if items is None:
        return {}
    out: dict[str, dict[Any, list[str]]] = {}
    ids = [to_python(i) for i in items[ITEM]]
    for column in items.columns:
        if column in (ITEM, TITLE, TEXT):
            continue
        values = items[column]
        if column == GENRES:
            out[column] = {i: [str(g) for g in gs] for i, gs in zip(ids, values, strict=True)}
        elif _categorical(values):
            out[column] = {i: [str(v)] for i, v in zip(ids, values, strict=True) if not _missing(v)}
    return {c: m for c, m in out.items() if any(m.values())}


def _categorical(values: pd.Series) -> bool:
    if not (
        pd.api.types.is_object_dtype(values)
        or pd.api.types.is_string_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
    ):
        return False
    plain = values.dropna()
    if plain.empty or not plain.map(lambda v: isinstance(v, str)).all():
        return False
    return plain.nunique() <= max(1, MAX_SHARE * len(plain))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""
