"""Leave-one-out top-K on MovieLens-100K and look-alikes (the top-K protocol in docs/protocols.md).

One run prints, for each dataset, one table: popularity, the DeepFM ranker with the history
as a mean-pooled bag or as an ordered sequence (causal self-attention), each trained with
binary cross-entropy on sampled negatives or a softmax over the catalog, and the peers from
RecBole (SASRec and BERT4Rec trained to convergence with early stopping on a validation
split, and LightGCN), each in its own environment (``bash benchmarks/peers/setup_peers.sh
recbole``), on the same split, full ranking. Columns: Recall@10, NDCG@10, fit seconds, epochs.
The datasets:

1. MovieLens-100K (943 users, 1,682 items);
2. generated sequential data: each user's next item depends on their latest items
   (``generate_sequential``);
3. a 10% random sample of MovieLens-100K's users;
4. generated ids-only catalog-shaped data: power-law item popularity, sparse users
   (``generate_catalog`` where the package has it, else the look-alike below).

After the MovieLens table: each DeepFM's validation metric (full-list NDCG of held-out last
items, the early-stopping metric) against training seconds, epoch by epoch.

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/topk_ml100k.py [--datasets ml100k]

Peers take hours to converge: their results are kept under .bench/peer-results by a hash of
their inputs and reused (the table then says when they were measured).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _baseline import ROOT  # noqa: E402
from _common import ml100k_path, print_table  # noqa: E402

# The variants of the table. "previous defaults" is the configuration before the sequence
# field and the catalog loss: a mean-pooled bag of the last 10 items, BCE on 8 negatives,
# MLP (128, 64), learning rate 1e-3.
PREVIOUS = {"history_encoder": "bag", "history_len": 10, "loss": "bce", "hidden": [128, 64],
            "lr": 1e-3}  # fmt: skip
VARIANTS: dict[str, dict] = {
    "DeepFM bag + BCE (previous defaults)": PREVIOUS,
    "DeepFM sequence + BCE": {"loss": "bce", "hidden": [128, 64], "lr": 1e-3},
    "DeepFM bag + softmax": {"history_encoder": "bag", "history_len": 10},
    "DeepFM sequence + softmax (defaults)": {},
}
DEFAULT = "DeepFM sequence + softmax (defaults)"
PEER_CACHE = ROOT / ".bench" / "peer-results"  # converged peers take hours: kept by input hash


def catalog_lookalike(n_users: int, n_items: int, n_interactions: int, seed: int = 7):
    """Ids-only interactions shaped like a real catalog: Zipf item popularity (a long tail),
    lognormal user activity (most users a handful of items), sessions within a user's few
    favourite subjects. Used when the package has no ``generate_catalog``."""
    from rag_recs.data.schema import ITEM, TIME, USER, Dataset

    rng = np.random.default_rng(seed)
    n_subjects = 50
    subject = rng.integers(0, n_subjects, n_items)
    popularity = (rng.permutation(n_items) + 1.0) ** -0.9
    by_subject = [np.flatnonzero(subject == s) for s in range(n_subjects)]
    raw = rng.lognormal(0.0, 1.0, n_users)
    activity = np.clip(np.rint(raw * n_interactions / raw.sum()), 2, n_items // 2).astype(int)
    users, items, times = [], [], []
    for u in range(n_users):
        taste = rng.dirichlet(np.full(n_subjects, 0.1))
        t, seen = int(rng.integers(0, 10**7)), set()
        s = rng.choice(n_subjects, p=taste)
        for _ in range(activity[u] * 3):
            if len(seen) >= activity[u]:
                break
            if rng.random() < 0.3:  # a new session
                s = rng.choice(n_subjects, p=taste)
            pool = by_subject[s]
            w = popularity[pool]
            item = int(rng.choice(pool, p=w / w.sum()))
            t += int(rng.integers(60, 86_400))
            if item not in seen:
                seen.add(item)
                users.append(u + 1)
                items.append(item + 1)
                times.append(t)
    frame = pd.DataFrame({USER: users, ITEM: items, TIME: np.array(times, np.int64)})
    return Dataset(frame, name="catalog-lookalike")


def load(name: str):
    """(dataset, note) for a dataset of the benchmark."""
    from rag_recs.data import load_movielens, synthetic

    if name == "ml100k":
        return load_movielens(ml100k_path()), "MovieLens-100K"
    if name == "sequential":
        data = synthetic.generate_sequential()
        return data, "generated sequential data (next item follows the latest ones)"
    if name == "ml100k-users":
        data = load_movielens(ml100k_path())
        users = pd.Series(data.interactions["user_id"].unique())
        kept = set(users.sample(frac=0.1, random_state=2024))
        return data.subset(data.interactions[data.interactions["user_id"].isin(kept)]), (
            "a 10% random sample of MovieLens-100K's users"
        )
    if name == "catalog":
        shape = {"n_users": 10_000, "n_items": 3_000, "n_interactions": 60_000}
        if hasattr(synthetic, "generate_catalog"):
            data = synthetic.generate_catalog(**shape, titles=False, text=False)
            return data, "generate_catalog, ids only"
        return catalog_lookalike(**shape), (
            "ids-only catalog look-alike generated by this benchmark (the package has no "
            "generate_catalog yet)"
        )
    raise SystemExit(f"unknown dataset {name}")


def deepfm_runs(data, variants: dict[str, dict]) -> dict[str, dict]:
    """Each variant fitted on the leave-one-out split and scored over the full catalog."""
    from rag_recs.config import RankerConfig
    from rag_recs.evaluation import RankerScorer, evaluate_loo

    out = {}
    for name, overrides in variants.items():
        scorer = RankerScorer(RankerConfig(progress=False, **overrides), name=name)
        r = evaluate_loo(data, [scorer])[0]
        log = scorer.ranker.log
        r.update(
            epochs=len(log.losses),
            best_epoch=log.best_epoch + 1,
            loss=scorer.ranker.trained.loss,
            curve=list(zip(log.elapsed, log.valid, strict=False)),
        )
        out[name] = r
        print(f"{name}: {json.dumps({k: v for k, v in r.items() if k != 'curve'})}",
              file=sys.stderr, flush=True)  # fmt: skip
    return out


def peer_runs(data, models: list[str], extra: list[str], cached_only: bool) -> dict[str, dict]:
    """The RecBole peers trained in their own environment on our split; our metrics score their
    top-10 lists (skipped when the environment is missing)."""
    from rag_recs.data.schema import ITEM, USER
    from rag_recs.data.split import leave_one_out
    from rag_recs.evaluation.metrics import coverage

    if not (ROOT / ".bench/recbole/bin/python").exists():
        print("skipping the peers: run benchmarks/peers/setup_peers.sh", file=sys.stderr)
        return {}
    from peers.topk_peers import run_topk_peer

    train, test = leave_one_out(data.interactions)
    users, catalog = list(test[USER]), list(data.catalog)
    targets = dict(zip(test[USER], test[ITEM], strict=True))
    out = {}
    for model in models:
        r = run_topk_peer(model, train, users, catalog, extra_args=extra, cache=PEER_CACHE,
                          cached_only=cached_only)  # fmt: skip
        if r is None:
            print(f"{model}: no kept result (--cached-peers)", file=sys.stderr)
            continue
        lists = [r["top10"].get(u, []) for u in users]
        ranks = [lst.index(targets[u]) if targets[u] in lst else None for u, lst in
                 zip(users, lists, strict=True)]  # fmt: skip
        settings = r.get("settings", {})
        out[f"{model} (RecBole)"] = {
            "recall@10": float(np.mean([x is not None for x in ranks])),
            "ndcg@10": float(np.mean([0.0 if x is None else 1 / np.log2(x + 2) for x in ranks])),
            "coverage": coverage(lists, len(catalog)),
            "fit_seconds": r["fit_seconds"],
            "epochs": settings.get("epochs_run", settings.get("epochs")),
            "best_epoch": settings.get("best_epoch"),
            "curve": settings.get("valid_ndcg@10_per_validation"),
            "cached_at": r.get("cached_at"),
        }
        print(f"{model}: {json.dumps(out[f'{model} (RecBole)'])}", file=sys.stderr, flush=True)
    return out


def row(name: str, r: dict) -> list[str]:
    epochs = r.get("epochs")
    best = r.get("best_epoch")
    ran = "-" if epochs is None else f"{epochs}" + ("" if best is None else f" (best {best})")
    when = f" (measured {r['cached_at']})" if r.get("cached_at") else ""  # no [ ]: rich markup
    return [
        name + when,
        f"{r['recall@10']:.4f}",
        f"{r['ndcg@10']:.4f}",
        f"{r['fit_seconds']:.1f}",
        ran,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["ml100k", "sequential", "ml100k-users", "catalog"]
    )
    parser.add_argument("--peers", nargs="*", default=["SASRec", "BERT4Rec", "LightGCN"])
    parser.add_argument("--side-peers", nargs="*", default=["SASRec"],
                        help="peers on the datasets after MovieLens-100K")  # fmt: skip
    parser.add_argument(
        "--peer-args", default="", help="extra arguments for benchmarks/peers/recbole_topk.py"
    )
    parser.add_argument(
        "--cached-peers",
        action="store_true",
        help="show only peer results already kept under .bench/peer-results (no training)",
    )
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--catalog-variants",
        nargs="*",
        default=[next(iter(VARIANTS)), DEFAULT],
        choices=list(VARIANTS),
        help="the DeepFM variants on the generated catalog data (the largest)",
    )
    args = parser.parse_args()
    os.environ["RAG_RECS_ML100K"] = str(ml100k_path())
    import torch

    from rag_recs.evaluation import Popularity, evaluate_loo

    torch.set_num_threads(1)  # the shared machine: the peers run on one thread too
    header = ["model", "Recall@10", "NDCG@10", "fit s", "epochs"]
    for number, name in enumerate(args.datasets):
        started = time.strftime("%H:%M UTC", time.gmtime())
        data, note = load(name)
        inter = data.interactions
        popularity = evaluate_loo(data, [Popularity()])[0]
        popularity.update(epochs=None)
        chosen = args.catalog_variants if name == "catalog" else args.variants
        deepfm = deepfm_runs(data, {v: VARIANTS[v] for v in chosen})
        models = args.peers if number == 0 else args.side_peers
        extra = args.peer_args.split()
        peers = peer_runs(data, models, extra, args.cached_peers) if models else {}
        rows = [row("Popularity", popularity)]
        rows += [row(n, r) for n, r in {**deepfm, **peers}.items()]
        print_table(
            f"Leave-one-out top-10, {note}: {inter['user_id'].nunique():,} users, "
            f"{len(data.catalog):,} items, {len(inter):,} interactions, full ranking "
            f"(started {started})",
            header,
            rows,
        )
        if number == 0:
            for variant, r in deepfm.items():
                print_table(
                    f"{variant}: validation NDCG over the full list (held-out last items of up to "
                    "500 users, the early-stopping metric) against training seconds",
                    ["epoch", "seconds", "validation NDCG"],
                    [[str(e + 1), f"{s:.1f}", f"{v:.4f}"] for e, (s, v) in enumerate(r["curve"])],
                )
            for peer, r in peers.items():
                if r.get("curve"):
                    print(f"{peer}: validation NDCG@10 per epoch {r['curve']}, "
                          f"{r['fit_seconds']:.0f} s in all")  # fmt: skip
        print(json.dumps({"dataset": name, "deepfm": deepfm, "peers": peers}, default=str),
              file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
