"""Index MovieLens-100K (943 users + 1,682 items) into a fresh history store, then again.

Prints one table: documents, wall time of the first build, time inside the embedding model and
the share outside it (target < 25%), the no-change sync as a share of the first build (target
< 5%, in-process), and the same pair as whole ``rag-recs index`` processes (target < 10%).

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/index_ml100k.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import ml100k_path, print_table  # noqa: E402


def in_process(path: Path, store_dir: Path) -> dict[str, float]:
    """First build and no-change sync in this process, timed from loading the data."""
    from rag_recs.data import load_movielens
    from rag_recs.retrieval import HistoryStore, LazyEmbeddings

    start = time.perf_counter()
    dataset = load_movielens(path)
    lazy = LazyEmbeddings()
    first = HistoryStore(store_dir, embeddings=lazy, create=True).sync(dataset)
    total = time.perf_counter() - start

    start = time.perf_counter()
    again_lazy = LazyEmbeddings()
    again = HistoryStore(store_dir, embeddings=again_lazy, create=True).sync(
        dataset, progress=False
    )
    second = time.perf_counter() - start
    assert again.embedded == 0 and again.unchanged == first.documents and not again_lazy.loaded
    users = sum(1 for _ in dataset.seen)
    return {
        "documents": first.documents,
        "users": users,
        "total": total,
        "embed": lazy.seconds,
        "load": lazy.load_seconds,
        "second": second,
    }


def cli_run(path: Path, workspace: Path) -> float:
    """Wall time of one whole ``rag-recs index`` process."""
    script = Path(sys.executable).with_name("rag-recs")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "rag_recs.cli.main"]
    command += ["index", "--data", str(path), "--workspace", str(workspace)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"rag-recs index failed:\n{proc.stderr}")
    print(proc.stdout.strip(), file=sys.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cli", action="store_true", help="Skip the two whole-process runs.")
    args = parser.parse_args()
    path = ml100k_path()
    with tempfile.TemporaryDirectory(prefix="rag-recs-index-") as tmp:
        r = in_process(path, Path(tmp) / "store")
        print(f"in-process: {r}", file=sys.stderr)
        cli = (
            None
            if args.no_cli
            else (cli_run(path, Path(tmp) / "ws"), cli_run(path, Path(tmp) / "ws"))
        )
    outside = (r["total"] - r["embed"]) / r["total"]
    rows = [
        ["documents (user chunks + items)", f"{r['documents']:,} ({r['users']} users)", "", ""],
        ["first build, in-process (s)", f"{r['total']:.1f}", "", ""],
        ["  inside the embedding model (s)", f"{r['embed']:.1f}", "", ""],
        ["  loading the model (s)", f"{r['load']:.1f}", "", ""],
        ["  share outside the model", f"{outside:.1%}", "< 25%", _ok(outside < 0.25)],
        ["no-change sync, in-process (s)", f"{r['second']:.2f}", "", ""],
        [
            "  share of the first build",
            f"{r['second'] / r['total']:.2%}",
            "< 5%",
            _ok(r["second"] / r["total"] < 0.05),
        ],
    ]
    if cli is not None:
        share = cli[1] / cli[0]
        rows += [
            ["first `rag-recs index` process (s)", f"{cli[0]:.1f}", "", ""],
            ["no-change `rag-recs index` process (s)", f"{cli[1]:.1f}", "", ""],
            ["  share of the first process", f"{share:.1%}", "< 10%", _ok(share < 0.10)],
        ]
    print_table(
        "Indexing MovieLens-100K (all-MiniLM-L6-v2, embedded Chroma)",
        ["measure", "value", "target", "met"],
        rows,
    )


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


if __name__ == "__main__":
    main()
