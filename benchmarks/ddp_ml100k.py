"""Data-parallel training on MovieLens-100K: 1 process against N processes under torchrun.

The same fits as the CTR and top-K benchmarks (docs/protocols.md), run once in one process and
once as ``torchrun --nproc-per-node N`` (DistributedDataParallel, gloo on CPU): the CTR
protocol's 3-epoch fit and test AUC (``ctr_ml100k.py``), and the default implicit fit (early
stopping on held-out last items) and leave-one-out Recall@10 / NDCG@10 (``topk_ml100k.py``).
Under torchrun every rank steps on its shard of each epoch with the batch divided by N, so the
global batch, the step count and the learning rate are those of one process; rank 0 evaluates.

Epoch time is the gradient steps of one epoch (no sampling, no validation), averaged over the
fit; samples/s counts every rank's samples. torchrun gives each rank one thread
(OMP_NUM_THREADS=1); one process trains on ``train_threads`` (1 by default).

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/ddp_ml100k.py [--nproc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ml100k_path, print_table  # noqa: E402
from ctr_ml100k import EPOCHS, protocol_config, protocol_split  # noqa: E402


def fit_figures(ranker, seconds: float) -> dict:
    """What the table shows of one fit: epochs, time per epoch, throughput."""
    log = ranker.log
    epochs = len(log.losses)
    return {
        "epochs": epochs,
        "best_epoch": log.best_epoch + 1,
        "fit_seconds": seconds,
        "epoch_seconds": log.seconds / epochs,
        "samples_per_s": log.samples_per_s,
    }


def child() -> None:
    """One run (one process, or each rank under torchrun): both fits; rank 0 prints JSON."""
    import torch

    from rag_recs import distributed
    from rag_recs.config import RankerConfig
    from rag_recs.data import load_movielens
    from rag_recs.evaluation.metrics import auc
    from rag_recs.evaluation.protocols import RankerScorer, evaluate_loo, loo_split
    from rag_recs.ranker import DeepFMRanker

    distributed.start("cpu")
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # one-off import cost, untimed
    out: dict = {"processes": distributed.world_size()}

    train, test = protocol_split()  # CTR protocol
    start = time.perf_counter()
    ranker = DeepFMRanker(protocol_config()).fit(train, epochs=EPOCHS, early_stopping=False)
    out["ctr"] = fit_figures(ranker, time.perf_counter() - start)
    if distributed.is_main():
        out["ctr"]["auc"] = auc((test["rating"] >= 4).to_numpy(float), ranker.predict(test))

    data = load_movielens(ml100k_path())  # leave-one-out protocol, default fit
    start = time.perf_counter()
    config = RankerConfig(progress=False, objective="implicit")
    ranker = DeepFMRanker(config).fit(loo_split(data)[0])
    out["loo"] = fit_figures(ranker, time.perf_counter() - start)
    distributed.stop()  # the ranks trained together; rank 0 evaluates alone
    if not distributed.is_main():
        return

    class Fitted(RankerScorer):
        def train(self, train):
            return ranker

    result = evaluate_loo(data, [Fitted(config)])[0]
    out["loo"].update({k: result[k] for k in ("recall@10", "ndcg@10")})
    print(json.dumps(out))


def run(nproc: int) -> dict:
    """The child in a fresh process, or in ``nproc`` processes under torchrun."""
    script = [str(Path(__file__).resolve()), "--child"]
    command = [sys.executable, *script]
    if nproc > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
        command = [*launcher, *script]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"{nproc} process(es) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the torchrun run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    if args.child:
        return child()
    ml100k_path()
    runs = [run(1), run(args.nproc)]  # one after the other, never concurrently
    rows = []
    for protocol, metrics in (("ctr", ["auc"]), ("loo", ["recall@10", "ndcg@10"])):
        for r in runs:
            fit = r[protocol]
            rows.append(
                [
                    f"{protocol}, {r['processes']} process{'es' if r['processes'] > 1 else ''}",
                    " / ".join(f"{fit[m]:.4f}" for m in metrics),
                    f"{fit['epochs']} (best {fit['best_epoch']})",
                    f"{fit['epoch_seconds']:.2f}",
                    f"{fit['samples_per_s']:,.0f}",
                    f"{fit['fit_seconds']:.1f}",
                ]
            )
        one, many = (r[protocol] for r in runs)
        gaps = ", ".join(f"{m} {many[m] - one[m]:+.4f}" for m in metrics)
        rows.append([f"{protocol}: {args.nproc} - 1", gaps, "", "", "", ""])
    print_table(
        f"DDP on MovieLens-100K: 1 process against torchrun --nproc-per-node {args.nproc} "
        "(gloo, CPU); ctr = protocol 1 (3 epochs), loo = default fit, leave-one-out",
        ["run", "AUC | Recall@10 / NDCG@10", "epochs", "s / epoch", "samples/s", "fit s"],
        rows,
    )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
