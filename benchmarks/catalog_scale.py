"""Leave-one-out evaluation on catalog-shaped data: peak RSS and time against users x items.

Data: ``rag_recs.data.synthetic.generate_catalog`` (power-law item popularity, a long tail,
users mostly under 10 interactions), ids only (``user_id,item_id,timestamp``), 10 interactions
a user on average, written to Parquet. For each size, every step is its own process, its peak
RSS measured by GNU time (``%M``, from ``wait4``: the measured process alone):

- ``train``: the ranker's leave-one-out fit (default ``RankerConfig``, implicit objective),
  cached in a workspace that every later step reuses (both paths score the same model);
- for each model (DeepFM, Popularity, ItemKNN, UserKNN) and each path, ``evaluate_loo`` with
  that model alone on ``--sample-users`` users (the same sample for both paths):
  - ``today``: the package at git ``--today-ref`` (``git archive``, see ``_baseline.py``): one
    users x items matrix of scores, dense item x item and user x user similarities;
  - ``chunked``: this tree: chunks of users, each chunk's top-k, sparse baselines.
  A ``today`` step whose estimated memory passes ``--mem-limit-gib`` is not started (the
  machine is shared); the table says so and gives the estimate;
- ``cli``: ``rag-recs evaluate --protocol loo --baselines --json --users N`` on this tree, on
  the cached model: the command's whole memory with every baseline. With ``--epochs`` (a
  capped fit, which the CLI cannot ask for) the same four models in one ``evaluate_loo``
  process instead.

Scoring speed is ``score_seconds`` per evaluated user (the loop that scores, masks, ranks and
keeps top-k; fitting a baseline is ``fit_seconds``, reported apart). Writes
``benchmarks/results/catalog_scale.json``.

    nice .venv/bin/python benchmarks/catalog_scale.py --sizes 1e4x1e4 1e5x5e4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _baseline import package_at  # noqa: E402
from _common import print_table  # noqa: E402

TIME_BIN = "/usr/bin/time"
MODELS = ("DeepFM", "Popularity", "ItemKNN", "UserKNN")
PER_USER = 10
SEED = 7

GENERATE = """
import json, sys
from rag_recs.data.synthetic import generate_catalog
n_users, n_items, n = map(int, sys.argv[1:4])
data = generate_catalog(n_users, n_items, n, titles=False, text=False, seed=int(sys.argv[5]))
data.interactions.to_parquet(sys.argv[4], index=False)
print(json.dumps({"rows": len(data.interactions),
                  "items_used": int(data.interactions["item_id"].nunique())}))
"""

# the leave-one-out fit, cached where ``evaluate`` and the steps below look for it
TRAIN = """
import json, sys, time
from rag_recs.config import RankerConfig
from rag_recs.data import load_dataset
from rag_recs.evaluation.protocols import loo_split
from rag_recs.workspace import Workspace
data = load_dataset(sys.argv[1])
config = RankerConfig(objective="implicit", progress=False, **json.loads(sys.argv[3]))
start = time.perf_counter()
ranker, trained = Workspace(sys.argv[2]).ranker(loo_split(data)[0], config)
print(json.dumps({"seconds": time.perf_counter() - start, "trained": trained,
                  "epochs": len(ranker.log.losses)}))
"""

# one model under evaluate_loo, with whichever package is first on the path
EVALUATE = """
import json, sys
from rag_recs.config import RankerConfig
from rag_recs.data import load_dataset
from rag_recs.evaluation import ItemKNN, Popularity, RankerScorer, UserKNN, evaluate_loo
from rag_recs.workspace import Workspace
data = load_dataset(sys.argv[1])
model, users = sys.argv[3], int(sys.argv[4])
config = RankerConfig(objective="implicit", progress=False, **json.loads(sys.argv[5]))
ws = Workspace(sys.argv[2])

class Cached(RankerScorer):
    def train(self, train):
        return ws.ranker(train, self.config)[0]

make = {"DeepFM": lambda: Cached(config), "Popularity": Popularity, "ItemKNN": ItemKNN,
        "UserKNN": lambda: UserKNN(50)}
# all: what evaluate --baselines runs; baselines: the same without the ranker
models = {"all": list(make), "baselines": list(make)[1:]}.get(model, [model])
results = evaluate_loo(data, [make[m]() for m in models], max_users=users or None,
                       seed=config.seed)
top = results[0] if models[0] == "DeepFM" else {}
print(json.dumps({**top, "baselines": {r["model"]: r for r in results if r is not top}}))
"""


def measure(command: list[str], env: dict[str, str], budget: float, cwd: Path = ROOT) -> dict:
    """Wall seconds, peak RSS (MiB) and the last JSON line of one process, run in ``cwd``
    (``python -c`` puts the working directory first on the path: it picks the package)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [TIME_BIN, "-f", "%M", "-o", rss.name, *command],
                capture_output=True,
                text=True,
                env=env,
                cwd=cwd,
                timeout=budget,
            )
        except subprocess.TimeoutExpired:
            return {"status": "over budget", "wall_s": time.perf_counter() - start}
        wall = time.perf_counter() - start
        lines = [ln for ln in rss.read().splitlines() if ln.strip().isdigit()]
    result = {"wall_s": wall, "peak_rss_mb": int(lines[-1]) / 1024 if lines else None}
    if proc.returncode:
        tail = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return {**result, "status": f"failed ({proc.returncode})", "error": (tail or [""])[-1]}
    out = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return {**result, "status": "ok", "output": json.loads(out[-1]) if out else {}}


def today_estimate_gib(model: str, n_users: int, n_items: int, sample: int) -> float:
    """Memory today's path needs at least: its dense matrices (bytes per entry as allocated)."""
    scores = sample * n_items * (4 + 4 + 8 + 2)  # logits, catalog order, float64, comparisons
    if model == "ItemKNN":
        scores += n_items * n_items * 4 * 2  # the dense similarity, and its sparse source
    if model == "UserKNN":
        scores += n_users * n_items * 4 + sample * n_users * 8 * 3  # matrix.toarray(), Jaccard
    return scores / 2**30


def parse_size(text: str) -> tuple[int, int]:
    users, items = text.lower().split("x")
    return int(float(users)), int(float(items))


def run_size(size: str, args: argparse.Namespace, root: Path, today: Path) -> dict:
    n_users, n_items = parse_size(size)
    work = root / size
    work.mkdir(parents=True, exist_ok=True)
    data, ws = work / "interactions.parquet", work / "ws"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PYTHONWARNINGS": "ignore"}
    ours = {**env, "PYTHONPATH": str(ROOT)}
    theirs = {**env, "PYTHONPATH": str(today)}
    py = sys.executable
    result: dict = {"size": size, "n_users": n_users, "n_items": n_items, "steps": {}}
    steps = result["steps"]
    gen = [py, "-c", GENERATE, str(n_users), str(n_items), str(n_users * PER_USER), str(data)]
    steps["generate"] = measure([*gen, str(SEED)], ours, args.budget_s)
    result["rows"] = steps["generate"].get("output", {}).get("rows")
    log(size, "generated", steps["generate"])
    extra = json.dumps({"epochs": args.epochs} if args.epochs else {})
    mine = json.dumps({**json.loads(extra), **json.loads(args.config)})  # this tree's ranker
    ranker = not args.ranker_max_users or n_users <= args.ranker_max_users
    if ranker:
        steps["train"] = measure([py, "-c", TRAIN, str(data), str(ws), mine], ours, args.budget_s)
        log(size, "trained", steps["train"])
    for model in args.models:
        if model == "DeepFM" and not ranker:
            steps["DeepFM/today"] = steps["DeepFM/chunked"] = {"status": "not run (training)"}
            continue
        for path in args.paths:
            key = f"{model}/{path}"
            need = today_estimate_gib(model, n_users, n_items, args.sample_users)
            if path == "today" and need > args.mem_limit_gib:
                steps[key] = {"status": f"not run: needs >= {need:.0f} GiB"}
                log(size, key, steps[key])
                continue
            command = [py, "-c", EVALUATE, str(data), str(ws), model, str(args.sample_users)]
            if path == "today":
                steps[key] = measure([*command, extra], theirs, args.budget_s, cwd=today)
            else:
                steps[key] = measure([*command, mine], ours, args.budget_s)
            log(size, key, steps[key])
    if not args.cli_users:
        return result
    if args.epochs or args.config != "{}" or not ranker:  # not CLI options: the same scorers
        # without the ranker, the baselines alone (on every user by default)
        which, users = ("all", args.cli_users) if ranker else ("baselines", args.baseline_users)
        cli = [py, "-c", EVALUATE, str(data), str(ws), which, str(users), mine]
    else:
        cli = [py, "-m", "rag_recs", "evaluate", "--data", str(data), "--protocol", "loo"]
        cli += ["--baselines", "--json", "--workspace", str(ws), "--users", str(args.cli_users)]
    steps["cli"] = measure(cli, ours, args.budget_s)
    log(size, "cli", steps["cli"])
    return result


def log(size: str, step: str, result: dict) -> None:
    rss = result.get("peak_rss_mb")
    rss_text = f"{rss:,.0f} MiB" if rss else "-"
    print(f"[{size}] {step}: {result['status']}, {result.get('wall_s', 0):.1f} s, {rss_text}",
          file=sys.stderr, flush=True)  # fmt: skip


def cell(step: dict, what: str) -> str:
    if step.get("status") != "ok":
        return step.get("status", "-")
    out = step["output"]
    if "n_users" not in out:  # a baseline alone: its row is under "baselines"
        out = next(iter(out.get("baselines", {}).values()), {})
    if what == "rss":
        return f"{step['peak_rss_mb'] / 1024:.2f}"
    if what == "ms_user":
        return f"{1000 * out['score_seconds'] / max(out['n_users'], 1):.2f}"
    return f"{out[what]:.4f}" if isinstance(out.get(what), float) else str(out.get(what, "-"))


def tables(results: list[dict], args: argparse.Namespace) -> None:
    rows = []
    for r in results:
        for model in args.models:
            today, new = (
                r["steps"].get(f"{model}/today", {}),
                r["steps"].get(f"{model}/chunked", {}),
            )
            speedup = "-"
            if today.get("status") == "ok" and new.get("status") == "ok":
                a, b = (float(cell(step, "ms_user")) for step in (today, new))
                speedup = f"{a / b:.1f}x"
            rows.append([
                f"{r['n_users']:,} x {r['n_items']:,}", model,
                cell(today, "rss"), cell(new, "rss"),
                cell(today, "ms_user"), cell(new, "ms_user"), speedup,
                cell(new, "fit_seconds"), cell(new, "recall@10"), cell(new, "ndcg@10"),
                cell(today, "recall@10"),
            ])  # fmt: skip
    print_table(
        f"Leave-one-out on generated catalogs ({args.sample_users:,} sampled users; today = "
        f"{args.today_ref})",
        ["users x items", "model", "today GiB", "chunked GiB", "today ms/user",
         "chunked ms/user", "scoring speed-up", "fit s", "recall@10", "ndcg@10",
         "today recall@10"],
        rows,
    )  # fmt: skip
    rows = []
    for r in results:
        train, cli = r["steps"].get("train", {}), r["steps"].get("cli", {})
        out = cli.get("output", {})
        base = out.get("baselines", {})
        pop = base.get("Popularity", {}).get("recall@10")
        ranker = out.get("recall@10")  # the top level is the ranker's (absent without it)
        rows.append([
            f"{r['n_users']:,} x {r['n_items']:,}", f"{r.get('rows') or 0:,}",
            f"{train.get('wall_s', 0):.0f}", cell(train, "rss"),
            f"{cli.get('wall_s', 0):.0f}", cell(cli, "rss") if cli else "-",
            f"{ranker:.4f}" if ranker is not None else "-",
            f"{pop:.4f}" if pop is not None else "-",
            "-" if ranker is None or pop is None else ("yes" if ranker > pop else "no"),
        ])  # fmt: skip
    how = "evaluate_loo with the four models" if args.epochs else "rag-recs evaluate"
    alone = args.baseline_users or "all"
    how += f" (sizes without the ranker: the three baselines, --users {alone})"
    print_table(
        f"{how} --protocol loo --baselines --users {args.cli_users:,}"
        + (f" (ranker capped at {args.epochs} epochs)" if args.epochs else ""),
        ["users x items", "interactions", "train s", "train GiB", "evaluate s", "evaluate GiB",
         "DeepFM recall@10", "Popularity recall@10", "ranker above popularity"],
        rows,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", default=["1e4x1e4", "3e4x2.5e4", "1e5x5e4", "1e5x1e5"]
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--paths", nargs="+", default=["today", "chunked"], choices=["today", "chunked"]
    )
    parser.add_argument("--sample-users", type=int, default=2000)
    parser.add_argument(
        "--cli-users", type=int, default=5000, help="users the whole command ranks (0: no step)"
    )
    parser.add_argument(
        "--baseline-users", type=int, default=0, help="users the baselines-only step ranks (0: all)"
    )
    parser.add_argument("--today-ref", default="fcc9cb2", help="git ref of today's code")
    parser.add_argument("--mem-limit-gib", type=float, default=12.0)
    parser.add_argument("--budget-s", type=float, default=3600.0)
    parser.add_argument(
        "--epochs", type=int, default=0, help="cap the ranker's epochs (0: the default fit)"
    )
    parser.add_argument(
        "--config",
        default="{}",
        help="RankerConfig fields (JSON) for this tree's ranker, for example today's default "
        'model: \'{"hidden": [128, 64], "loss": "bce", "history_encoder": "bag", '
        "\"history_len\": 10}' (today's code always fits its own default)",
    )
    parser.add_argument(
        "--ranker-max-users", type=int, default=0, help="train the ranker up to this many users"
    )
    parser.add_argument("--work", type=Path, default=None, help="keep data and models here")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "catalog_scale.json")
    args = parser.parse_args()
    out = args.out
    results = []
    with package_at(args.today_ref) as today, tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        for size in args.sizes:
            results.append(run_size(size, args, root, today))
            out.write_text(json.dumps(results, indent=1))
    tables(results, args)


if __name__ == "__main__":
    main()
