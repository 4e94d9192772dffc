"""10,000 ``Assistant.ask`` calls in one process: resident memory and open files stay flat.

The assistant is built once on generated data (``llm="none"``, the vector store included), then
answers ``--asks`` questions cycling over users, phrasings and constraints. Resident memory
(RSS, from ``/proc/self/status``) and the number of open file descriptors (``/proc/self/fd``)
are read after a warm-up of ``--warmup`` asks and every ``--every`` asks after it. Targets:
RSS grows by less than 5% from the warm-up to the end, and no file handle leaks.

    python benchmarks/repeat_asks.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402

PHRASES = [
    "Suggest {k} articles to user {u} that they have not seen",
    "{k} items for user {u}, give a reason",
    "recommend something to user {u}",
    "Give user {u} {k} {topic} articles but not {other}",
    "why #2",
    "3 more",
]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def handle_kinds() -> Counter:
    """Open descriptors by what they point at (a file's name, or its kind: socket, eventfd...)."""
    kinds: Counter = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listing
            continue
        kinds[Path(target).name if target.startswith("/") else target.split(":")[0]] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asks", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--every", type=int, default=1_000)
    args = parser.parse_args()

    from rag_recs.assistant.build import build_assistant
    from rag_recs.data.synthetic import generate

    dataset = generate()
    with tempfile.TemporaryDirectory(prefix="rag-recs-repeat-") as workspace:
        assistant = build_assistant(dataset, llm="none", workspace=workspace, progress=False)
        users = list(assistant.pipeline.index.users)
        topics = assistant.genre_names or ["any"]

        def question(n: int) -> str:
            phrase = PHRASES[n % len(PHRASES)]
            return phrase.format(
                k=1 + n % 7,
                u=users[(n * 7919) % len(users)],
                topic=topics[n % len(topics)],
                other=topics[(n + 3) % len(topics)],
            )

        for n in range(args.warmup):
            assistant.ask(question(n))
        base_rss, base_fds, base_kinds = rss_mib(), open_files(), handle_kinds()
        rows = [["warm-up", f"{args.warmup:,}", f"{base_rss:,.1f}", "", str(base_fds)]]
        start, items, n = time.perf_counter(), 0, args.warmup
        for done in range(1, args.asks + 1):
            answer = assistant.ask(question(n))
            items += len(answer.items)
            n += 1
            if done % args.every == 0 or done == args.asks:
                rss = rss_mib()
                rows.append(
                    [
                        "asks",
                        f"{done:,}",
                        f"{rss:,.1f}",
                        f"{100 * (rss / base_rss - 1):+.2f}%",
                        str(open_files()),
                    ]
                )
        seconds = time.perf_counter() - start
        opened = handle_kinds() - base_kinds
    print_table(
        f"{args.asks:,} asks in one process (llm none, vector store on): RSS and open files",
        ["after", "count", "RSS MiB", "growth since warm-up", "open fds"],
        rows,
    )
    print(
        f"{args.asks:,} asks in {seconds:.1f} s ({1000 * seconds / args.asks:.1f} ms each), "
        f"{items:,} items answered; RSS {base_rss:,.1f} -> {rss:,.1f} MiB "
        f"({100 * (rss / base_rss - 1):+.2f}%), open fds {base_fds} -> {open_files()}"
    )
    print("descriptors opened after the warm-up and still open:", dict(opened) or "none")


if __name__ == "__main__":
    main()
