"""Leave-one-out top-K on MovieLens-100K (DESIGN.md protocol 2), full data and a 10% sample.

Prints one table: popularity, ItemKNN, UserKNN and DeepFM (with the recent-history field),
Recall@10 / NDCG@10 / coverage, plus single-user scoring latency and training peak memory.

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/topk_ml100k.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

from rag_recs.config import RankerConfig
from rag_recs.data import load_movielens
from rag_recs.evaluation import ItemKNN, Popularity, RankerScorer, UserKNN, evaluate_loo

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import ml100k_path, peak_rss_mb, print_table  # noqa: E402


def latency_ms(scorer: RankerScorer, n_users: int = 200) -> float:
    """Median wall time to score all catalog items for one user, in milliseconds."""
    ranker = scorer.ranker
    times = []
    for user in list(ranker.users[:n_users]):
        start = time.perf_counter()
        ranker.top_k(user, 10)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def train_memory() -> None:
    """Child mode: train once on the full data and print the peak RSS (MiB)."""
    from rag_recs.data.split import leave_one_out
    from rag_recs.ranker import DeepFMRanker

    data = load_movielens(ml100k_path())
    train, _ = leave_one_out(data.interactions)
    before = peak_rss_mb()
    DeepFMRanker(RankerConfig(progress=False)).fit(data.subset(train))
    print(f"{before:.0f} {peak_rss_mb():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sample", type=float, default=0.1, help="share of ratings kept for the sparse run"
    )
    args = parser.parse_args()
    if args.memory_child:
        return train_memory()

    data = load_movielens(ml100k_path())
    rng_state = 2024
    sparse = data.subset(data.interactions.sample(frac=args.sample, random_state=rng_state))
    rows = []
    deepfm = None
    for name, dataset in (("full", data), (f"{args.sample:.0%} sample", sparse)):
        scorers = [Popularity(), ItemKNN(), UserKNN(50), RankerScorer(RankerConfig(progress=False))]
        for r in evaluate_loo(dataset, scorers):
            rows.append(
                [
                    name,
                    r["model"],
                    f"{r['recall@10']:.4f}",
                    f"{r['ndcg@10']:.4f}",
                    f"{r['coverage']:.3f}",
                    str(r["n_users"]),
                    f"{r['fit_seconds']:.1f}",
                ]
            )
        if deepfm is None:
            deepfm = scorers[-1]
    print_table(
        "Leave-one-out top-10, MovieLens-100K (all unseen items are candidates)",
        ["data", "model", "Recall@10", "NDCG@10", "coverage", "users", "fit s"],
        rows,
    )
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child"], capture_output=True, text=True, check=True
    )
    before, peak = map(float, child.stdout.split())
    assert deepfm is not None
    lat = latency_ms(deepfm)
    print_table(
        "DeepFM serving and training cost",
        ["measure", "value"],
        [
            [
                f"score {len(deepfm.ranker.items):,} items + top-10, one user (median of 200)",
                f"{lat:.2f} ms",
            ],
            [
                "training peak RSS, fresh process (before training)",
                f"{peak:.0f} MiB ({before:.0f} MiB)",
            ],
            [
                "epochs run (best)",
                f"{len(deepfm.ranker.log.losses)} ({deepfm.ranker.log.best_epoch + 1})",
            ],
        ],
    )
    np.random.seed(0)


if __name__ == "__main__":
    main()
