"""The interaction index: one place for id resolution, seen and liked sets, popularity, history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import seen_sets

from rag_recs.data.index import InteractionIndex
from rag_recs.data.loaders import from_frame
from rag_recs.data.schema import Dataset
from rag_recs.errors import RagRecsError


@pytest.fixture(scope="module")
def data() -> Dataset:
    frame = pd.DataFrame(
        {
            "user_id": [7, 7, 7, 9, 9, 7],
            "item_id": [30, 10, 20, 10, 40, 50],
            "rating": [5, 2, 4, 4, 1, 5],
            "timestamp": [3, 1, 2, 5, 5, 3],  # user 7: 10, 20, then 30 and 50 at the same time
        }
    )
    dataset = from_frame(frame)
    dataset.users = pd.DataFrame({"user_id": [7, 9, 11]})  # 11: known, no interactions
    return dataset


def test_ids_resolve_across_int_and_str(data):
    index = data.index
    assert (index.n_users, index.n_items) == (3, 5)
    assert index.user_row(7) == index.user_row("7") > 0
    assert index.user_row("nobody") == 0 and index.item_row(999) == 0
    assert index.user_id(index.user_row("9")) == 9
    assert index.resolve_user("11") == 11
    assert index.resolve_item("40") == 40 and index.resolve_item("nope") is None
    with pytest.raises(RagRecsError, match="unknown user 'x'"):
        index.resolve_user("x")
    # many at once: the same rows as one by one, spellings and unknown ids included
    many = [40, "10", 999, " 30", "nope", 20, 10]
    assert list(index.item_rows(many)) == [index.item_row(x) for x in many]
    assert index.item_rows([]).shape == (0,)


def test_seen_and_liked_sets(data):
    index = data.index
    assert index.seen(7) == seen_sets(data)[7] == {10, 20, 30, 50}
    assert index.liked(7) == {20, 30, 50}  # rating >= 4
    assert index.seen(9) == {10, 40} and index.liked(9) == {10}
    assert index.seen(11) == set() and index.seen("nobody") == set()
    stricter = InteractionIndex.from_dataset(data, like_threshold=5)
    assert stricter.liked(7) == {30, 50}


def test_histories_are_time_ordered_with_ties_by_item_id(data):
    index = data.index
    items = [index.item_id(r) for r in index.seen_rows(index.user_row(7))]
    assert items == [10, 20, 30, 50]
    recent = index.recent(3)
    assert recent.shape == (4, 3)
    assert [index.item_id(r) for r in recent[index.user_row(7)]] == [50, 30, 20]
    assert list(recent[index.user_row(11)]) == [0, 0, 0]
    assert list(recent[0]) == [0, 0, 0]


def test_popularity_and_pairs(data):
    index = data.index
    assert index.popularity[index.item_row(10)] == 2 and index.popularity[0] == 0
    users, items = index.seen_pairs()
    pairs = {(index.user_id(u), index.item_id(i)) for u, i in zip(users, items, strict=True)}
    inter = data.interactions
    assert pairs == set(zip(inter["user_id"], inter["item_id"], strict=True))


def test_round_trip_through_arrays(data):
    index = data.index
    again = InteractionIndex.from_arrays(index.to_arrays())
    assert again.seen(7) == index.seen(7) and again.liked(9) == index.liked(9)
    np.testing.assert_array_equal(again.recent(2), index.recent(2))
    assert again.user_row("9") == index.user_row(9)


def test_string_ids_keep_their_type():
    dataset = from_frame(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x1", "x2"]}))
    index = dataset.index
    assert index.seen("a") == {"x1"} and index.resolve_user("b") == "b"
