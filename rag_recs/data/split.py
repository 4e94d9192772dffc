"""Train/test splits that never put a user's future into their training data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rag_recs.data.schema import ITEM, TIME, USER


def chronological(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted per user by time, ties broken by item id (file order without timestamps)."""
    keys = [USER, TIME, ITEM] if TIME in frame else [USER]
    return frame.sort_values(keys, kind="stable")


def _position(ordered: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based position within its user, and its user's row count."""
    group = ordered.groupby(USER, sort=False)
    return group.cumcount().to_numpy(), group[USER].transform("size").to_numpy()


def split_by_ratio_chrono(
    frame: pd.DataFrame, test_ratio: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, the first ``1 - test_ratio`` of their interactions by time train, the rest test.

    Like LibRecommender's ``split_by_ratio_chrono``: a user keeps at least one training row, and a
    user with a single interaction is train-only.
    """
    ordered = chronological(frame)
    pos, size = _position(ordered)
    n_train = np.maximum(1, np.floor(size * (1 - test_ratio)).astype(int))
    is_train = pos < n_train
    return ordered[is_train], ordered[~is_train]


def leave_one_out(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last interaction (time, then item id) is the test target; earlier ones train.

    Every user is kept: a user with one interaction has an empty training history (cold start).
    """
    ordered = chronological(frame)
    pos, size = _position(ordered)
    is_test = pos == size - 1
    return ordered[~is_test], ordered[is_test]


def random_split(
    frame: pd.DataFrame, test_ratio: float = 0.2, seed: int = 2024
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded random split, for data without timestamps."""
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(frame)) < test_ratio
    return frame[~is_test], frame[is_test]
