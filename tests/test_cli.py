"""The console script as a subprocess: JSON on stdout; exit 2 and one line on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rag_recs.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 120


def _env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAG_RECS_WORKSPACE=str(workspace),  # belt and braces: --workspace is passed as well
        OMP_NUM_THREADS="1",  # small, shared machine: one thread trains these tiny tables fastest
        PYTHONWARNINGS="ignore",
        COLUMNS="200",
    )
    env.pop("RAG_RECS_DEBUG", None)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag_recs.cli.main", *args]


def cli(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(*args, "--workspace", str(workspace)),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(workspace),
        timeout=TIMEOUT,
    )


def one_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-data")
    small = root / "small.csv"
    generate(n_users=40, n_items=30).interactions.to_csv(small, index=False)
    rng = np.random.default_rng(3)
    n = 400
    ad = rng.integers(0, 6, n)
    site = rng.choice(["news", "shop"], n)
    price = rng.uniform(0, 5, n)
    logit = np.where(ad % 2 == 0, 1.5, -1.5) + np.where(site == "shop", 0.8, -0.8)
    clicked = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    ctr = root / "ctr.csv"
    pd.DataFrame({"ad": ad, "site": site, "price": price, "clicked": clicked}).to_csv(
        ctr, index=False
    )
    # a context-aware CTR table: the same user and item recur in other contexts (weather)
    users, items = rng.integers(0, 8, n), rng.integers(0, 5, n)
    weather = rng.choice(["sun", "rain", "snow"], n)
    logit = np.select([weather == "sun", weather == "rain"], [2.0, -2.0], 0.0)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    context = pd.DataFrame({"user": users, "item": items, "weather": weather, "label": label})
    context.to_csv(root / "context.csv", index=False)
    context.rename(columns={"user": "u", "item": "i"}).to_csv(root / "renamed.csv", index=False)
    bad_ratings = root / "bad_ratings.csv"
    bad_ratings.write_text("user_id,item_id,rating\n1,1,4\n1,2,3\n2,1,great\n")
    return {
        "small": small,
        "ctr": ctr,
        "context": root / "context.csv",
        "renamed": root / "renamed.csv",
        "bad_ratings": bad_ratings,
        "root": root,
    }


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-ws")


def test_version(ws):
    proc = subprocess.run(
        _command("--version"), capture_output=True, text=True, cwd=REPO, env=_env(ws), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("rag-recs ")
    assert len(proc.stdout.split()) == 2


def test_python_dash_m_is_the_same_program(ws):
    runs = [
        subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env(ws), timeout=60)
        for cmd in ([sys.executable, "-m", "rag_recs", "--version"], _command("--version"))
    ]
    assert [r.returncode for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout


_EXITING = """
import atexit, sys
from rag_recs.cli import main as cli
real = cli.run
def run():  # the command registers an exit handler of its own, as torch or llama.cpp do
    atexit.register(print, "the command's exit handler ran", file=sys.stderr)
    if sys.argv[1] == "boom":
        raise RuntimeError("escaped")
    real()
cli.run = run
cli.entry()
"""


@pytest.mark.parametrize(
    ("args", "status"), [(["--version"], 0), (["ask", "x", "--data", "nope.csv"], 2), (["boom"], 1)]
)
def test_the_command_ends_without_teardown_yet_runs_every_exit_handler(ws, args, status):
    """``entry`` ends the process after the exit handlers (skipping the interpreter's slow
    teardown): the status, the output and the handlers a command registered all survive."""
    proc = subprocess.run(
        [sys.executable, "-c", _EXITING, *args],
        capture_output=True, text=True, cwd=REPO, env=_env(ws), timeout=60,
    )  # fmt: skip
    assert proc.returncode == status, proc.stderr
    assert "the command's exit handler ran" in proc.stderr
    if status == 0:
        assert proc.stdout.startswith("rag-recs ")
    if status == 2:
        assert "error:" in proc.stderr and "nope.csv" in proc.stderr
    if status == 1:
        assert "RuntimeError: escaped" in proc.stderr  # Python's own report, before the exit


def test_evaluate_loo_json(files, ws):
    result = one_json(
        cli(ws, "evaluate", "--data", str(files["small"]), "--protocol", "loo", "--json")
    )
    for key in ("recall@10", "ndcg@10", "hit@10", "coverage"):
        assert isinstance(result[key], float) and 0.0 <= result[key] <= 1.0, key
    assert result["n_users"] == 40
    assert result["recall@10"] == result["hit@10"]
    assert result["ndcg@10"] <= result["recall@10"]
    assert result["coverage"] > 0


def test_evaluate_loo_json_with_baselines(files, ws):
    plain = one_json(
        cli(ws, "evaluate", "--data", str(files["small"]), "--protocol", "loo", "--json")
    )
    result = one_json(cli(ws, "evaluate", "--data", str(files["small"]), "--baselines", "--json"))
    baselines = result.pop("baselines")
    assert set(result) == set(plain)  # the ranker's top-level keys are unchanged
    assert list(baselines) == ["Popularity", "ItemKNN (cosine)", "UserKNN (Jaccard, k=50)"]
    metrics = {k for k in plain if k not in ("protocol", "train_samples_per_s")}
    metrics = {k for k in metrics if not k.startswith("rows_")}
    for name, row in baselines.items():
        assert set(row) == metrics, name
        assert 0.0 <= row["recall@10"] <= 1.0 and row["n_users"] == 40, name
    assert baselines["Popularity"]["recall@10"] != baselines["UserKNN (Jaccard, k=50)"]["recall@10"]


def test_evaluate_ctr_json(files, ws):
    result = one_json(
        cli(ws, "evaluate", "--data", str(files["small"]), "--protocol", "ctr", "--json")
    )
    assert result["protocol"] == "ctr"
    assert 0.0 <= result["auc"] <= 1.0
    assert result["logloss"] > 0
    assert result["n_test"] > 0


def test_evaluate_ctr_on_a_generic_table(files, ws):
    proc = cli(
        ws,
        "evaluate",
        "--data",
        str(files["ctr"]),
        "--protocol",
        "ctr",
        "--label",
        "clicked",
        "--json",
    )
    result = one_json(proc)
    assert 0.0 <= result["auc"] <= 1.0 and result["logloss"] > 0
    assert 50 < result["n_test"] < 130  # a seeded random 20% of 400 rows


def test_a_label_table_keeps_every_row_whatever_its_columns_are_called(files, ws):
    """Columns named user and item do not turn events into interactions: nothing collapses."""
    runs = {
        name: one_json(
            cli(
                ws,
                "evaluate",
                "--data",
                str(files[name]),
                "--protocol",
                "ctr",
                "--label",
                "label",
                "--json",
            )
        )  # fmt: skip
        for name in ("context", "renamed")
    }
    for result in runs.values():
        assert (result["rows_read"], result["rows_used"], result["rows_dropped"]) == (400, 400, 0)
    assert runs["context"]["n_test"] == runs["renamed"]["n_test"]
    assert runs["context"]["auc"] == pytest.approx(runs["renamed"]["auc"], abs=1e-6)
    assert runs["context"]["auc"] > 0.75  # the weather carries the signal


def test_repeated_interactions_are_counted_as_dropped(files, ws, tmp_path):
    path = tmp_path / "repeats.csv"
    path.write_text("user_id,item_id,timestamp\n1,1,5\n1,2,6\n1,1,7\n2,1,8\n2,2,9\n2,3,9\n")
    result = one_json(cli(ws, "train", "--data", str(path), "--json"))
    assert (result["rows_read"], result["rows_used"], result["rows_dropped"]) == (6, 5, 1)
    assert list(result["rows_dropped_by_reason"].values()) == [1]


def test_second_train_reuses_the_cached_model(files, ws):
    first = one_json(cli(ws, "train", "--data", str(files["small"]), "--json"))
    second = one_json(cli(ws, "train", "--data", str(files["small"]), "--json"))
    assert first["trained"] is True
    assert second["trained"] is False
    assert first["model_dir"] == second["model_dir"]
    assert first["fingerprint"] == second["fingerprint"]
    assert Path(first["model_dir"]).is_relative_to(ws)
    assert (Path(first["model_dir"]) / "ranker.json").is_file()


BAD = {
    "missing file": (["evaluate", "--data", "{root}/nope.csv"], ["nope.csv", "no such file"]),
    "bad --user-col": (
        ["evaluate", "--data", "{small}", "--user-col", "customer"],
        ["small.csv", "'customer'", "not found"],
    ),
    "unknown protocol": (["evaluate", "--data", "{small}", "--protocol", "xyz"], ["'xyz'"]),
    "non-numeric rating": (
        ["train", "--data", "{bad_ratings}"],
        ["bad_ratings.csv", "column 'rating'", "row 3", "'great'"],
    ),
}


@pytest.fixture(scope="module")
def bad_runs(files, ws) -> dict[str, tuple[int, str, str]]:
    """All bad-input runs at once (each one is mostly interpreter start-up)."""
    fill = {k: str(v) for k, v in files.items()}
    procs = {
        name: subprocess.Popen(
            _command(*[a.format(**fill) for a in args], "--json", "--workspace", str(ws)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_env(ws),
        )
        for name, (args, _) in BAD.items()
    }
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        out[name] = (proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_error_line(bad_runs, case):
    code, stdout, stderr = bad_runs[case]
    assert code == 2, stderr
    assert "Traceback" not in stderr + stdout
    assert stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    for part in BAD[case][1]:
        assert part in lines[0], (part, lines[0])


def test_every_data_command_takes_the_same_source_options():
    import typer.main

    from rag_recs.cli.common import Source
    from rag_recs.cli.main import app

    group = typer.main.get_group(app)
    wanted = {"--" + name.replace("_", "-") for name in Source.__dataclass_fields__}
    for name in ("train", "evaluate", "ask", "chat", "recommend", "index", "search", "serve"):
        options = {o for p in group.commands[name].params for o in p.opts}
        assert wanted <= options, (name, wanted - options)
