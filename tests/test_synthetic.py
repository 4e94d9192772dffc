"""The catalog-shaped generator: power-law popularity, sparse users, sessions, seeded."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rag_recs.data.schema import GENRES, ITEM, TEXT, TIME, TITLE, USER
from rag_recs.data.synthetic import generate_catalog


def test_catalog_shape_is_long_tailed_and_sparse() -> None:
    data = generate_catalog(5_000, 10_000, 50_000, seed=3)
    inter = data.interactions
    assert list(inter.columns) == [USER, ITEM, TIME]
    assert 0.97 * 50_000 <= len(inter) <= 1.03 * 50_000
    assert not inter.duplicated([USER, ITEM]).any()
    per_user = inter.groupby(USER).size()
    assert per_user.min() >= 2
    assert (per_user < 10).mean() > 0.5  # most users are sparse
    assert per_user.max() > 50  # and a few are heavy
    counts = np.sort(inter[ITEM].value_counts().to_numpy())[::-1]
    assert counts[: len(counts) // 100].sum() > 0.15 * len(inter)  # the head: top 1% of items
    assert 10_000 - (counts > 3).sum() > 0.5 * 10_000  # the tail: at most 3 reads, or none
    times = inter[TIME].to_numpy()
    same_user = inter[USER].to_numpy()[1:] == inter[USER].to_numpy()[:-1]
    assert (np.diff(times)[same_user] > 0).all()  # each user's reads in time order
    assert list(data.items.columns) == [ITEM, TITLE, GENRES, TEXT]
    assert len(data.items) == 10_000 and data.items[TITLE].is_unique


def test_catalog_is_seeded_and_has_an_ids_only_form() -> None:
    a = generate_catalog(500, 300, 4_000, seed=1)
    b = generate_catalog(500, 300, 4_000, seed=1)
    c = generate_catalog(500, 300, 4_000, seed=2)
    assert a.interactions.equals(b.interactions)
    assert not a.interactions.equals(c.interactions)
    bare = generate_catalog(500, 300, 4_000, seed=1, titles=False, text=False)
    assert bare.items is None and bare.interactions.equals(a.interactions)
    no_text = generate_catalog(500, 300, 4_000, seed=1, text=False)
    assert TEXT not in no_text.items.columns and TITLE in no_text.items.columns


@pytest.mark.slow
def test_catalog_at_full_size_takes_seconds() -> None:
    start = time.perf_counter()
    data = generate_catalog(100_000, 100_000, 1_000_000, titles=False, text=False)
    assert time.perf_counter() - start < 30
    assert 0.97e6 <= len(data.interactions) <= 1.03e6
