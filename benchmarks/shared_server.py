"""One ``chroma run`` server shared by many processes: sharded indexing and concurrent asks.

Data: MovieLens-100K (``RAG_RECS_ML100K``; 943 users, 1,682 items). Steps, on one server over
a temp dir, every process a real ``rag-recs`` command:

* the ranker is trained once in a fresh workspace (or ``--workspace``), untimed;
* (a) indexing: the whole store by 1 writer (``index``) into one collection, then by 2 writers
  at once (``index --shard 0/2`` and ``1/2``) into another. Wall time from the first start to
  the last exit, documents/s, the final count, duplicates (records beyond the documents the
  data makes: must be 0) and whether ids and content hashes equal the 1-writer store's;
* (b) asking: N = 1, 2, 4, 8 clients at once, each running ``--asks`` ``rag-recs ask --llm none
  --chroma-url ... --json`` processes one after another, each for another user, against the
  2-writer store. Per ask process: its wall time (start-up, loading, ranker, store queries)
  and the answer's own time (``timings.total``); p50 and p95 over every ask of that N, and
  errors (a non-zero exit, no items, or a note that the store was incomplete: must be 0).

Every process runs with ``OMP_NUM_THREADS=1`` (one core each), so N writers can use N cores
where a machine has them free. CPU time (``wait4``) is shown beside wall time: it hardly
depends on what else the machine runs.

    RAG_RECS_ML100K=../shared/data/ml-100k python benchmarks/shared_server.py
    ... --clients 1,2 --asks 2     # a quicker run
    ... --embeddings minilm        # index with MiniLM: embedding, not start-up, dominates
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _common import ml100k_path, print_table  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
for _name in ("RAG_RECS_CHROMA_URL", "RANK", "WORLD_SIZE"):
    ENV.pop(_name, None)


def rag_recs(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag_recs", *args]


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    """``chroma run`` on a free 127.0.0.1 port over ``path``, once it answers its heartbeat."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = str(Path(sys.executable).with_name("chroma"))
    command = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            return server, url
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                sys.exit("the chroma server did not start")
            time.sleep(0.2)


def run_json(command: list[str]) -> tuple[float, float, int, dict | None, str]:
    """Wall time, CPU time (user + system), exit code, parsed JSON (None if none) and the
    stderr tail of one command. The CPU time is the process's own (``wait4``): unlike the wall
    time, it hardly depends on what else the machine runs."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    with ThreadPoolExecutor(2) as pool:
        out, err = pool.submit(proc.stdout.read), pool.submit(proc.stderr.read)  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)
        stdout, stderr = out.result(), err.result()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        result = json.loads(stdout)
    except json.JSONDecodeError:
        result = None
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, result, stderr[-400:]


def index(
    data: str, workspace: Path, url: str, collection: str, writers: int, embeddings: list[str]
) -> tuple[float, float, list]:
    """``writers`` index processes at once, one share each: wall time, their CPU time
    together, and their results."""

    def one(i: int) -> tuple[float, float, int, dict | None, str]:
        shard = ["--shard", f"{i}/{writers}"] if writers > 1 else []
        args = ["index", "--data", data, "--workspace", str(workspace), "--chroma-url", url]
        args += ["--collection", collection, *shard, *embeddings]
        return run_json(rag_recs(*args, "--json"))

    start = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(one, range(writers)))
    wall = time.perf_counter() - start
    for *_, code, result, err in results:
        if code != 0 or result is None:
            sys.exit(f"index failed ({code}): {err}")
    return wall, sum(r[1] for r in results), [r[3] for r in results]


def contents(url: str, collection: str) -> dict[str, str]:
    """id -> content hash of every record in a collection (also checks ids are unique)."""
    from rag_recs.retrieval.client import http_client

    host = http_client(url).get_collection(collection, embedding_function=None)
    got = host.get(include=["metadatas"])
    assert len(got["ids"]) == len(set(got["ids"])) == host.count()
    return {i: m["hash"] for i, m in zip(got["ids"], got["metadatas"], strict=True)}


def asks(data: str, workspace: Path, url: str, clients: int, per: int, users: list) -> dict:
    """``clients`` clients at once, each running ``per`` ask processes in a row."""

    def client(c: int) -> list[tuple[float, float, float | None, bool]]:
        rows = []
        for a in range(per):
            user = users[(c * per + a) % len(users)]
            args = ["ask", f"suggest 3 movies for user {user}", "--data", data, "--llm", "none"]
            args += ["--workspace", str(workspace), "--chroma-url", url, "--json"]
            wall, cpu, code, result, _ = run_json(rag_recs(*args))
            ok = (
                code == 0
                and result is not None
                and len(result["items"]) == 3
                and result["user"] == user
                and not any("incomplete" in n for n in result.get("notes", []))
            )
            total = result["timings"]["total"] if ok and result else None
            rows.append((wall, cpu, total, ok))
        return rows

    with ThreadPoolExecutor(clients) as pool:
        rows = [r for batch in pool.map(client, range(clients)) for r in batch]
    walls = sorted(r[0] for r in rows)
    totals = sorted(r[2] for r in rows if r[2] is not None)
    return {
        "asks": len(rows),
        "p50": statistics.median(walls),
        "p95": _p95(walls),
        "cpu_p50": statistics.median(r[1] for r in rows),
        "answer_p50": statistics.median(totals) if totals else float("nan"),
        "answer_p95": _p95(totals) if totals else float("nan"),
        "errors": sum(not r[3] for r in rows),
    }


def _p95(values: list[float]) -> float:
    """The 95th percentile (inclusive method: exact at the ends of short lists)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,2,4,8", help="concurrent ask clients, e.g. 1,2,4")
    parser.add_argument("--asks", type=int, default=4, help="ask processes per client, in a row")
    parser.add_argument("--workspace", type=Path, help="reuse a workspace (its trained ranker)")
    parser.add_argument("--embeddings", help="index with this model (default: the default)")
    args = parser.parse_args()
    data = str(ml100k_path())
    tmp = Path(tempfile.mkdtemp(prefix="shared-server-"))
    workspace = args.workspace or tmp / "ws"
    server, url = start_server(tmp / "chroma")
    try:
        print(f"server {url}; training the ranker once (untimed)", file=sys.stderr)
        _, _, code, _, err = run_json(
            rag_recs("train", "--data", data, "--workspace", str(workspace), "--json")
        )
        if code != 0:
            sys.exit(f"train failed: {err}")

        rows = []
        model = ["--embeddings", args.embeddings] if args.embeddings else []
        one_wall, one_cpu, one = index(data, workspace, url, "one-writer", 1, model)
        two_wall, two_cpu, two = index(data, workspace, url, "rag-recs", 2, model)
        expected = contents(url, "one-writer")
        sharded = contents(url, "rag-recs")
        for label, wall, cpu, results, stored in (
            ("1 writer", one_wall, one_cpu, one, expected),
            ("2 writers (--shard 0/2, 1/2)", two_wall, two_cpu, two, sharded),
        ):
            docs = sum(r["added"] + r["updated"] for r in results)
            count = len(stored)  # contents() checked that it is the server's count
            rows.append(
                [
                    label,
                    f"{wall:.1f}",
                    f"{docs / wall:,.0f}",
                    f"{cpu:.1f}",
                    f"{count:,}",
                    str(count - len(expected)),
                    "yes" if stored == expected else "NO",
                    " / ".join(f"{r['seconds']:.1f}" for r in results),
                ]
            )
        print_table(
            f"Indexing MovieLens-100K into one chroma run server ({one[0]['embedding_model']})",
            [
                "writers",
                "wall s",
                "docs/s",
                "CPU s (all)",
                "final count",
                "duplicates",
                "= 1 writer",
                "sync s per writer",
            ],
            rows,
        )
        complete = any(r.get("store_complete") for r in two)

        users = list(range(1, 944, 7))  # 135 users, spread over the id range
        ask_rows = []
        for n in (int(c) for c in args.clients.split(",")):
            start = time.perf_counter()
            got = asks(data, workspace, url, n, args.asks, users)
            wall = time.perf_counter() - start
            ask_rows.append(
                [
                    str(n),
                    str(got["asks"]),
                    f"{got['p50']:.2f}",
                    f"{got['p95']:.2f}",
                    f"{got['cpu_p50']:.2f}",
                    f"{got['answer_p50'] * 1000:.0f}",
                    f"{got['answer_p95'] * 1000:.0f}",
                    f"{got['asks'] / wall:.2f}",
                    str(got["errors"]),
                ]
            )
        print_table(
            f"Concurrent `ask --llm none` processes against the server (2-writer store, "
            f"marked complete: {complete})",
            [
                "clients",
                "asks",
                "process p50 s",
                "process p95 s",
                "process CPU p50 s",
                "answer p50 ms",
                "answer p95 ms",
                "asks/s",
                "errors",
            ],
            ask_rows,
        )
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
