"""The assistant's commands as a user runs them: ask --json, recommend, chat in a terminal.

One tiny CSV (60 users x 40 items, no titles) and one workspace serve the whole module: the
first command trains and indexes, the others reuse what it built.
"""

from __future__ import annotations

import csv
import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pexpect
import pytest
from conftest import seen_sets

from rag_recs.data.synthetic import generate

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180


def _env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAG_RECS_WORKSPACE=str(workspace),
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
        COLUMNS="200",
        NO_COLOR="1",
        TERM="dumb",
    )
    env.pop("RAG_RECS_DEBUG", None)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag_recs.cli.main", *args]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """The CSV, the workspace, and the data's seen sets (to check answers against)."""
    root = tmp_path_factory.mktemp("assistant-cli")
    data = generate(n_users=60, n_items=40, mean_activity=10)
    path = root / "tiny.csv"
    data.interactions.to_csv(path, index=False)
    seen = {int(u): {int(i) for i in items} for u, items in seen_sets(data).items()}
    return {"csv": path, "ws": root / "ws", "root": root, "seen": seen, "items": 40}


def run(tiny: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(*args, "--workspace", str(tiny["ws"])),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(tiny["ws"]),
        timeout=TIMEOUT,
    )


def assert_bad_input(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def asked(tiny) -> dict:
    """``ask --json`` once (this builds the workspace for the other tests)."""
    proc = run(
        tiny, "ask", "Suggest 2 items to user 3 with a reason", "--data", str(tiny["csv"]),
        "--llm", "none", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # one JSON object and nothing else on stdout
    return json.loads(lines[0])


def test_ask_json_shape(asked, tiny) -> None:
    assert asked["user"] == 3  # the source id, in its source type
    assert isinstance(asked["rejected"], list)
    items = asked["items"]
    assert len(items) == 2
    ids = [item["item_id"] for item in items]
    assert len(set(ids)) == 2 and not set(ids) & tiny["seen"][3]
    for item in items:
        assert {"item_id", "title", "score", "reason", "evidence"} <= set(item)
        assert isinstance(item["item_id"], int)
        assert item["title"] == f"item {item['item_id']}"  # a bare CSV has no titles
        assert 0.0 <= item["score"] <= 1.0
        assert item["reason"].strip()
        assert item["evidence"]["item_id"] == item["item_id"]
        rank, unseen = item["evidence"]["rank"], item["evidence"]["unseen"]
        assert unseen == tiny["items"] - len(tiny["seen"][3])
        assert (
            f"the ranker puts it {rank}" in item["reason"]
            and f"of the {unseen} items" in item["reason"]
        )
        first = item["evidence"]["links"][0]  # an item of the user's own history, by its id
        assert (
            first["history_item"] in tiny["seen"][3]
            and f"#{first['history_item']}" in item["reason"]
        )
    assert asked["kind"] == "recommend" and asked["facts"] is None


def in_process(tiny: dict, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console script's entry point in this process (no interpreter start-up to wait for):
    the same argument handling, error reporting and exit codes as the installed command."""
    from rag_recs.cli.main import run as main

    monkeypatch.setattr(sys, "argv", ["rag-recs", *args, "--workspace", str(tiny["ws"])])
    monkeypatch.delenv("RAG_RECS_DEBUG", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    return stop.value.code or 0, captured.out, captured.err


def test_an_unknown_user_exits_2_with_one_line(asked, tiny) -> None:
    """As a real process: exit code, stdout and stderr exactly as a script sees them."""
    proc = run(tiny, "ask", "suggest 2 items for user 999999", "--data", str(tiny["csv"]),
               "--llm", "none", "--json")  # fmt: skip
    assert_bad_input(proc, "unknown user", "999999")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("ask", "   ", "--llm", "none"), ("question is empty",)),
        (("ask", "suggest 2 items for user 3", "--llm", "bogus"), ("unknown LLM backend",)),
        (("ask", "suggest 2 items for user 3", "--llm", "llamacpp:/no/such.gguf"), ("GGUF",)),
        (("recommend", "--k", "0", "--out", "{root}/x.csv"), ("--k",)),
        (("recommend", "--k", "2", "--out", "{root}/x.txt"), (".csv or .parquet",)),
    ],
    ids=["empty-question", "bad-llm", "missing-gguf", "k-0", "bad-suffix"],
)
def test_bad_input_exits_2_with_one_line(asked, tiny, monkeypatch, capsys, args, words) -> None:
    args = tuple(a.replace("{root}", str(tiny["root"])) for a in args)
    code, out, err = in_process(tiny, monkeypatch, capsys, *args, "--data", str(tiny["csv"]))
    assert_bad_input(subprocess.CompletedProcess(args, code, out, err), *words)
    assert not list(tiny["root"].glob("x.*"))


def test_recommend_writes_a_csv_without_seen_items(asked, tiny) -> None:
    out = tiny["root"] / "recs" / "all.csv"
    proc = run(
        tiny, "recommend", "--users", "all", "--k", "3", "--out", str(out),
        "--data", str(tiny["csv"]), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary == {"out": str(out), "users": 60, "rows": 180, "k": 3}
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["user_id", "rank", "item_id", "title", "score"]
    frame = pd.read_csv(out)
    assert len(frame) == 180 and frame["user_id"].nunique() == 60
    assert frame.groupby("user_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()
    for user, item in zip(frame["user_id"], frame["item_id"], strict=True):
        assert item not in tiny["seen"][user]
        assert 1 <= item <= tiny["items"]
    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert list(out.parent.iterdir()) == [out]  # no temporary file left beside it


def test_recommend_failures_leave_no_file(asked, tiny, monkeypatch, capsys) -> None:
    folder = tiny["root"] / "failed"
    folder.mkdir()
    users = folder / "users.txt"
    users.write_text("3\n999999\n")
    out = folder / "recs.csv"
    args = ("recommend", "--users", str(users), "--out", str(out), "--data", str(tiny["csv"]))
    code, stdout, stderr = in_process(tiny, monkeypatch, capsys, *args)
    assert_bad_input(subprocess.CompletedProcess(args, code, stdout, stderr), "unknown user")
    assert sorted(p.name for p in folder.iterdir()) == ["users.txt"]

    taken = folder / "taken.csv"  # the output path is a directory: the write itself fails
    taken.mkdir()
    args = ("recommend", "--out", str(taken), "--data", str(tiny["csv"]))
    code, stdout, stderr = in_process(tiny, monkeypatch, capsys, *args)
    assert code != 0 and "Traceback" not in stderr
    assert sorted(p.name for p in folder.iterdir()) == ["taken.csv", "users.txt"]
    assert list(taken.iterdir()) == []


def test_chat_in_a_terminal(asked, tiny) -> None:
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "rag_recs.cli.main",
            "chat",
            "--data",
            str(tiny["csv"]),
            "--llm",
            "none",
            "--workspace",
            str(tiny["ws"]),
        ],  # fmt: skip
        env=_env(tiny["ws"]),
        cwd=str(REPO),
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(50, 200),
    )
    try:
        child.expect("/help for commands")
        child.expect_exact("you> ")

        def say(line: str) -> str:
            child.sendline(line)
            child.expect_exact("you> ")
            return child.before.replace("\r", "")

        help_text = say("/help")
        for command in ("/user ID", "/why N", "/k N", "/json", "/reset", "/quit"):
            assert command in help_text, help_text

        answer = say("suggest 2 items for user 3")
        assert "For user 3:" in answer
        lines = [line.strip() for line in answer.splitlines()]
        picked = [line for line in lines if line.startswith(("1. ", "2. "))]
        assert len(picked) == 2, answer
        second = picked[1].split(" (item ")[1].split(",")[0]
        assert int(second) not in tiny["seen"][3]

        why = say("/why 2")
        assert f"Item 2, 'item {second}'" in why
        assert "the ranker puts it" in why.lower()

        bad = say("/user 999999")
        assert "error: unknown user" in bad and "999999" in bad

        again = say("one item for user 5")  # the conversation goes on
        assert "For user 5:" in again

        assert "now get 3 items" in say("/k 3")
        three = say("recommend something for user 7")
        assert "For user 7:" in three and "3. " in three and "4. " not in three
        assert "error: /k takes a number" in say("/k zero")
        assert "JSON answers on" in say("/json")
        as_json = say("2 items for user 4")
        assert '"user": 4' in as_json and '"items"' in as_json
        assert "JSON answers off" in say("/json")
        assert "new conversation" in say("/reset")
        assert "no earlier recommendation" in say("why #1")

        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")


def test_a_hugging_face_token_appears_nowhere(asked, tiny) -> None:
    """The token reaches the hosted backend only: not stdout, stderr, the log nor the workspace.

    The endpoint is unreachable here, so the call fails and the ranker answers alone."""
    token = "hf_" + "".join(random.Random(5).choices(string.ascii_letters, k=34))
    env = dict(_env(tiny["ws"]), HUGGINGFACEHUB_API_TOKEN=token, HF_TOKEN=token)
    proc = subprocess.run(
        _command(
            "--verbose", "ask", "Suggest 2 items to user 3", "--data", str(tiny["csv"]),
            "--llm", "hf-endpoint:mistralai/Mistral-7B-Instruct-v0.2", "--json",
            "--workspace", str(tiny["ws"]),
        ),
        capture_output=True, text=True, cwd=REPO, env=env, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert len(answer["items"]) == 2
    assert any("LLM failed" in note for note in answer["notes"]), answer["notes"]
    assert token not in proc.stdout + proc.stderr
    files = [p for p in Path(tiny["ws"]).rglob("*") if p.is_file()]
    assert files
    assert not [p for p in files if token.encode() in p.read_bytes()]


def test_item_noun_and_a_data_question(asked, tiny, monkeypatch, capsys) -> None:
    code, stdout, _ = in_process(
        tiny, monkeypatch, capsys, "ask", "3 games for user 3", "--data", str(tiny["csv"]),
        "--llm", "none", "--item-noun", "game", "--json",
    )  # fmt: skip
    assert code == 0
    answer = json.loads(stdout)
    unseen = tiny["items"] - len(tiny["seen"][3])
    assert len(answer["items"]) == 3  # "games" read as the count
    assert all(f"of the {unseen} games you have not seen" in i["reason"] for i in answer["items"])
    code, stdout, _ = in_process(
        tiny, monkeypatch, capsys, "ask", "what has user 3 played?", "--data", str(tiny["csv"]),
        "--llm", "none", "--item-noun", "games", "--json",
    )  # fmt: skip
    fact = json.loads(stdout)
    assert code == 0 and fact["kind"] == "fact" and fact["items"] == []
    assert fact["facts"]["count"] == len(tiny["seen"][3])
    assert f"{len(tiny['seen'][3])} games in their history" in fact["message"]
