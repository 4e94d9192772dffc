"""Scaling curve on generated data: load, train, index and ask at 10^4 to 10^7 interactions.

For each size it writes generated interactions to Parquet and runs every step as its own
process, measuring wall time and peak resident memory (RSS):

- ``load``: ``rag_recs.data.load_dataset(FILE)`` (the process also imports the package);
- ``train-1``: a fit with ``RankerConfig(epochs=1)`` (the first epoch as a whole process);
- ``train``: ``rag-recs train --data FILE --workspace WS --json``, the full default fit (with
  ``--max-epochs``, the same fit through ``RankerConfig(epochs=N)``, since the CLI has no epoch
  option); the per-epoch wall times come from the saved model's ``ranker.json`` train log;
- ``index``: ``rag-recs index --data FILE --workspace WS --json`` (same workspace as train);
- ``ask-first``: ``rag-recs ask "3 items for user U" --llm none --json`` in a fresh workspace of
  its own, so it trains (always the default fit) and indexes first;
- ``ask-warm``: the same command again on the now-filled workspace.

Peak RSS is GNU time's ``%M`` (``/usr/bin/time -f %M -o FILE``: the maximum resident set of the
measured process, as the kernel reports it to ``wait4``; no Python parent is counted). Where
``/usr/bin/time`` is missing, a thread polls the process tree with psutil every 50 ms (sum of
RSS over the tree; it can miss short peaks). A step over ``--budget-s`` is killed with its
process group and reported as over budget; a larger size then skips that step (and says so).

Data (``--shape topics``, the default): ``n_users = N / mean_activity`` (24, the generator's
default), ``n_items = max(360, N // 500)``. ``--shape catalog`` uses
``rag_recs.data.synthetic.generate_catalog`` instead (``N / 10`` users, ``N / 20`` items,
power-law popularity, ids only). Sizes up to ``--fast-above`` use the package's generator
(``rag_recs.data.synthetic.generate``, a Python loop: about 70 us an interaction at 360 items,
slower as the topic pools grow); larger ones use ``generate_fast`` below, a vectorised variant
with the same catalogue, tastes, activity, sessions, popularity and ratings. Only interactions
are written: the CLI's ``--data`` takes no items table. Row counts are what the generator gave
(a few percent under N); bytes per interaction divide by them.

Writes ``benchmarks/results/scaling.json`` (raw numbers) and ``scaling.png`` (log-log). The
full run (hours on 2 cores; each step at most an hour):

    nice -n 10 .venv/bin/python benchmarks/scaling.py --sizes 1e4 1e5 1e6 1e7 --budget-s 3600
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402

from rag_recs.config import RankerConfig  # noqa: E402  (pydantic only: no torch here)

STEPS = ("load", "train-1", "train", "index", "ask-first", "ask-warm")
TIME_BIN = "/usr/bin/time"
MEAN_ACTIVITY = 24.0
SEED = 7

LOAD_CHILD = """
import json, sys, time
start = time.perf_counter()
from rag_recs.data import load_dataset
imported = time.perf_counter()
d = load_dataset(sys.argv[1])
print(json.dumps({"import_s": imported - start, "load_s": time.perf_counter() - imported,
                  "rows": len(d.interactions)}))
"""

# a fit with a chosen epoch cap, saved in the workspace like ``rag-recs train`` does
TRAIN_CHILD = """
import json, sys, time
from rag_recs.config import RankerConfig
from rag_recs.data import load_dataset
from rag_recs.workspace import Workspace
d = load_dataset(sys.argv[1])
ws, cfg = Workspace(sys.argv[2]), RankerConfig(epochs=int(sys.argv[3]), progress=False)
start = time.perf_counter()
ranker, _ = ws.ranker(d, cfg)
print(json.dumps({"model_dir": str(ws.ranker_dir(d, cfg)), "epochs": len(ranker.log.losses),
                  "best_epoch": ranker.log.best_epoch + 1,
                  "seconds": time.perf_counter() - start}))
"""


# ---------------------------------------------------------------------------------------------
# data


def generate_fast(n_users: int, n_items: int, mean_activity: float, seed: int = SEED):
    """Interactions like ``synthetic.generate``'s, built with array operations.

    The catalogue's topics and popularity, the users' tastes and activity come from the same
    random draws as ``generate`` (same seed, same order), so they are the same; so are the
    per-user read counts. The reading process is the same: each read starts a new session with
    probability 0.4 (topic drawn by taste, a gap of hours to days), a topic whose items the user
    has all read is swapped for another drawn by taste, items are drawn within the topic by
    popularity without repeats, ratings follow the topic's share of the user's taste. Only the
    random stream differs. Items without repeats: draws with replacement, repeats dropped (the
    same distribution), a few rounds, then exponential keys (Efraimidis-Spirakis) over the
    topic's items for the (user, topic) pairs still short.
    """
    from rag_recs.data.schema import ITEM, RATING, TIME, USER
    from rag_recs.data.synthetic import TOPICS

    rng = np.random.default_rng(seed)
    n_topics = len(TOPICS)
    item_topic = np.arange(n_items) % n_topics
    rng.shuffle(item_topic)
    popularity = rng.lognormal(0.0, 1.0, n_items)
    taste = rng.dirichlet(np.full(n_topics, 0.25), n_users)
    activity = np.clip(
        rng.lognormal(np.log(mean_activity) - 0.3, 0.75, n_users), 4, n_items // 2
    ).astype(np.int64)

    # inverse CDFs as one increasing array each: user u's taste in [u, u + 1), topic t's
    # popularity in (t, t + 1]; a draw is one searchsorted
    cum_taste = np.cumsum(taste, axis=1)
    cum_taste[:, -1] = 1.0
    taste_key = (cum_taste + np.arange(n_users)[:, None]).ravel()
    by_topic = np.argsort(item_topic, kind="stable")  # item ids grouped by topic
    sorted_topic = item_topic[by_topic]
    pool_size = np.bincount(item_topic, minlength=n_topics)
    starts = np.searchsorted(sorted_topic, np.arange(n_topics))
    ends = starts + pool_size - 1
    weights = popularity[by_topic]
    cum = np.cumsum(weights)
    base = np.concatenate(([0.0], cum))[starts]
    total = np.add.reduceat(weights, starts)
    item_key = sorted_topic + (cum - base[sorted_topic]) / total[sorted_topic]

    def topics_for(users: np.ndarray, uniform: bool) -> np.ndarray:
        r = rng.random(len(users))
        if uniform:
            return np.minimum((r * n_topics).astype(np.int64), n_topics - 1)
        pos = np.searchsorted(taste_key, users + r, side="right")
        return np.clip(pos - users * n_topics, 0, n_topics - 1)

    def items_for(topics: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(item_key, topics + rng.random(len(topics)), side="right")
        return by_topic[np.clip(pos, starts[topics], ends[topics])]

    def rank_in_group(sorted_groups: np.ndarray) -> np.ndarray:
        return np.arange(len(sorted_groups)) - np.searchsorted(sorted_groups, sorted_groups)

    # the reads: a session flag each, a topic per session, reads past a topic's size moved
    n = int(activity.sum())
    users = np.repeat(np.arange(n_users), activity)
    first = np.zeros(n, bool)
    first[np.cumsum(activity) - activity] = True
    flag = rng.random(n) > 0.6
    opens = flag | first
    topic = topics_for(users[opens], uniform=False)[np.cumsum(opens) - 1]
    for round_ in range(1000):
        group = users * n_topics + topic
        order = np.argsort(group, kind="stable")
        rank = np.empty(n, np.int64)
        rank[order] = rank_in_group(group[order])
        over = np.flatnonzero(rank >= pool_size[topic])
        if not over.size:
            break
        topic[over] = topics_for(users[over], uniform=round_ >= 10)

    # each (user, topic) group's items in draw order, without repeats
    groups, counts = np.unique(group[order], return_counts=True)
    g_topic = groups % n_topics
    kept_g = np.empty(0, np.int64)
    kept_i = np.empty(0, np.int64)
    have = np.zeros(len(groups), np.int64)
    for _ in range(4):
        short = np.flatnonzero(have < counts)
        if not short.size:
            break
        g = np.repeat(short, (counts[short] - have[short]) * 2 + 2)
        all_g = np.concatenate([kept_g, g])
        all_i = np.concatenate([kept_i, items_for(g_topic[g])])
        _, firsts = np.unique(all_g * n_items + all_i, return_index=True)
        firsts.sort()  # first appearances, in draw order
        kept_g, kept_i = all_g[firsts], all_i[firsts]
        o = np.argsort(kept_g, kind="stable")
        kept_g, kept_i = kept_g[o], kept_i[o]
        keep = rank_in_group(kept_g) < counts[kept_g]
        kept_g, kept_i = kept_g[keep], kept_i[keep]
        have = np.bincount(kept_g, minlength=len(groups))
    short = np.flatnonzero(have < counts)
    if short.size:  # exact sampling without replacement for what is left
        in_pool = np.empty(n_items, np.int64)
        in_pool[by_topic] = np.arange(n_items) - starts[sorted_topic]
        extra_g, extra_i = [], []
        for t in range(n_topics):
            pool = by_topic[starts[t] : ends[t] + 1]
            todo = short[g_topic[short] == t]
            step = max(1, 4_000_000 // len(pool))
            for c in range(0, len(todo), step):
                chunk = todo[c : c + step]
                keys = rng.exponential(size=(len(chunk), len(pool))) / popularity[pool]
                taken = np.isin(kept_g, chunk)
                rows = np.searchsorted(chunk, kept_g[taken])
                keys[rows, in_pool[kept_i[taken]]] = np.inf
                need = counts[chunk] - have[chunk]
                best = np.argsort(keys, axis=1)[:, : need.max()]
                mask = np.arange(best.shape[1]) < need[:, None]
                extra_g.append(np.repeat(chunk, need))
                extra_i.append(pool[best[mask]])
        kept_g = np.concatenate([kept_g, *extra_g])
        kept_i = np.concatenate([kept_i, *extra_i])
        o = np.argsort(kept_g, kind="stable")
        kept_g, kept_i = kept_g[o], kept_i[o]
    items = np.empty(n, np.int64)
    items[order] = kept_i  # both sorted by group, in read / draw order within it

    gaps = rng.integers(60, 1_800, n) + np.where(flag, rng.integers(3_600, 86_400 * 3, n), 0)
    clock = np.cumsum(gaps)
    at_start = np.concatenate(([0], clock))[np.cumsum(activity) - activity]
    began = 1_700_000_000 + rng.integers(0, 86_400 * 60, n_users)
    times = began[users] + clock - at_start[users]
    affinity = taste[users, topic] / taste.max(axis=1)[users]
    rating = np.clip(np.rint(1.5 + 3.5 * affinity + rng.normal(0, 0.7, n)), 1, 5)
    return pd.DataFrame(
        {
            USER: users + 1,
            ITEM: items + 1,
            RATING: rating.astype(np.float32),
            TIME: times.astype(np.int64),
        }
    )


def sizes_for(n: int, mean_activity: float) -> tuple[int, int]:
    """``n_users``, ``n_items`` for about ``n`` interactions."""
    return max(1, round(n / mean_activity)), max(360, n // 500)


def write_data(n: int, path: Path, generator: str, mean_activity: float) -> dict:
    """Child process: generate about ``n`` interactions, write them to ``path`` (Parquet)."""
    n_users, n_items = sizes_for(n, mean_activity)
    start = time.perf_counter()
    if generator == "catalog":  # the catalog shape: 10 a user, n / 20 items, power-law, no ratings
        from rag_recs.data.synthetic import generate_catalog

        n_users, n_items = max(1, n // 10), max(360, n // 20)
        frame = generate_catalog(n_users, n_items, n, titles=False, text=False, seed=SEED)
        frame = frame.interactions
    elif generator == "package":
        from rag_recs.data import generate

        frame = generate(
            n_users=n_users, n_items=n_items, mean_activity=mean_activity, seed=SEED
        ).interactions
    else:
        frame = generate_fast(n_users, n_items, mean_activity, SEED)
    seconds = time.perf_counter() - start
    frame.to_parquet(path, index=False)
    return {
        "generator": generator,
        "n_users": n_users,
        "n_items": n_items,
        "rows": len(frame),
        "items_used": int(frame["item_id"].nunique()),
        "mean_rating": float(frame["rating"].mean()) if "rating" in frame else None,
        "generate_s": seconds,
        "file_bytes": path.stat().st_size,
    }


# ---------------------------------------------------------------------------------------------
# measuring


def _poll_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """psutil fallback: the largest RSS summed over the process tree, polled every 50 ms."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
            rss = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            peak[0] = max(peak[0], rss / 2**20)
        except psutil.Error:
            return
        stop.wait(0.05)


def rss_method() -> str:
    if Path(TIME_BIN).exists():
        return "/usr/bin/time -f %M (max RSS of the process, from wait4)"
    try:
        import psutil  # noqa: F401

        return "psutil polling every 50 ms (RSS summed over the process tree)"
    except ImportError:
        return "none (neither /usr/bin/time nor psutil found)"


def measure(command: list[str], env: dict[str, str], budget: float) -> dict:
    """Run ``command`` in its own process group; wall seconds, peak RSS MiB, stdout, status."""
    use_time = Path(TIME_BIN).exists()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        full = [TIME_BIN, "-f", "%M", "-o", rss_file.name, *command] if use_time else command
        start = time.perf_counter()
        proc = subprocess.Popen(
            full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
            start_new_session=True,
        )
        peak, stop, poller = [0.0], threading.Event(), None
        if not use_time:
            try:
                import psutil  # noqa: F401

                poller = threading.Thread(target=_poll_rss, args=(proc.pid, stop, peak))
                poller.start()
            except ImportError:
                pass
        try:
            stdout, stderr = proc.communicate(timeout=budget)
            status = "ok" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, nothing else
            stdout, stderr = proc.communicate()
            status = "over_budget"
        wall = time.perf_counter() - start
        stop.set()
        if poller is not None:
            poller.join()
        rss = None
        if use_time and status != "over_budget":
            lines = [ln for ln in rss_file.read().splitlines() if ln.strip().isdigit()]
            rss = int(lines[-1]) / 1024 if lines else None
        elif poller is not None and peak[0]:
            rss = peak[0]
    result: dict = {"status": status, "wall_s": wall, "peak_rss_mb": rss}
    if status == "ok":
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        try:
            result["output"] = json.loads(lines[-1]) if lines else {}
        except ValueError:
            result["output"] = {}
    else:
        result["returncode"] = proc.returncode
        tail = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        result["error"] = tail[-1][:300] if tail else ""
    return result


def size_name(n: int) -> str:
    """``1e4`` for a power of ten, else the number."""
    exp = len(str(n)) - 1
    return f"1e{exp}" if n == 10**exp else f"{n:,}"


def cli() -> list[str]:
    script = Path(sys.executable).with_name("rag-recs")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rag_recs.cli.main"]


def train_log(model_dir: str | None) -> dict:
    """The ``train_log`` of a saved ranker (per-epoch ``elapsed`` wall seconds, ``losses``...)."""
    if not model_dir:
        return {}
    try:
        return json.loads((Path(model_dir) / "ranker.json").read_text()).get("train_log", {})
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------------------------
# one size


def run_size(n: int, args: argparse.Namespace, skip: dict[str, str], root: Path) -> dict:
    """Generate the data for size ``n`` and run the chosen steps; returns the raw results."""
    work = root / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "interactions.parquet"
    env = {
        **os.environ,
        "ANONYMIZED_TELEMETRY": "False",
        "RAG_RECS_WORKSPACE": str(work / "ws-default"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    generator = "package" if n <= args.fast_above else "vectorised"
    if args.shape == "catalog":
        generator = "catalog"
    gen_cmd = [sys.executable, __file__, "--write-data", str(n), str(data), generator]
    gen_cmd += ["--mean-activity", str(args.mean_activity)]
    print(f"[{size_name(n)}] generating ({generator})", file=sys.stderr, flush=True)
    gen = measure(gen_cmd, env, args.budget_s)
    result: dict = {"size": n, "data": gen.get("output", {}), "steps": {"generate": gen}}
    if gen["status"] != "ok":
        print(
            f"[{size_name(n)}] data generation {gen['status']}: {gen.get('error')}", file=sys.stderr
        )
        return result
    rows = gen["output"]["rows"]
    user = int(pd.read_parquet(data, columns=["user_id"])["user_id"].iloc[0])
    ask = [f"3 items for user {user}", "--data", str(data), "--llm", "none", "--json"]
    epochs_cap = args.max_epochs
    capped = epochs_cap is not None and epochs_cap < RankerConfig().epochs
    commands = {
        "load": [sys.executable, "-c", LOAD_CHILD, str(data)],
        "train-1": [sys.executable, "-c", TRAIN_CHILD, str(data), str(work / "ws-epoch1"), "1"],
        "train": (
            [sys.executable, "-c", TRAIN_CHILD, str(data), str(work / "ws"), str(epochs_cap)]
            if capped
            else [*cli(), "train", "--data", str(data), "--workspace", str(work / "ws"), "--json"]
        ),
        "index": [*cli(), "index", "--data", str(data), "--workspace", str(work / "ws"), "--json"],
        "ask-first": [*cli(), "ask", *ask, "--workspace", str(work / "ws-ask")],
        "ask-warm": [*cli(), "ask", *ask, "--workspace", str(work / "ws-ask")],
    }
    for step in STEPS:
        if step not in args.steps:
            continue
        if step in skip:
            result["steps"][step] = {"status": "skipped", "reason": skip[step]}
            continue
        first = result["steps"].get("ask-first", {})
        if step == "ask-warm" and first.get("status") not in (None, "ok"):
            result["steps"][step] = {"status": "skipped", "reason": "the first ask did not finish"}
            continue
        print(f"[{size_name(n)}] {step}", file=sys.stderr, flush=True)
        r = measure(commands[step], env, args.budget_s)
        r["command"] = commands[step] if "-c" not in commands[step] else step + " (python -c)"
        if step in ("train", "train-1") and r["status"] == "ok":
            out = r["output"]
            log = train_log(out.get("model_dir"))
            r["train_log"] = {k: log.get(k) for k in ("elapsed", "losses", "valid", "seconds")}
            r["epochs"] = out.get("epochs")
            r["best_epoch"] = out.get("best_epoch")
            r["capped"] = step == "train" and capped and out.get("epochs") == epochs_cap
            r["max_epochs"] = epochs_cap if step == "train" and capped else None
        if r["status"] == "over_budget":
            skip[step] = f"over budget at {size_name(n)}"
        if r["peak_rss_mb"]:
            r["bytes_per_interaction"] = r["peak_rss_mb"] * 2**20 / rows
        result["steps"][step] = r
        if step == "train-1":
            shutil.rmtree(work / "ws-epoch1", ignore_errors=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# reporting


def wall_cell(r: dict, budget: float) -> str:
    if r["status"] == "over_budget":
        return f"over budget (> {budget:g} s)"
    if r["status"] == "skipped":
        return f"skipped ({r['reason']})"
    if r["status"] == "failed":
        return f"failed (exit {r.get('returncode')})"
    return f"{r['wall_s']:.1f}"


def notes(step: str, r: dict, data: dict) -> str:
    if r["status"] == "failed":
        error = r.get("error", "")
        return error if len(error) <= 100 else error[:99] + "…"
    if r["status"] != "ok":
        return ""
    out = r.get("output", {})
    if step == "generate":
        return (
            f"{data['generator']}, {data['n_users']:,} users x {data['n_items']:,} items, "
            f"{data['generate_s']:.1f} s, {data['file_bytes'] / 2**20:.1f} MiB file"
        )
    if step == "load":
        return f"import {out.get('import_s', 0):.1f} s, load_dataset {out.get('load_s', 0):.2f} s"
    if step in ("train", "train-1"):
        elapsed = (r.get("train_log") or {}).get("elapsed") or []
        first = f"epoch 1 ends at {elapsed[0]:.1f} s, " if elapsed else ""
        return f"{first}fit {out.get('seconds', 0):.1f} s in process"
    if step == "index":
        docs = out.get("documents")
        return f"{docs:,} documents, {out.get('seconds', 0):.1f} s in process" if docs else ""
    if step.startswith("ask"):
        items = out.get("items") or []
        process = (out.get("timings") or {}).get("process")
        took = f", {process:.1f} s in process" if process is not None else ""
        return f"{len(items)} items{took}"
    return ""


def epochs_cell(r: dict) -> str:
    if r.get("epochs") is None:
        return ""
    text = f"{r['epochs']} (best {r['best_epoch']})"
    if r.get("capped"):
        text += f", capped at {r['max_epochs']}"
    return text


def ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def capacity(points: list[tuple[int, float]], ram: int) -> dict | None:
    """Largest N whose peak fits in ``ram``: a line through the two largest sizes' peaks
    (fixed + marginal bytes per interaction), and the flat rate of the largest size."""
    points = sorted(points)
    if not points:
        return None
    n2, p2 = points[-1][0], points[-1][1] * 2**20
    flat = p2 / n2
    est = {"flat_bytes_per_interaction": flat, "flat_max_n": ram / flat, "from_rows": n2}
    if len(points) > 1:
        n1, p1 = points[-2][0], points[-2][1] * 2**20
        slope = (p2 - p1) / (n2 - n1)
        if slope > 0:
            fixed = p2 - slope * n2
            est |= {
                "marginal_bytes_per_interaction": slope,
                "fixed_mb": fixed / 2**20,
                "linear_max_n": (ram - fixed) / slope,
                "from_rows_low": n1,
            }
    return est


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (wall_ax, rss_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
    for step in ("generate", *STEPS):
        pts = [
            (res["data"]["rows"], r["wall_s"], r["peak_rss_mb"])
            for res in results
            if (r := res["steps"].get(step)) and r["status"] == "ok"
        ]
        if not pts:
            continue
        x, wall, rss = zip(*pts, strict=True)
        style = {"marker": "o", "label": step, "linestyle": ":" if step == "generate" else "-"}
        wall_ax.plot(x, wall, **style)
        if all(v is not None for v in rss):
            rss_ax.plot(x, rss, **style)
    for ax, ylabel in ((wall_ax, "wall time, s"), (rss_ax, "peak RSS, MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("interactions")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    wall_ax.legend(fontsize=8)
    fig.suptitle("rag-recs scaling on generated data (each step a separate process)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(results: list[dict], args: argparse.Namespace) -> dict:
    rows = []
    for res in results:
        data = res["data"]
        for step, r in res["steps"].items():
            rss = r.get("peak_rss_mb")
            rows.append(
                [
                    size_name(res["size"]),
                    f"{data['rows']:,}" if data.get("rows") else "-",
                    step,
                    wall_cell(r, args.budget_s),
                    f"{rss:,.0f}" if rss else "-",
                    epochs_cell(r),
                    notes(step, r, data),
                ]
            )
    print_table(
        f"Scaling on generated data: wall time and peak RSS per step, each a separate process "
        f"(peak RSS: {rss_method()}; budget {args.budget_s:g} s a step)",
        ["size", "rows", "step", "wall s", "peak RSS MiB", "epochs", "notes"],
        rows,
    )
    per = []
    train_points, hungriest_points = [], []
    for res in results:
        n_rows = res["data"].get("rows")
        if not n_rows:
            continue
        train = res["steps"].get("train", {})
        done = [
            (r["peak_rss_mb"], step)
            for step, r in res["steps"].items()
            if r["status"] == "ok" and r.get("peak_rss_mb") and step != "generate"
        ]
        peak, which = max(done) if done else (None, "-")
        if train.get("status") == "ok" and train.get("peak_rss_mb"):
            train_points.append((n_rows, train["peak_rss_mb"]))
        if peak:
            hungriest_points.append((n_rows, peak))
        per.append(
            [
                size_name(res["size"]),
                f"{n_rows:,}",
                f"{train['peak_rss_mb']:,.0f}" if train.get("peak_rss_mb") else "-",
                f"{train['bytes_per_interaction']:,.0f}"
                if train.get("bytes_per_interaction")
                else "-",
                f"{which}: {peak:,.0f}" if peak else "-",
                f"{peak * 2**20 / n_rows:,.0f}" if peak else "-",
            ]
        )
    print_table(
        "Bytes per interaction: peak RSS / rows",
        ["size", "rows", "train peak MiB", "train B / interaction", "hungriest finished step MiB",
         "its B / interaction"],
        per,
    )  # fmt: skip
    ram = ram_bytes()
    estimates = {"ram_bytes": ram, "train": capacity(train_points, ram)}
    estimates["hungriest"] = capacity(hungriest_points, ram)
    for key, what in (
        ("train", "the full default fit"),
        ("hungriest", "the hungriest finished step"),
    ):
        est = estimates[key]
        if not est:
            continue
        line = (
            f"ESTIMATE (not measured): on this machine ({ram / 2**30:.1f} GiB RAM, "
            f"{os.cpu_count()} cores), {what} fits up to about "
        )
        if "linear_max_n" in est:
            line += (
                f"{est['linear_max_n']:.2g} interactions (line through the peaks at "
                f"{est['from_rows_low']:,} and {est['from_rows']:,} rows: "
                f"{est['marginal_bytes_per_interaction']:,.0f} B per interaction + "
                f"{est['fixed_mb']:,.0f} MiB fixed); at the flat "
                f"{est['flat_bytes_per_interaction']:,.0f} B per interaction of the largest "
                f"size, {est['flat_max_n']:.2g}."
            )
        else:
            line += (
                f"{est['flat_max_n']:.2g} interactions (flat "
                f"{est['flat_bytes_per_interaction']:,.0f} B per interaction at "
                f"{est['from_rows']:,} rows)."
            )
        print(line + " Assumes linear growth, the whole RAM free, and says nothing of time.")
    if args.max_epochs is not None:
        print(
            f"--max-epochs {args.max_epochs}: applies to the train step only; ask-first always "
            "trains the default fit (the CLI has no epoch option)."
        )
    return estimates


def machine() -> dict:
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "ram_gib": ram_bytes() / 2**30,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit + ("+dirty" if dirty else ""),
        "rss_method": rss_method(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", default=["1e4", "1e5", "1e6", "1e7"], help="interactions"
    )
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--budget-s", type=float, default=3600.0, help="limit per command")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap for the full fit")
    parser.add_argument("--mean-activity", type=float, default=MEAN_ACTIVITY)
    parser.add_argument(
        "--fast-above",
        type=float,
        default=1e6,
        help="sizes above this use the vectorised generator (the package's is a Python loop)",
    )
    parser.add_argument(
        "--shape",
        choices=("topics", "catalog"),
        default="topics",
        help="topics: the demo generator's articles (24 reads a user); catalog: "
        "generate_catalog's long tail (10 a user, N / 20 items, ids only)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="json + png here")
    parser.add_argument("--workdir", type=Path, default=None, help="data and workspaces here")
    parser.add_argument("--keep", action="store_true", help="keep data and workspaces")
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        help="no run: one table, plot and json from the scaling.json of earlier runs (e.g. the "
        "largest size run on its own), each step from the last file that has it",
    )
    parser.add_argument("--write-data", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.merge:
        return merge(args)

    if args.write_data:  # the child that generates one size's data
        n, path, generator = args.write_data
        info = write_data(int(n), Path(path), generator, args.mean_activity)
        print(json.dumps(info))
        return

    sizes = [int(float(s)) for s in args.sizes]
    if "ask-warm" in args.steps and "ask-first" not in args.steps:
        args.steps.append("ask-first")  # a warm ask needs the workspace the first one fills
    root = Path(tempfile.mkdtemp(prefix="rag-recs-scaling-", dir=args.workdir))
    skip: dict[str, str] = {}
    results = []
    try:
        for n in sizes:
            results.append(run_size(n, args, skip, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write(results, args, {"machine": machine(), "settings": settings})


def write(results: list[dict], args: argparse.Namespace, header: dict) -> None:
    """Print the table, save the plot and the raw numbers under ``args.out``."""
    estimates = report(results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "scaling.png")
    payload = {**header, "results": results, "capacity_estimate": estimates}
    (args.out / "scaling.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.png'}", file=sys.stderr)


def merge(args: argparse.Namespace) -> None:
    """One report from several runs' json; each run's machine and settings are kept."""
    by_size: dict[int, dict] = {}
    runs = []
    for path in args.merge:
        run = json.loads(path.read_text())
        runs.append({"file": str(path), "machine": run["machine"], "settings": run["settings"]})
        for res in run["results"]:  # steps of one size may come from several runs
            steps = {**by_size.get(res["size"], {}).get("steps", {})}
            for step, r in res["steps"].items():
                steps[step] = {**r, "run": len(runs) - 1}
            by_size[res["size"]] = {**res, "steps": steps}
    args.budget_s = max(float(r["settings"]["budget_s"]) for r in runs)
    results = [by_size[n] for n in sorted(by_size)]
    write(results, args, {"merged_from": runs})


if __name__ == "__main__":
    main()
