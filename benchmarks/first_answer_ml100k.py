"""The first answer on MovieLens-100K from an empty workspace, and repeated answers.

Whole ``rag-recs ask`` processes, one after another: ``--repeats`` first asks, each in its own
empty workspace (it trains the ranker and builds the vector store), then repeated asks on the
filled workspace with ``--llm none`` and with the local LLM. After every process it checks that
nothing it started is still running. Prints one table (median, min, max) and what each first
answer says it used.

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/first_answer_ml100k.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ml100k_path, print_table  # noqa: E402

QUESTION = "Suggest 3 movies to user 78 that they have not seen, and give a reason"


def ask(workspace: Path, llm: str) -> tuple[float, dict]:
    """Wall time of one whole ``rag-recs ask`` process, and its JSON answer."""
    command = [sys.executable, "-m", "rag_recs", "ask", QUESTION, "--data", str(ml100k_path())]
    command += ["--workspace", str(workspace), "--llm", llm, "--json"]
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    leftover = subprocess.run(["pgrep", "-f", str(workspace)], capture_output=True, text=True)
    if leftover.stdout.strip():
        raise RuntimeError(f"processes left running after ask: {leftover.stdout.split()}")
    return seconds, json.loads(proc.stdout)


def summary(name: str, times: list[float]) -> list[str]:
    return [
        name,
        str(len(times)),
        f"{statistics.median(times):.1f}",
        f"{min(times):.1f}",
        f"{max(times):.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="first asks (fresh workspaces)")
    parser.add_argument("--warm", type=int, default=5, help="repeated asks per LLM setting")
    parser.add_argument("--llm", default="local", help="the LLM of the first and warm asks")
    args = parser.parse_args()

    firsts, used = [], []
    keep = Path(tempfile.mkdtemp(prefix="rag-recs-first-"))
    for n in range(args.repeats):
        workspace = keep / f"run-{n}"
        seconds, answer = ask(workspace, args.llm)
        firsts.append(seconds)
        used.append([f"{n + 1}", f"{seconds:.1f}", "; ".join(answer.get("notes", [])) or "-"])
        assert len(answer["items"]) == 3, answer
        if n < args.repeats - 1:
            shutil.rmtree(workspace)
    warm = keep / f"run-{args.repeats - 1}"
    rows = [summary(f"first ask, empty workspace, --llm {args.llm}", firsts)]
    for llm in ("none", args.llm):
        rows.append(
            summary(f"repeated ask, --llm {llm}", [ask(warm, llm)[0] for _ in range(args.warm)])
        )
    print_table(
        "rag-recs ask on MovieLens-100K, whole process, seconds",
        ["what", "runs", "median", "min", "max"],
        rows,
    )
    print_table("What each first answer said it used", ["run", "seconds", "notes"], used)
    shutil.rmtree(keep)


if __name__ == "__main__":
    main()
