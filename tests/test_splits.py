"""Splits never train on a user's future; the history feature never sees it either."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rag_recs.data.schema import ITEM, RATING, TIME, USER
from rag_recs.data.split import leave_one_out, random_split, split_by_ratio_chrono
from rag_recs.ranker.features import history_rows


@pytest.fixture
def events() -> pd.DataFrame:
    """Users with 10, 5, 2 and 1 interactions, rows shuffled so file order means nothing."""
    rows = [(1, 100 + k, 1_000 + 10 * k) for k in range(10)]
    rows += [(2, 200 + k, 5_000 - 7 * k) for k in range(5)]  # later rows in file = earlier times
    rows += [(3, 300, 50), (3, 301, 40)]
    rows += [(4, 400, 7)]
    frame = pd.DataFrame(rows, columns=[USER, ITEM, TIME])
    frame[RATING] = 3.0
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_ratio_chrono_first_80_percent_train(events):
    train, test = split_by_ratio_chrono(events, test_ratio=0.2)
    assert len(train) + len(test) == len(events)
    assert not set(train.index) & set(test.index)
    # per user: floor(0.8 n) training rows, at least one
    assert train.groupby(USER).size().to_dict() == {1: 8, 2: 4, 3: 1, 4: 1}
    assert test.groupby(USER).size().to_dict() == {1: 2, 2: 1, 3: 1}
    assert sorted(test.loc[test[USER] == 1, ITEM]) == [108, 109]  # the two latest
    assert test.loc[test[USER] == 2, ITEM].tolist() == [200]  # 200 is the latest in time
    assert test.loc[test[USER] == 3, ITEM].tolist() == [300]  # t=50 is after t=40


def test_ratio_chrono_no_leakage(small_data):
    train, test = split_by_ratio_chrono(small_data.interactions, test_ratio=0.2)
    last_train = train.groupby(USER)[TIME].max()
    first_test = test.groupby(USER)[TIME].min()
    assert len(first_test) > 100
    assert (first_test >= last_train.reindex(first_test.index)).all()
    share = len(test) / len(small_data.interactions)
    assert 0.15 < share < 0.25


def test_single_interaction_user_is_train_only(events):
    train, test = split_by_ratio_chrono(events)
    assert 4 in set(train[USER]) and 4 not in set(test[USER])


def test_leave_one_out_targets_are_the_last_by_time(events):
    train, test = leave_one_out(events)
    assert test[USER].tolist() == [1, 2, 3, 4]  # one target per user, every user kept
    assert test[ITEM].tolist() == [109, 200, 300, 400]
    assert len(train) == len(events) - 4
    # user 4's only interaction is the target: an empty training history (cold start)
    assert 4 not in set(train[USER])
    for user, when in zip(test[USER], test[TIME], strict=True):
        assert (train.loc[train[USER] == user, TIME] <= when).all()


def test_leave_one_out_ties_broken_by_item_id():
    frame = pd.DataFrame({USER: [1, 1, 1, 2, 2], ITEM: [9, 4, 7, 3, 5], TIME: [20, 20, 10, 1, 1]})
    train, test = leave_one_out(frame)
    # user 1: items 9 and 4 share the latest time -> the higher item id (9) is the target
    assert dict(zip(test[USER], test[ITEM], strict=True)) == {1: 9, 2: 5}
    assert sorted(train.loc[train[USER] == 1, ITEM]) == [4, 7]


def test_leave_one_out_without_timestamps_uses_file_order():
    frame = pd.DataFrame({USER: ["a", "b", "a", "a"], ITEM: [3, 1, 2, 9]})
    train, test = leave_one_out(frame)
    assert dict(zip(test[USER], test[ITEM], strict=True)) == {"a": 9, "b": 1}
    assert train[ITEM].tolist() == [3, 2]


def test_random_split_is_seeded(small_data):
    inter = small_data.interactions
    train_a, test_a = random_split(inter, 0.2, seed=5)
    train_b, test_b = random_split(inter, 0.2, seed=5)
    _, test_c = random_split(inter, 0.2, seed=6)
    pd.testing.assert_frame_equal(test_a, test_b)
    pd.testing.assert_frame_equal(train_a, train_b)
    assert not test_a.index.equals(test_c.index)
    assert sorted([*train_a.index, *test_a.index]) == list(inter.index)
    assert 0.15 < len(test_a) / len(inter) < 0.25


def test_history_rows_exact_matrix():
    #           row:  0   1   2   3   4   5
    users = np.array([1, 1, 2, 1, 2, 1])
    items = np.array([10, 11, 12, 13, 14, 15])
    times = np.array([5, 1, 3, 3, 9, 7])
    hist, order = history_rows(users, items, times, length=2)
    # user 1 in time order: 11 (t1), 13 (t3), 10 (t5), 15 (t7); user 2: 12 (t3), 14 (t9)
    expected = np.array(
        [
            [13, 11],  # row 0 (t5): most recent first
            [0, 0],  # row 1: user 1's first event
            [0, 0],  # row 2: user 2's first event
            [11, 0],
            [12, 0],
            [10, 13],  # row 5 (t7): only the 2 latest are kept
        ]
    )
    np.testing.assert_array_equal(hist, expected)
    assert order.tolist() == [1, 3, 0, 5, 2, 4]
    # no row's history holds an item from its own or a later time step
    time_of = dict(zip(items, times, strict=True))
    for r in range(len(users)):
        assert all(time_of[h] < times[r] for h in hist[r] if h)


def test_history_rows_without_times_uses_row_order():
    hist, _ = history_rows(np.array([1, 1, 1]), np.array([5, 6, 7]), None, length=3)
    np.testing.assert_array_equal(hist, [[0, 0, 0], [5, 0, 0], [6, 5, 0]])


def test_history_rows_order_same_time_step_like_leave_one_out():
    # Events sharing a timestamp are ordered by item id, the leave-one-out protocol's tie rule,
    # so a training row's history is exactly what the protocol would call its past.
    users = np.array([1, 1, 1])
    items = np.array([21, 20, 22])
    times = np.array([4, 4, 8])
    hist, _ = history_rows(users, items, times, length=3, tie=np.array([2, 1, 3]))
    np.testing.assert_array_equal(hist, [[20, 0, 0], [0, 0, 0], [21, 20, 0]])
    # with the tie key reversed, the other same-time event comes first
    hist, _ = history_rows(users, items, times, length=3, tie=np.array([1, 2, 3]))
    np.testing.assert_array_equal(hist, [[0, 0, 0], [21, 0, 0], [20, 21, 0]])
