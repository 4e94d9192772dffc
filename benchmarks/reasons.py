"""Reasons a person can check: how often a reason names an item of the user's own history, which
kind of evidence leads it, and the latency of an answer, on three kinds of data.

Data: MovieLens-100K (titles and genres), catalog-shaped generated data (power-law popularity,
sparse users, titles and a topic per item: ``generate_catalog``), and the same data with ids
only (no items table). For ``--users`` users (seeded sample) the assistant (``--llm none``,
with its vector store) answers ``recommend(user, 5)``; for every item:
- "names own history": the reason quotes the title (or ``#id``) of an item the user
  interacted with, checked against the interactions table;
- "before (same-genre rule)": what the previous reasons could name, recomputed: a liked item
  sharing the item's first genre (none on ids-only data);
- the share of reasons led by each kind of link (co-occurrence, vector, feature, constraint,
  popularity);
- p50 / p95 milliseconds of ``recommend`` (warm: one answer first), and the p50 of the part
  spent on the reasons (``timings["explain"]``: links, ranks and sentences).

    RAG_RECS_ML100K=/path/ml-100k python benchmarks/reasons.py [--users 200] [--workspace DIR]
        [--only ml-100k,titles,ids]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ml100k_path, print_table  # noqa: E402

from rag_recs.assistant.build import build_assistant  # noqa: E402
from rag_recs.config import RankerConfig  # noqa: E402
from rag_recs.data.loaders import load_dataset  # noqa: E402
from rag_recs.data.schema import GENRES, ITEM, Dataset  # noqa: E402
from rag_recs.data.synthetic import generate_catalog  # noqa: E402

KINDS = ["co-occurrence", "vector", "feature", "constraint", "popularity"]


def datasets(args: argparse.Namespace) -> list[tuple[str, Dataset]]:
    size = (args.catalog_users, args.catalog_items, args.catalog_interactions)
    makers = {
        "ml-100k": ("ML-100K", lambda: load_dataset(ml100k_path())),
        "titles": ("catalog (titles)", lambda: generate_catalog(*size, seed=11)),
        "ids": (
            "catalog (ids only)",
            lambda: generate_catalog(*size, titles=False, text=False, seed=11),
        ),
    }
    return [(makers[key][0], makers[key][1]()) for key in args.only.split(",")]


def named(dataset: Dataset, item: object) -> str:
    title = dataset.title(item)
    return f"#{item}" if title == f"item {item}" else f"'{title}'"


def measure(name: str, dataset: Dataset, users: int, workspace: str, k: int = 5) -> list[str]:
    assistant = build_assistant(
        dataset, llm="none", workspace=workspace, progress=False,
        ranker_config=RankerConfig(progress=False, seed=5), first_answer_s=600.0,
    )  # fmt: skip
    table = dataset.interactions
    seen = {u: set(g) for u, g in table.groupby("user_id")[ITEM]}
    liked = seen
    if "rating" in table:
        liked = {u: set(g) for u, g in table[table.rating >= 4].groupby("user_id")[ITEM]}
    genres = {}
    if dataset.items is not None and GENRES in dataset.items:
        genres = dict(zip(dataset.items[ITEM], dataset.items[GENRES], strict=True))
    sample = random.Random(0).sample(sorted(seen), min(users, len(seen)))
    assistant.recommend(sample[0], k)  # warm-up
    own, before, lead, times, explain, n = 0, 0, Counter(), [], [], 0
    for user in sample:
        start = time.perf_counter()
        answer = assistant.recommend(user, k)
        times.append(time.perf_counter() - start)
        explain.append(answer.timings["explain"])
        history = seen[user]
        for item in answer.items:
            n += 1
            own += any(named(dataset, h) in item.reason for h in history)
            first = (genres.get(item.item_id) or [None])[0]
            before += any(first in genres.get(h, ()) for h in liked.get(user, ())) if first else 0
            links = item.evidence.links
            lead[links[0].kind if links else "none"] += 1
    store = "store" if assistant.store is not None else "no store"
    p95 = sorted(times)[int(0.95 * len(times))]
    return [
        f"{name} ({store})",
        f"{len(sample)} x {k}",
        f"{own / n:.3f}",
        f"{before / n:.3f}",
        *[f"{lead[kind] / n:.3f}" for kind in KINDS],
        f"{statistics.median(times) * 1000:.0f} / {p95 * 1000:.0f}",
        f"{statistics.median(explain) * 1000:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--catalog-users", type=int, default=20_000)
    parser.add_argument("--catalog-items", type=int, default=10_000)
    parser.add_argument("--catalog-interactions", type=int, default=200_000)
    parser.add_argument("--workspace", help="keep rankers and stores here (default: a temp dir)")
    parser.add_argument("--only", default="ml-100k,titles,ids", help="which data, in order")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        for name, dataset in datasets(args):
            rows.append(measure(name, dataset, args.users, args.workspace or temp))
            print(f"done: {name}: {' | '.join(rows[-1])}", file=sys.stderr)
    columns = ["data", "answers", "names own history", "before (same-genre rule)"]
    columns += [f"led by {kind}" for kind in KINDS] + ["ms p50 / p95", "reasons ms p50"]
    print_table("Reasons tied to the user's own history (k = 5, --llm none)", columns, rows)


if __name__ == "__main__":
    main()
