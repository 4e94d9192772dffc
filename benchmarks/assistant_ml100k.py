"""The assistant on MovieLens-100K leave-one-out (protocol 3, docs/protocols.md), and latency.

One table: the ranker alone, the LLM alone (ranking the similar users' favourites), k at random
from the assistant's pool, the LLM reranking the ranker's top 20, and the assistant (Recall@10,
NDCG@10, repeats among the LLM's proposals, fill rate, share of reasons worded by the LLM,
invalid final items, latency). ``--generate-users N`` adds the LLM alone writing its picks
(``llm_mode="generate"``, the previous default) on N users. Then the latency of a warm
``Assistant.ask`` with k = 10 and k = 2, with the local LLM (both modes) and without.

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/assistant_ml100k.py --users 200
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ml100k_path, print_table  # noqa: E402

QUESTION = (
    "Suggest 2 movies to user-id 78 using given data which it has not seen. Follow this "
    "approach 1: Find similar Users and 2: suggest new movies from similar users. Also give a "
    "reason for suggestion"
)


QUESTION_10 = "Suggest 10 movies to user 78 that they have not seen, with reasons."


def _row(name: str, r: dict) -> list[str]:
    def share(key: str) -> str:
        return f"{r[key]:.3f}" if key in r else "-"

    return [
        name, f"{r['recall@10']:.4f}", f"{r['ndcg@10']:.4f}", share("repeat_rate"),
        share("fill_rate"), share("llm_reason_share"), f"{r['invalid_final']:.3f}",
        f"{r['latency_p50_s'] * 1000:.0f} / {r['latency_p95_s'] * 1000:.0f}", str(r["n_users"]),
    ]  # fmt: skip


def _warm(assistant, question: str, k: int, runs: int = 10) -> tuple[float, float]:
    """Median and max seconds of ``assistant.ask(question)`` after one warm-up call."""
    assistant.ask(question)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = assistant.ask(question)
        times.append(time.perf_counter() - start)
    assert len(answer.items) == k, answer
    return statistics.median(times), max(times)


def weight_sweep(assistant, users_targets, weights, k: int = 10) -> list[list[str]]:
    """Recall@k / NDCG@k of the blend for each ``llm_weight``, the LLM run once per user: the
    public stages up to validation, then :meth:`Recommender.rerank` once per weight."""
    import numpy as np

    pipeline = assistant.pipeline
    hits = {w: [] for w in weights}
    for user, target in users_targets:
        request = pipeline.request(user, k)
        proposal = pipeline.propose(request)
        kept = pipeline.validate(request, proposal)
        for w in weights:
            pipeline.config = pipeline.config.model_copy(update={"llm_weight": w})
            items = [i for i, *_ in pipeline.rerank(request, proposal, kept)]
            rank = items.index(target) if target in items else None
            hits[w].append((rank is not None, 0.0 if rank is None else 1 / np.log2(rank + 2)))
    return [
        [
            f"{w:g}",
            f"{np.mean([h for h, _ in hits[w]]):.4f}",
            f"{np.mean([n for _, n in hits[w]]):.4f}",
        ]
        for w in weights
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--llm", default="local")
    parser.add_argument("--workspace", default=None, help="reuse trained models between runs")
    parser.add_argument(
        "--no-store",
        action="store_true",
        help="similar users by exact Jaccard over everyone instead of vector search first "
        "(skips embedding 9,681 documents)",
    )
    parser.add_argument("--modes", default="ranker,llm,random,llm-rerank,assistant")
    parser.add_argument(
        "--generate-users", type=int, default=0, help="also the LLM alone writing its picks"
    )
    parser.add_argument("--cli", action="store_true", help="also time whole `rag-recs ask` runs")
    parser.add_argument(
        "--weights", default="", help="also sweep llm_weight, e.g. 0,0.1,0.3,1 (same users)"
    )
    args = parser.parse_args()

    from rag_recs.assistant.build import build_assistant
    from rag_recs.data import load_movielens
    from rag_recs.data.schema import ITEM, USER
    from rag_recs.evaluation.assistant_eval import evaluate_assistant
    from rag_recs.workspace import Workspace

    path = ml100k_path()
    ws = Workspace(args.workspace or tempfile.mkdtemp(prefix="rag-recs-bench-"))
    data = load_movielens(path)
    use_store = not args.no_store
    rows = []
    for mode in args.modes.split(","):
        r = evaluate_assistant(data, mode, users=args.users, llm=args.llm, workspace=ws,
                               use_store=use_store)  # fmt: skip
        rows.append(_row(mode, r))
    if args.generate_users:
        r = evaluate_assistant(data, "llm", users=args.generate_users, llm=args.llm,
                               workspace=ws, use_store=use_store,
                               config={"llm_mode": "generate"})  # fmt: skip
        rows.append(_row(f"llm, writing its picks ({args.generate_users} users)", r))
    print_table(
        f"Protocol 3, MovieLens-100K leave-one-out, {args.users} users, k=10, LLM {args.llm}",
        ["mode", "Recall@10", "NDCG@10", "repeat rate", "fill rate", "LLM reasons",
         "invalid final", "latency p50 / p95 ms", "users"],
        rows,
    )  # fmt: skip

    latency_rows = []
    from rag_recs.data.split import leave_one_out

    train_frame, test = leave_one_out(data.interactions)
    train = data.subset(train_frame)  # the models trained above
    if args.weights:
        sample = test.sample(args.users, random_state=2024) if len(test) > args.users else test
        assistant = build_assistant(train, llm=args.llm, workspace=ws, use_store=use_store,
                                    progress=False)  # fmt: skip
        pairs = [(u.item() if hasattr(u, "item") else u, t) for u, t in
                 zip(sample[USER], sample[ITEM], strict=True)]  # fmt: skip
        weights = [float(w) for w in args.weights.split(",")]
        print_table(
            f"The blend with the LLM's probability (llm_weight), {len(pairs)} users, k=10",
            ["llm_weight", "Recall@10", "NDCG@10"],
            weight_sweep(assistant, pairs, weights),
        )
    for llm, mode in ((args.llm, "auto"), (args.llm, "generate"), ("none", "auto")):
        assistant = build_assistant(train, llm=llm, workspace=ws, use_store=use_store,
                                    progress=False)  # fmt: skip
        assistant.config = assistant.config.model_copy(update={"llm_mode": mode})
        how = f", llm_mode={mode}" if llm != "none" else ""
        for question, k in ((QUESTION_10, 10), (QUESTION, 2)):
            median, worst = _warm(assistant, question, k, runs=10 if mode != "generate" else 3)
            name = f"Assistant.ask, warm, k={k}, llm={llm}{how}"
            latency_rows.append([name, f"{median * 1000:.0f} ms", f"{worst * 1000:.0f} ms"])
    if args.cli:  # whole `rag-recs ask` processes on the generated data, own fresh workspace
        fresh = tempfile.mkdtemp(prefix="rag-recs-cli-")
        cli = [sys.executable, "-m", "rag_recs.cli.main", "ask", QUESTION, "--data", "synthetic",
               "--workspace", fresh, "--llm", args.llm, "--json"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(cli, capture_output=True, check=True)  # first use builds the models
        first = time.perf_counter() - start
        name = "rag-recs ask, whole process, first use (trains, indexes)"
        latency_rows.append([name, f"{first:.1f} s", f"{first:.1f} s"])
        starts = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(cli, capture_output=True, check=True)
            starts.append(time.perf_counter() - start)
        median, worst = statistics.median(starts), max(starts)
        name = "rag-recs ask, whole process (models cached)"
        latency_rows.append([name, f"{median:.1f} s", f"{worst:.1f} s"])
    print_table(
        "Answer latency for user 78 (k = 10, and the notebook's question with k = 2)",
        ["what", "median", "max"],
        latency_rows,
    )


if __name__ == "__main__":
    main()
