"""MovieLens-100K CTR frames (label = rating >= 4, per-user time-ordered 80/20 split) for peers."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FIELDS: list[str] = ["user_id", "item_id", "gender", "age_bucket", "occupation", "first_genre"]
AGE_BINS: list[float] = [0, 18, 25, 35, 45, 50, 56, np.inf]
TRAIN_FRACTION = 0.8


def data_dir() -> Path:
    """Return the MovieLens-100K directory named by RAG_RECS_ML100K."""
    path = os.environ.get("RAG_RECS_ML100K")
    if not path:
        raise SystemExit("set RAG_RECS_ML100K to the ml-100k directory")
    return Path(path)


def _read_items(path: Path) -> pd.DataFrame:
    genres = pd.read_csv(
        path / "u.genre", sep="|", header=None, names=["genre", "idx"], encoding="latin-1"
    )
    genres = genres.dropna().sort_values("idx")["genre"].tolist()
    cols = ["item_id", "title", "release", "video_release", "url", *genres]
    items = pd.read_csv(path / "u.item", sep="|", header=None, names=cols, encoding="latin-1")
    flags = items[genres].to_numpy()
    has_genre = flags.any(axis=1)
    first = np.asarray(genres, dtype=object)[flags.argmax(axis=1)]
    items["first_genre"] = np.where(has_genre, first, "unknown")
    return items[["item_id", "first_genre"]]


def _read_users(path: Path) -> pd.DataFrame:
    cols = ["user_id", "age", "gender", "occupation", "zip"]
    users = pd.read_csv(path / "u.user", sep="|", header=None, names=cols, encoding="latin-1")
    buckets = pd.cut(users["age"], bins=AGE_BINS, right=False)
    users["age_bucket"] = buckets.astype(str)
    return users[["user_id", "gender", "age_bucket", "occupation"]]


def load_ctr_frames(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Return (train_df, test_df, field_names); frames hold raw field values and a 0/1 `label`."""
    path = Path(path)
    ratings = pd.read_csv(
        path / "u.data", sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"]
    )
    ratings["label"] = (ratings["rating"] >= 4).astype(np.int64)
    df = ratings.merge(_read_users(path), on="user_id", how="left").merge(
        _read_items(path), on="item_id", how="left"
    )
    df = df.sort_values(["user_id", "timestamp", "item_id"], kind="mergesort").reset_index(
        drop=True
    )
    rank = df.groupby("user_id").cumcount().to_numpy()
    n = df.groupby("user_id")["item_id"].transform("size").to_numpy()
    n_train = np.maximum(np.floor(n * TRAIN_FRACTION).astype(np.int64), 1)
    is_train = rank < n_train
    cols = [*FIELDS, "label", "timestamp"]
    train = df.loc[is_train, cols].reset_index(drop=True)
    test = df.loc[~is_train, cols].reset_index(drop=True)
    return train, test, list(FIELDS)


def encode_with_train_vocab(
    train: pd.DataFrame, test: pd.DataFrame, fields: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Map each field to 1..V using the train vocabulary; unseen test values get the OOV index 0."""
    train, test = train.copy(), test.copy()
    sizes: dict[str, int] = {}
    for field in fields:
        vocab = pd.Index(np.sort(train[field].unique()))
        train[field] = vocab.get_indexer(train[field]) + 1
        test[field] = vocab.get_indexer(test[field]) + 1  # -1 (unseen) -> 0
        sizes[field] = len(vocab) + 1
    return train, test, sizes


def binary_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float]:
    """Return (AUC, logloss) with probabilities clipped to [1e-7, 1 - 1e-7]."""
    from sklearn.metrics import log_loss, roc_auc_score

    p = np.clip(np.asarray(y_prob, dtype=np.float64).ravel(), 1e-7, 1 - 1e-7)
    y = np.asarray(y_true).ravel()
    return float(roc_auc_score(y, p)), float(log_loss(y, p, labels=[0, 1]))


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def emit(
    library: str, auc: float, logloss: float, n_train: int, epochs: int, train_seconds: float
) -> None:
    """Print the single JSON result line on stdout."""
    result = {
        "library": library,
        "auc": round(auc, 6),
        "logloss": round(logloss, 6),
        "train_samples_per_s": round(n_train * epochs / train_seconds, 1),
        "train_seconds": round(train_seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "epochs": epochs,
    }
    print(json.dumps(result), file=sys.stdout, flush=True)


if __name__ == "__main__":
    tr, te, names = load_ctr_frames(data_dir())
    print(f"train={len(tr)} test={len(te)}")
    print(f"positive rate train={tr.label.mean():.4f} test={te.label.mean():.4f}")
    print({f: tr[f].nunique() for f in names})
    print(f"test items unseen in train: {(~te.item_id.isin(tr.item_id)).sum()}")
