"""The first answer on a generated catalog from an empty workspace, where its seconds go.

Data: ``generate_catalog(30_000, 25_000, 300_000)``, ids only (``user_id,item_id,timestamp``,
the shape of a bare events file), written to Parquet. Whole ``rag-recs ask ... --llm none
--json`` processes, one after another: ``--repeats`` first asks, each in its own empty
workspace (it trains the ranker and builds the vector store), then repeated asks on a filled
workspace. Each first ask runs under cProfile; the split by stage is the cumulative time of:

- ``load``: ``load_dataset``;
- ``train``: ``Workspace.ranker`` (the fit), of which ``validation`` is the per-epoch
  full-catalog NDCG check (``ndcg_validation``'s ``validate``);
- ``index``: ``open_store`` (building the vector store);
- ``answer``: the assistant answering, once built;
- ``process``: the whole process as timed from outside (imports included).

``--package DIR`` runs another tree's package (for example today's, extracted with ``git
archive``) on the same data.

    python benchmarks/first_answer_catalog.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402

QUESTION = "3 items for user 1"
STAGES = {
    "load": ("load_dataset",),
    "train": ("(ranker)",),
    "validation": ("(validate)",),
    "index": ("(open_store)",),
    "answer": ("assistant.py", "(run)"),
}


def stage_seconds(profile: Path) -> dict[str, float]:
    """The cumulative seconds of each stage's function in a cProfile dump."""
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    out = {}
    for stage, needles in STAGES.items():
        found = [
            cum
            for (file, line, name), (_, _, _, cum, _) in stats.items()
            if all(n in f"{file}:{line}({name})" for n in needles)
        ]
        out[stage] = max(found, default=0.0)
    return out


def ask(data: Path, workspace: Path, package: Path, profile: Path | None) -> float:
    """Wall seconds of one whole ``rag-recs ask`` process."""
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "rag_recs", "ask", QUESTION, "--data", str(data), "--llm", "none"]
    command += ["--workspace", str(workspace), "--json"]
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", PYTHONPATH=str(package))
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="first asks (fresh workspaces)")
    parser.add_argument("--warm", type=int, default=3, help="repeated asks afterwards")
    parser.add_argument("--package", type=Path, default=ROOT, help="tree holding rag_recs/")
    parser.add_argument("--data", type=Path, default=None, help="reuse this Parquet file")
    parser.add_argument("--work", type=Path, default=None, help="keep workspaces here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = args.data or work / "catalog-3e5.parquet"
        if not data.exists():
            sys.path.insert(0, str(args.package))
            from rag_recs.data.synthetic import generate_catalog

            frame = generate_catalog(30_000, 25_000, 300_000, titles=False, text=False)
            frame.interactions.to_parquet(data, index=False)
        rows = []
        for n in range(args.repeats):
            workspace, profile = work / f"ws-first-{n}", work / f"first-{n}.prof"
            seconds = ask(data, workspace, args.package, profile)
            stages = stage_seconds(profile)
            rows.append({"process": seconds, **stages})
            print(f"first ask {n + 1}: {seconds:.1f} s {stages}", file=sys.stderr, flush=True)
        warm = [ask(data, work / "ws-first-0", args.package, None) for _ in range(args.warm)]
    table = []
    for key in ("process", *STAGES):
        values = [r[key] for r in rows]
        table.append([f"first ask: {key}", f"{statistics.median(values):.1f}",
                      f"{min(values):.1f}", f"{max(values):.1f}"])  # fmt: skip
    if warm:
        table.append(["repeated ask --llm none", f"{statistics.median(warm):.2f}",
                      f"{min(warm):.2f}", f"{max(warm):.2f}"])  # fmt: skip
    print_table(
        f"ask on a generated catalog (30,000 users x 25,000 items, 3e5 interactions), "
        f"{args.repeats} first asks, {args.warm} repeated; seconds",
        ["", "median", "min", "max"],
        table,
    )


if __name__ == "__main__":
    main()
