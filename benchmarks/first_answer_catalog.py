"""The first answer on a generated catalog from an empty workspace, where its seconds go.

Data: ``generate_catalog(30_000, 25_000, 300_000)``, ids only (``user_id,item_id,timestamp``,
the shape of a bare events file), written to Parquet. Whole ``rag-recs ask ... --llm none
--json`` processes, one after another: ``--repeats`` first asks, each in its own empty
workspace (it trains the ranker and builds the vector store), then repeated asks on a filled
workspace. Each first ask runs under cProfile (``--no-profile``: bare, stages not split, which
times the process without the profiler's overhead); the split by stage is the cumulative time
of:

- ``load``: ``load_dataset``;
- ``train``: ``Workspace.ranker`` (the fit), of which ``validation`` is the full-catalog NDCG
  check (``ndcg_validation``'s ``validate``);
- ``index``: ``open_store`` (opening, formerly building, the vector store);
- ``store wait``: the answer waiting for the store's background sync after the fit
  (``finish``), and ``store sync``: the sync itself, in its child process beside the training
  (from the ``--verbose`` log line; "-" where a tree syncs in a thread, or does not log it);
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
import re
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
    "store wait": ("rag_recs", "(finish)"),
    "answer": ("assistant.py", "(run)"),
}
SYNCED = re.compile(r"vector store synced beside the training: .* in ([0-9.]+) s")


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


def ask(
    data: Path, workspace: Path, package: Path, profile: Path | None
) -> tuple[float, float | None]:
    """Wall seconds of one whole ``rag-recs ask`` process, and of its store's background sync
    (None when it did not sync in a child process)."""
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "rag_recs", "--verbose", "ask", QUESTION, "--data", str(data)]
    command += ["--llm", "none", "--workspace", str(workspace), "--json"]
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", PYTHONPATH=str(package))
    start = time.perf_counter()
    # run beside the workspace: ``-m`` puts the working directory first on the path, where
    # this repository's root would shadow ``package``
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workspace.parent)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    synced = SYNCED.search(proc.stderr)
    return seconds, float(synced.group(1)) if synced else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="first asks (fresh workspaces)")
    parser.add_argument("--warm", type=int, default=3, help="repeated asks afterwards")
    parser.add_argument("--package", type=Path, default=ROOT, help="tree holding rag_recs/")
    parser.add_argument("--data", type=Path, default=None, help="reuse this Parquet file")
    parser.add_argument("--work", type=Path, default=None, help="keep workspaces here")
    parser.add_argument("--no-profile", action="store_true", help="first asks without cProfile")
    args = parser.parse_args()
    args.package = args.package.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        data = (args.data or work / "catalog-3e5.parquet").resolve()
        if not data.exists():
            sys.path.insert(0, str(args.package))
            from rag_recs.data.synthetic import generate_catalog

            frame = generate_catalog(30_000, 25_000, 300_000, titles=False, text=False)
            frame.interactions.to_parquet(data, index=False)
        rows = []
        for n in range(args.repeats):
            workspace, profile = work / f"ws-first-{n}", work / f"first-{n}.prof"
            if args.no_profile:
                profile = None
            seconds, synced = ask(data, workspace, args.package, profile)
            stages = {} if profile is None else stage_seconds(profile)
            rows.append({"process": seconds, **stages, "store sync": synced})
            print(f"first ask {n + 1}: {seconds:.1f} s {stages} store sync {synced}",
                  file=sys.stderr, flush=True)  # fmt: skip
        warm = [ask(data, work / "ws-first-0", args.package, None)[0] for _ in range(args.warm)]
    table = []
    for key in ("process", *STAGES, "store sync"):
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values:
            table.append([f"first ask: {key}", "-", "-", "-"])
            continue
        table.append([f"first ask: {key}", f"{statistics.median(values):.1f}",
                      f"{min(values):.1f}", f"{max(values):.1f}"])  # fmt: skip
    if warm:
        table.append(["repeated ask --llm none", f"{statistics.median(warm):.2f}",
                      f"{min(warm):.2f}", f"{max(warm):.2f}"])  # fmt: skip
    how = "bare" if args.no_profile else "under cProfile"
    print_table(
        f"ask on a generated catalog (30,000 users x 25,000 items, 3e5 interactions), "
        f"{args.repeats} first asks ({how}), {args.warm} repeated; seconds",
        ["", "median", "min", "max"],
        table,
    )


if __name__ == "__main__":
    main()
