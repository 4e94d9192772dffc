"""CTR protocol on MovieLens-100K (protocol 1, docs/protocols.md): our DeepFM against peers.

Each run is a fresh process, one after another (never concurrently); the table shows the median
of ``--repeats`` runs. Peers run from their own environments (``benchmarks/peers/setup_peers.sh``):
DeepCTR-Torch 0.3.0 and LibRecommender 1.5.2 (TensorFlow). Throughput is training samples per
second of the whole fit call; ours includes building the feature map and encoding the data.

    bash benchmarks/peers/setup_peers.sh
    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/ctr_ml100k.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import ml100k_path, peak_rss_mb, print_table  # noqa: E402

PEERS = {
    "DeepCTR-Torch 0.3.0": (
        ROOT / ".bench/deepctr/bin/python",
        HERE / "peers/deepctr_torch_deepfm.py",
    ),
    "LibRecommender 1.5.2": (ROOT / ".bench/librec/bin/python", HERE / "peers/librec_deepfm.py"),
}
EPOCHS = 3


def protocol_split():
    """The protocol's fields (age bucket, gender, occupation, first genre) and its
    chronological 80/20 split: (train dataset, test frame)."""
    import numpy as np
    import pandas as pd

    from rag_recs.data import Dataset, load_movielens
    from rag_recs.evaluation.protocols import ctr_split

    data = load_movielens(ml100k_path())
    users = data.users.copy()
    bins = [0, 18, 25, 35, 45, 50, 56, np.inf]
    users["age"] = pd.cut(users["age"], bins, right=False).astype(str)
    items = data.items[["item_id", "title"]].assign(
        genre=data.items["genres"].map(lambda g: g[0] if g else "unknown")  # first genre
    )
    return ctr_split(Dataset(data.interactions, items, users, name="ml-100k ctr"))


def protocol_config():
    """The protocol's model: embedding 16, MLP (128, 64), Adam 1e-3, batch 512, no history."""
    from rag_recs.config import RankerConfig

    return RankerConfig(dim=16, history_len=0, objective="explicit", progress=False)


def ours() -> None:
    """Child mode: fit rag-recs DeepFM once on the protocol's fields, print one JSON line."""
    from rag_recs.evaluation.metrics import auc, logloss
    from rag_recs.ranker import DeepFMRanker

    train, test = protocol_split()
    # torch's optimizers import their compile machinery on first construction (~1 s once per
    # process); the peers pay it before their timed fit (in compile()), so it is paid here too
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    config = protocol_config()
    start = time.perf_counter()
    ranker = DeepFMRanker(config).fit(train, epochs=EPOCHS, early_stopping=False)
    seconds = time.perf_counter() - start
    labels = (test["rating"] >= 4).to_numpy(float)
    probs = ranker.predict(test)
    print(
        json.dumps(
            {
                "library": "rag-recs DeepFM",
                "auc": auc(labels, probs),
                "logloss": logloss(labels, probs),
                "train_samples_per_s": ranker.log.samples / seconds,
                "train_seconds": seconds,
                "loop_samples_per_s": ranker.log.samples_per_s,
                "peak_rss_mb": peak_rss_mb(),
                "epochs": EPOCHS,
            }
        )
    )


def run_child(python: Path, script: Path, *args: str) -> dict:
    proc = subprocess.run(
        [str(python), str(script), *args],
        capture_output=True,
        text=True,
        cwd=script.parent,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per library (median reported)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return ours()
    ml100k_path()
    contenders = {"rag-recs DeepFM": (Path(sys.executable), Path(__file__), "--child")}
    contenders.update({name: (py, script) for name, (py, script) in PEERS.items()})
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits everyone alike
        for name, (python, script, *extra) in contenders.items():
            if not python.exists():
                results[name].append(
                    {"error": f"no environment at {python.parent.parent}; run setup_peers.sh"}
                )
                continue
            results[name].append(run_child(python, script, *extra))
    base = None
    rows = []
    for name, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            rows.append([name, "-", "-", "-", "-", "-", "-", runs[0]["error"][:60]])
            continue
        speed = statistics.median(r["train_samples_per_s"] for r in ok)
        base = speed if name.startswith("DeepCTR") else base
        rows.append(
            [
                name,
                f"{statistics.median(r['auc'] for r in ok):.4f}",
                f"{statistics.median(r['logloss'] for r in ok):.4f}",
                f"{speed:,.0f}",
                ", ".join(f"{r['train_samples_per_s'] / 1000:.0f}k" for r in ok),
                f"{statistics.median(r['peak_rss_mb'] for r in ok):.0f}",
                f"{statistics.median(r['loop_samples_per_s'] for r in ok):,.0f}"
                if "loop_samples_per_s" in ok[0]
                else "-",
                "",
            ]
        )
    for row in rows:
        if base and row[3] != "-":
            row[7] = f"{float(row[3].replace(',', '')) / base:.2f}x DeepCTR-Torch"
    print_table(
        f"CTR protocol, MovieLens-100K: DeepFM, emb 16, MLP (128, 64), Adam 1e-3, batch 512, "
        f"{EPOCHS} epochs; median of {args.repeats} fresh processes",
        [
            "library",
            "test AUC",
            "logloss",
            "fit() samples/s",
            "runs",
            "peak RSS MiB",
            "epoch loops only",
            "fit() speed",
        ],  # fmt: skip
        rows,
    )


if __name__ == "__main__":
    main()
