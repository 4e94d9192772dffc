"""Run a top-K peer library (RecBole SASRec / LightGCN) in its own venv; metrics stay ours.

From the main venv (standard library + pandas):

    from topk_peers import run_topk_peer
    result = run_topk_peer("SASRec", train_frame, users, catalog)
    result["top10"][user]   # the 10 best unseen catalog items, original id objects
    result["fit_seconds"]

`train_frame` has user_id, item_id, timestamp (any row order; one row per interaction, every
interaction an implicit positive). The peer gets exactly these rows, so the targets must not be
in them. Run as a script for the whole leave-one-out check on MovieLens-100K:

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/peers/topk_peers.py [--models SASRec]

The peer venvs come from benchmarks/peers/setup_peers.sh (.bench/recbole).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

USER, ITEM, TIME = "user_id", "item_id", "timestamp"
PEERS_DIR = Path(__file__).resolve().parent
ROOT = PEERS_DIR.parent.parent
# model name -> (venv under .bench/, script in benchmarks/peers/)
TOPK_PEERS: dict[str, tuple[str, str]] = {
    "SASRec": ("recbole", "recbole_topk.py"),
    "BERT4Rec": ("recbole", "recbole_topk.py"),
    "LightGCN": ("recbole", "recbole_topk.py"),
}


def peer_python(env: str) -> Path:
    """The interpreter of .bench/<env>; exits with a hint when the venv is missing."""
    python = ROOT / ".bench" / env / "bin" / "python"
    if not python.exists():
        sys.exit(f"{python} is missing: run benchmarks/peers/setup_peers.sh")
    return python


def chronological(train: pd.DataFrame) -> pd.DataFrame:
    """Rows per user by time, ties broken by item id (the project's leave-one-out order)."""
    return train.sort_values([USER, TIME, ITEM], kind="stable")


def run_topk_peer(
    model: str,
    train: pd.DataFrame,
    users: Iterable[Any],
    catalog: Iterable[Any],
    *,
    k: int = 10,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
    workdir: str | Path | None = None,
    cache: str | Path | None = None,
    cached_only: bool = False,
) -> dict[str, Any] | None:
    """Train `model` on `train` in its peer venv and return its top-k for each of `users`.

    Writes train.csv (user_id,item_id,timestamp in leave-one-out order), items.csv (the whole
    catalog) and users.csv to a temp dir (or `workdir`), runs
    ``.bench/<env>/bin/python benchmarks/peers/<script> --model M --train ... --catalog ...
    --users ... --out top10.json --k K [extra_args]`` and reads top10.json back.

    Returns {"model": str, "fit_seconds": float, "predict_seconds": float, "wall_seconds": float,
    "top10": {user: [item, ...]}, "settings": dict}: users and items are the objects passed in
    (matched by str()), each list holds k catalog items the user has no training row for.
    The peer's stderr (its log) goes to this process's stderr. With ``cache`` (a directory),
    a result is kept under a hash of the model, its arguments and every input file, and a later
    call with the same inputs returns it (with ``"cached_at"``: when it was measured) instead of
    training again: a converged peer can take hours. With ``cached_only`` a result not kept
    yet gives None instead of a run.
    """
    if model not in TOPK_PEERS:
        raise ValueError(f"unknown top-K peer {model!r}; known: {sorted(TOPK_PEERS)}")
    env, script = TOPK_PEERS[model]
    users = list(users)
    catalog = list(catalog)
    user_of = {str(u): u for u in users}
    item_of = {str(i): i for i in catalog}
    if len(user_of) != len(users) or len(item_of) != len(catalog):
        raise ValueError("users and catalog must be unique (also as strings)")

    with tempfile.TemporaryDirectory(prefix="topk_peer_") as tmp:
        base = Path(workdir) if workdir is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        paths = {name: base / f"{name}.csv" for name in ("train", "items", "users")}
        chronological(train[[USER, ITEM, TIME]]).to_csv(paths["train"], index=False)
        pd.DataFrame({ITEM: [str(i) for i in catalog]}).to_csv(paths["items"], index=False)
        pd.DataFrame({USER: [str(u) for u in users]}).to_csv(paths["users"], index=False)
        out = base / "top10.json"
        key = hashlib.sha256(json.dumps([model, k, list(extra_args)]).encode())
        for path in paths.values():
            key.update(path.read_bytes())
        kept = Path(cache) / f"{model}-{key.hexdigest()[:16]}.json" if cache else None
        if kept is not None and kept.exists():
            result = json.loads(kept.read_text())
            result["top10"] = {
                user_of[u]: [item_of[i] for i in items] for u, items in result["top10"].items()
            }
            return result
        if cached_only:
            return None
        command = [
            str(peer_python(env)),
            str(PEERS_DIR / script),
            "--model", model,
            "--train", str(paths["train"]),
            "--catalog", str(paths["items"]),
            "--users", str(paths["users"]),
            "--out", str(out),
            "--k", str(k),
            *extra_args,
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, timeout=timeout, stdout=sys.stderr, cwd=base)
        wall = time.perf_counter() - start
        result = json.loads(out.read_text())
        if kept is not None:
            kept.parent.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            kept.write_text(json.dumps({**result, "wall_seconds": wall, "cached_at": stamp}))

    result["top10"] = {
        user_of[u]: [item_of[i] for i in items] for u, items in result["top10"].items()
    }
    result["wall_seconds"] = wall
    return result


# ---- the standalone check: leave-one-out on MovieLens-100K, metrics computed here ----


def load_ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(path / "u.data", sep="\t", header=None, names=[USER, ITEM, "rating", TIME])


def leave_one_out(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last interaction (time, then item id) is the target; earlier ones train."""
    ordered = chronological(ratings)
    pos = ordered.groupby(USER, sort=False).cumcount()
    size = ordered.groupby(USER, sort=False)[USER].transform("size")
    is_test = pos == size - 1
    return ordered[~is_test], ordered[is_test]


def popularity_top(train: pd.DataFrame, users: list, catalog: list, k: int) -> dict:
    """Most-interacted unseen items first (ties by catalog order): the sanity reference."""
    counts = train[ITEM].value_counts()
    position = {item: n for n, item in enumerate(catalog)}
    ranked = sorted(catalog, key=lambda i: (-counts.get(i, 0), position[i]))
    seen = train.groupby(USER)[ITEM].agg(set).to_dict()
    top = {}
    for u in users:
        s = seen.get(u, set())
        top[u] = [i for i in ranked[: k + len(s)] if i not in s][:k]
    return top


def loo_metrics(top: dict, test: pd.DataFrame, seen: dict, catalog: set, k: int) -> dict:
    """Recall@k (= hit rate, one target) and NDCG@k; checks each list is k unseen catalog items."""
    hits = ndcg = 0.0
    for u, target in zip(test[USER], test[ITEM], strict=True):
        items = top[u]
        assert len(items) == k and len(set(items)) == k, (u, items)
        assert not set(items) & seen.get(u, set()), f"user {u}: a training item was recommended"
        assert set(items) <= catalog, f"user {u}: an item outside the catalog"
        if target in items:
            hits += 1
            ndcg += 1 / math.log2(items.index(target) + 2)
    n = len(test)
    return {f"recall@{k}": hits / n, f"ndcg@{k}": ndcg / n}


def main() -> None:
    parser = argparse.ArgumentParser(description="Leave-one-out top-10 of the top-K peers")
    parser.add_argument("--data", type=Path, default=os.environ.get("RAG_RECS_ML100K"))
    parser.add_argument("--models", nargs="+", default=list(TOPK_PEERS), choices=list(TOPK_PEERS))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--sample",
        type=float,
        help="keep this share of the ratings first (seed 2024, as topk_ml100k.py's sparse run)",
    )
    parser.add_argument("extra", nargs="*", help="passed to the peer script (after --)")
    args = parser.parse_args()
    if args.data is None or not Path(args.data).is_dir():
        sys.exit("set RAG_RECS_ML100K (or --data) to a MovieLens-100K directory")

    ratings = load_ratings(Path(args.data))
    catalog = sorted(ratings[ITEM].unique())  # ML-100K: every item has a rating
    if args.sample:
        ratings = ratings.sample(frac=args.sample, random_state=2024)
    train, test = leave_one_out(ratings)
    users = test[USER].tolist()
    seen = train.groupby(USER)[ITEM].agg(set).to_dict()
    print(
        f"train {len(train):,} rows, {len(users):,} users (all kept; "
        f"{len(set(users) - set(seen)):,} without training rows), {len(catalog):,} items; "
        f"targets never in train: {(~test[ITEM].isin(train[ITEM])).sum()}",
        flush=True,
    )
    rows = []
    start = time.perf_counter()
    top = popularity_top(train, users, catalog, args.k)
    rows.append(("Popularity", loo_metrics(top, test, seen, set(catalog), args.k),
                 time.perf_counter() - start, {}))  # fmt: skip
    for model in args.models:
        result = run_topk_peer(
            model, train, users, catalog, k=args.k, extra_args=args.extra, timeout=args.timeout
        )
        metrics = loo_metrics(result["top10"], test, seen, set(catalog), args.k)
        rows.append((result["model"], metrics, result["fit_seconds"], result["settings"]))
        print(f"{result['model']}: {metrics}, fit {result['fit_seconds']:.1f}s", flush=True)

    k = args.k
    print(f"\n{'model':<24} {f'Recall@{k}':>10} {f'NDCG@{k}':>10} {'fit s':>8}")
    for name, m, fit, _ in rows:
        print(f"{name:<24} {m[f'recall@{k}']:>10.4f} {m[f'ndcg@{k}']:>10.4f} {fit:>8.1f}")
    for name, _, _, settings in rows[1:]:
        print(f"{name} settings: {json.dumps(settings)}")


if __name__ == "__main__":
    main()
