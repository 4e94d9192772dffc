"""Items and users tables from the command line: --item-table and --user-table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_cli import cli, one_json

EVENTS = """user_id,item_id,timestamp
1,a1,100
1,a2,200
1,a3,300
2,a1,150
2,a4,250
2,zz,260
3,a2,120
3,a3,220
3,a5,320
4,a1,130
4,a2,230
4,a6,330
"""
ITEMS = """item_id,name,description,category,brand
a1,Trail runner shoes,Light shoes for muddy mountain paths,shoes|outdoor,Peak
a2,Rain jacket,Waterproof shell that packs into its own pocket,outdoor,Peak
a3,Espresso grinder,Burr grinder for fine espresso,kitchen,Brew
a4,Camping stove,Compact gas stove for backpacking trips,outdoor|kitchen,Peak
a5,Milk frother,Handheld frother for lattes,kitchen,Brew
a6,Headlamp,Bright rechargeable lamp for night hikes,outdoor,Lumo
a7,Kettle,Gooseneck kettle for pour-over coffee,kitchen,Brew
"""
USERS = "user_id,region\n1,north\n2,south\n3,north\n4,east\n"


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tables")
    files = {
        "events": EVENTS,
        "items": ITEMS,
        "users": USERS,
        "dup_items": "item_id,title\na1,One\na2,Two\na1,Again\n",
        "no_id_items": "sku,title\na1,One\n",
        "dup_users": "user_id,region\n1,north\n1,south\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = root / f"{name}.csv"
        paths[name].write_text(text)
    paths["root"] = root
    return paths


def _error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("option", "name", "words"),
    [
        ("--item-table", "missing", ["missing.csv", "no such items table"]),
        ("--user-table", "missing", ["missing.csv", "no such users table"]),
        ("--item-table", "no_id_items", ["no_id_items.csv", "no item_id column", "sku"]),
        ("--user-table", "no_id_items", ["no_id_items.csv", "no user_id column"]),
        ("--item-table", "dup_items", ["dup_items.csv", "column 'item_id'", "row 3", "'a1'"]),
        ("--user-table", "dup_users", ["dup_users.csv", "column 'user_id'", "row 2", "twice"]),
    ],
)
def test_a_bad_table_is_one_line_and_exit_2(tables, tmp_path, option, name, words):
    table = tables.get(name, tables["root"] / "missing.csv")
    for command in ("train", "recommend"):
        proc = cli(tmp_path, command, "--data", str(tables["events"]), option, str(table))
        line = _error_line(proc)
        for word in words:
            assert word in line, (command, line)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing written


def test_tables_join_the_data_and_missing_ids_are_counted(tables, tmp_path):
    args = ["--data", str(tables["events"]), "--item-table", str(tables["items"])]
    args += ["--user-table", str(tables["users"])]
    proc = cli(tmp_path, "train", *args, "--json")
    result = one_json(proc)
    assert result["rows_items_not_in_table"] == 1  # user 2's 'zz': kept
    assert result["rows_users_not_in_table"] == 0
    assert result["rows_used"] == 12 and result["rows_dropped"] == 0
    warnings = [ln for ln in proc.stderr.splitlines() if "not in this table" in ln]
    assert len(warnings) == 1 and "items.csv" in warnings[0]
    out = tmp_path / "recs.csv"
    proc = cli(tmp_path, "recommend", *args, "--k", "8", "--out", str(out), "--json")
    assert one_json(proc)["users"] == 4
    recs = pd.read_csv(out)
    mine = recs[recs["user_id"] == 1]
    assert "a7" in set(mine["item_id"])  # in the table, touched by nobody: in the catalog
    assert set(mine.loc[mine["item_id"] == "a7", "title"]) == {"Kettle"}  # from 'name'


def test_a_text_column_reaches_the_store_and_search_finds_it(tables, tmp_path):
    args = ["--data", str(tables["events"]), "--item-table", str(tables["items"])]
    indexed = one_json(cli(tmp_path, "index", *args, "--json"))
    assert indexed["documents"] >= 7
    found = one_json(cli(tmp_path, "search", "waterproof shell", *args, "--kind", "item",
                         "--k", "1", "--json"))  # fmt: skip
    (hit,) = found["hits"]
    assert hit["item_id"] == "a2" and hit["title"] == "Rain jacket"
    assert "Waterproof shell" in hit["text"]
    answer = one_json(
        cli(tmp_path, "ask", "3 items for user 1 without kitchen", *args, "--llm", "none", "--json")
    )
    shown = [item["item_id"] for item in answer["items"]]
    assert shown and not {"a3", "a4", "a5", "a7"} & set(shown)  # category tags constrain
