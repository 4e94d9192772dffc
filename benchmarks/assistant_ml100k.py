"""The assistant on MovieLens-100K leave-one-out (protocol 3, docs/protocols.md), and latency.

One table: ranker-only, LLM-only and the assistant (Recall@10, NDCG@10, invalid shares before
and after validation, fill rate, latency), then the latency of ``Assistant.ask`` for the
notebook's question (k = 2) in a warm process with the local LLM and with ``llm="none"``, and
the cold start of ``rag-recs ask`` as a whole process.

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


def _parts(r: dict) -> str:
    if "unknown" not in r:
        return "-"
    return " / ".join(f"{r[k]:.3f}" for k in ("unknown", "seen", "duplicate"))


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
    parser.add_argument("--modes", default="ranker,llm,assistant")
    parser.add_argument("--cli", action="store_true", help="also time whole `rag-recs ask` runs")
    args = parser.parse_args()

    from rag_recs.assistant.build import build_assistant
    from rag_recs.data import load_movielens
    from rag_recs.evaluation.assistant_eval import evaluate_assistant
    from rag_recs.workspace import Workspace

    path = ml100k_path()
    ws = Workspace(args.workspace or tempfile.mkdtemp(prefix="rag-recs-bench-"))
    data = load_movielens(path)
    rows = []
    for mode in args.modes.split(","):
        r = evaluate_assistant(
            data, mode, users=args.users, llm=args.llm, workspace=ws, use_store=not args.no_store
        )
        rows.append([
            mode, f"{r['recall@10']:.4f}", f"{r['ndcg@10']:.4f}",
            f"{r.get('invalid_proposed', 0):.3f}" if mode != "ranker" else "-",
            _parts(r),
            f"{r['invalid_final']:.3f}",
            f"{r['fill_rate']:.2f}" if mode == "assistant" else "-",
            f"{r['latency_p50_s'] * 1000:.0f} / {r['latency_p95_s'] * 1000:.0f}", str(r["n_users"]),
        ])  # fmt: skip
    print_table(
        f"Protocol 3, MovieLens-100K leave-one-out, {args.users} users, k=10, LLM {args.llm}",
        ["mode", "Recall@10", "NDCG@10", "invalid proposed", "unknown / seen / dup",
         "invalid final", "fill rate", "latency p50 / p95 ms", "users"],
        rows,
    )  # fmt: skip

    latency_rows = []
    from rag_recs.data.split import leave_one_out

    train = data.subset(leave_one_out(data.interactions)[0])  # the models trained above
    for llm in (args.llm, "none"):
        assistant = build_assistant(
            train, llm=llm, workspace=ws, use_store=not args.no_store, progress=False
        )
        assistant.ask(QUESTION)  # warm-up: loads the model, fills caches
        times = []
        for _ in range(10):
            start = time.perf_counter()
            answer = assistant.ask(QUESTION)
            times.append(time.perf_counter() - start)
        assert len(answer.items) == 2
        name = f"Assistant.ask, warm process, llm={llm}"
        median, worst = statistics.median(times) * 1000, max(times) * 1000
        latency_rows.append([name, f"{median:.0f} ms", f"{worst:.0f} ms"])
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
        "Answer latency, the notebook's question (k = 2) for user 78",
        ["what", "median", "max"],
        latency_rows,
    )


if __name__ == "__main__":
    main()
