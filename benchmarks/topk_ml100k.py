"""Leave-one-out top-K on MovieLens-100K (the top-K protocol in docs/protocols.md).

One run prints:
1. the full-data table: popularity, ItemKNN, UserKNN, our DeepFM with today's defaults, the same
   benchmark run by the package as it was at ``--baseline`` (the previous defaults and code,
   extracted from git), and the strong peers SASRec and LightGCN (RecBole, each in its own
   environment: ``bash benchmarks/peers/setup_peers.sh``) on the same split, full ranking;
2. the speed-ups of the default fit and of scoring every user against every item over the
   baseline (each DeepFM in a fresh process, run one after the other);
3. the default fit's validation metric (full-list NDCG of held-out last items) against
   training seconds, epoch by epoch;
4. a 10% sample of the ratings (sparse data).

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/topk_ml100k.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _baseline import ROOT, package_at, run_json  # noqa: E402
from _common import ml100k_path, print_table  # noqa: E402

BASELINE = "dfe7cab"  # the last commit before the grouped-negative fit

# the same snippet runs against both trees: fit the default ranker, score every user
CHILD = """
import json, os
from pathlib import Path
from rag_recs.config import RankerConfig
from rag_recs.data import load_movielens
from rag_recs.evaluation import RankerScorer, evaluate_loo
data = load_movielens(os.environ["RAG_RECS_ML100K"])
scorer = RankerScorer(RankerConfig(progress=False))
r = evaluate_loo(data, [scorer])[0]
log = scorer.ranker.log
peak = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")]
print(json.dumps({
    "recall@10": r["recall@10"], "ndcg@10": r["ndcg@10"], "coverage": r["coverage"],
    "fit_seconds": r["fit_seconds"], "score_seconds": r["score_seconds"],
    "epochs": len(log.losses), "best_epoch": log.best_epoch + 1,
    "peak_rss_mb": int(peak[0].split()[1]) / 1024 if peak else None,
    "curve": list(zip(getattr(log, "elapsed", []), log.valid)),
}))
"""


def deepfm_runs(baseline: str | None) -> dict[str, dict]:
    """The default fit in a fresh process: today's tree, then the baseline commit's."""
    runs = {"DeepFM (defaults)": run_json(CHILD, ROOT)}
    if baseline:
        with package_at(baseline) as old:
            runs[f"DeepFM (code at {baseline})"] = run_json(CHILD, old)
    return runs


PEER_CACHE = ROOT / ".bench" / "peer-results"  # converged peers take hours: kept by input hash


def peer_runs(data, models: list[str], extra: list[str], label: str = "") -> dict[str, dict]:
    """SASRec / LightGCN trained in their own environment on our split; our metrics score their
    top-10 lists (skipped when the environment is missing)."""
    import numpy as np

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
        r = run_topk_peer(model, train, users, catalog, extra_args=extra, cache=PEER_CACHE)
        lists = [r["top10"].get(u, []) for u in users]
        ranks = [lst.index(targets[u]) if targets[u] in lst else None for u, lst in
                 zip(users, lists, strict=True)]  # fmt: skip
        settings = r.get("settings", {})
        out[f"{model} (RecBole){label}"] = {
            "recall@10": float(np.mean([x is not None for x in ranks])),
            "ndcg@10": float(np.mean([0.0 if x is None else 1 / np.log2(x + 2) for x in ranks])),
            "coverage": coverage(lists, len(catalog)),
            "fit_seconds": r["fit_seconds"],
            "score_seconds": r.get("predict_seconds"),
            "epochs": settings.get("epochs_run", settings.get("epochs")),
            "best_epoch": settings.get("best_epoch"),
            "settings": settings,
            "cached_at": r.get("cached_at"),
        }
    return out


def row(name: str, r: dict) -> list[str]:
    score = r.get("score_seconds")
    return [
        name,
        f"{r['recall@10']:.4f}",
        f"{r['ndcg@10']:.4f}",
        f"{r['coverage']:.3f}",
        f"{r['fit_seconds']:.1f}",
        "-" if score is None else f"{score:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git ref to compare with ('' = none)")
    parser.add_argument("--peers", nargs="*", default=["SASRec", "LightGCN"])
    parser.add_argument(
        "--peer-args", default="", help="extra arguments for benchmarks/peers/recbole_topk.py"
    )
    parser.add_argument("--sample", type=float, default=0.1, help="share kept for the sparse run")
    args = parser.parse_args()
    os.environ["RAG_RECS_ML100K"] = str(ml100k_path())

    from rag_recs.config import RankerConfig
    from rag_recs.data import load_movielens
    from rag_recs.evaluation import ItemKNN, Popularity, RankerScorer, UserKNN, evaluate_loo

    data = load_movielens(ml100k_path())
    simple = evaluate_loo(data, [Popularity(), ItemKNN(), UserKNN(50)])
    deepfm = deepfm_runs(args.baseline or None)
    peers = peer_runs(data, args.peers, args.peer_args.split()) if args.peers else {}
    header = ["model", "Recall@10", "NDCG@10", "coverage", "fit s", "score all s"]
    rows = [row(r["model"], r) for r in simple]
    rows += [row(name, r) for name, r in {**deepfm, **peers}.items()]
    print_table("Leave-one-out top-10, MovieLens-100K, 943 users, full ranking", header, rows)

    new = deepfm["DeepFM (defaults)"]
    if len(deepfm) > 1:
        old = next(r for name, r in deepfm.items() if name != "DeepFM (defaults)")
        print_table(
            f"DeepFM defaults against the code at {args.baseline} (same run)",
            ["measure", "baseline", "now", "speed-up"],
            [
                [
                    "default fit, wall s",
                    f"{old['fit_seconds']:.1f}",
                    f"{new['fit_seconds']:.1f}",
                    f"{old['fit_seconds'] / new['fit_seconds']:.1f}x",
                ],
                [
                    "score 943 users x 1,682 items, s",
                    f"{old['score_seconds']:.2f}",
                    f"{new['score_seconds']:.2f}",
                    f"{old['score_seconds'] / new['score_seconds']:.1f}x",
                ],
                [
                    "epochs run (best)",
                    f"{old['epochs']} ({old['best_epoch']})",
                    f"{new['epochs']} ({new['best_epoch']})",
                    "",
                ],
                [
                    "peak RSS of the process, MiB",
                    f"{old['peak_rss_mb']:.0f}",
                    f"{new['peak_rss_mb']:.0f}",
                    "",
                ],
            ],  # fmt: skip
        )
    print_table(
        "Default fit: validation NDCG over the full list (500 users' held-out last items, the "
        "early-stopping metric) against training seconds",
        ["epoch", "seconds", "validation NDCG"],
        [[str(e + 1), f"{s:.1f}", f"{v:.4f}"] for e, (s, v) in enumerate(new["curve"])],
    )
    sparse = data.subset(data.interactions.sample(frac=args.sample, random_state=2024))
    scorers = [Popularity(), ItemKNN(), UserKNN(50), RankerScorer(RankerConfig(progress=False))]
    print_table(
        f"Leave-one-out top-10 on a {args.sample:.0%} sample of the ratings",
        header,
        [row(r["model"], r) for r in evaluate_loo(sparse, scorers)],
    )
    print(json.dumps({"deepfm": deepfm, "peers": peers}, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
