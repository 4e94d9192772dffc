"""Load on ``rag-recs serve``: concurrent clients, latency percentiles, errors and server RSS.

For each LLM setting, one ``rag-recs serve`` process is started on the data (its workspace is
filled first, so start-up is not timed), then ``--clients`` threads each send their requests
one after another, alternating ``POST /recommend`` (k = 10) and ``POST /ask`` over seeded
users. Reported: requests, throughput, p50 / p95 / p99 latency, errors (any non-200 or
transport error), and the server's resident memory (``/proc/PID/status`` VmRSS) after a warm-up
of one request per client and at the end (growth must stay under 5%).

With the local LLM every ``/ask`` runs one forward pass of SmolLM2 (it ranks the lettered
candidates), one request at a time; its run sends ``--llm-requests`` per client (said in the
table).

    python benchmarks/serve_load.py                      # generated data
    python benchmarks/serve_load.py --data $RAG_RECS_ML100K
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start(data: str, llm: str, workspace: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "rag_recs", "serve", "--data", data, "--llm", llm]
    command += ["--workspace", str(workspace), "--port", str(port)]
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.5)


def load(url: str, users: list, clients: int, per_client: int, seed: int) -> dict:
    """Every client sends ``per_client`` requests in turn; all clients at once."""

    def client(c: int) -> list[tuple[float, bool]]:
        rng = random.Random(seed + c)
        out = []
        with httpx.Client(timeout=600) as http:
            for n in range(per_client):
                user = rng.choice(users)
                tic = time.perf_counter()
                try:
                    if (c + n) % 2:
                        reply = http.post(f"{url}/recommend", json={"user": user, "k": 10})
                    else:
                        question = f"Suggest 10 items to user {user} that they have not seen"
                        reply = http.post(f"{url}/ask", json={"question": question})
                    ok = reply.status_code == 200 and len(reply.json()["items"]) == 10
                except httpx.HTTPError:
                    ok = False
                out.append((time.perf_counter() - tic, ok))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rows in pool.map(client, range(clients)) for r in rows]
    seconds = time.perf_counter() - start
    latencies = sorted(t for t, _ in results)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(results),
        "seconds": seconds,
        "throughput": len(results) / seconds,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "errors": sum(not ok for _, ok in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per client, --llm none")
    parser.add_argument("--llm-requests", type=int, default=200, help="per client, local LLM")
    parser.add_argument("--llms", nargs="+", default=["none", "local"])
    args = parser.parse_args()

    from rag_recs.data import load_dataset

    users = [int(u) if str(u).isdigit() else u for u in load_dataset(args.data).user_index]
    users = random.Random(2024).sample(users, min(200, len(users)))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-recs-serve-") as workspace:
        for llm in args.llms:
            proc, url = start(args.data, llm, Path(workspace))
            try:
                per = args.requests if llm == "none" else args.llm_requests
                load(url, users, args.clients, 1, seed=0)  # warm-up: one request per client
                before = rss_mib(proc.pid)
                r = load(url, users, args.clients, per, seed=1)
                after = rss_mib(proc.pid)
            finally:
                proc.terminate()
                proc.wait(60)
            rows.append(
                [
                    llm,
                    f"{args.clients} x {per}",
                    f"{r['throughput']:.1f}",
                    f"{r['p50']:.3f}",
                    f"{r['p95']:.3f}",
                    f"{r['p99']:.3f}",
                    str(r["errors"]),
                    f"{before:,.0f} -> {after:,.0f} ({100 * (after / before - 1):+.1f}%)",
                ]
            )
    print_table(
        f"rag-recs serve under load on {args.data}: /ask and /recommend (k = 10) alternating",
        ["--llm", "clients x requests", "req/s", "p50 s", "p95 s", "p99 s", "errors", "RSS MiB"],
        rows,
    )


if __name__ == "__main__":
    main()
