"""How well questions are read: the phrasing set (tests/data/phrasings.jsonl), by the patterns
alone and by the patterns with SmolLM2 as the fallback reader, per language and per domain.

Each question is read as ``Assistant.ask`` reads it: the patterns first; a question about the
data (``assistant.questions.read_fact``) goes to the facts module; any other question the
patterns cannot read goes to the LLM, and what the LLM reads is checked the same way (the user
must be written in the question and exist: users 1-943 as in MovieLens-100K).

Reported: user accuracy (the expected user, or none where the question names nobody), k
accuracy, intent accuracy (user, k, include, exclude, like; for a data question: user, k, which
fact and the item it names),
fact accuracy over the data questions (the facts module's answer on MovieLens-100K equals the
expected facts in the set, which ``benchmarks/phrasing_facts.py`` computes from the raw files
with pandas; needs ``RAG_RECS_ML100K``), wrong users (a user read that is not the expected one:
must be 0) and the mean latency of the LLM fallback.

    python benchmarks/phrasings.py [--llm local]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402

from rag_recs.assistant.extract import needs_llm, read_with_llm  # noqa: E402
from rag_recs.assistant.facts import Fact, Facts  # noqa: E402
from rag_recs.assistant.intent import Intent, parse_question  # noqa: E402
from rag_recs.assistant.questions import FactQuestion, read_fact  # noqa: E402
from rag_recs.data.loaders import ML100K_GENRES  # noqa: E402
from rag_recs.errors import UnknownUser  # noqa: E402

SET = HERE.parent / "tests" / "data" / "phrasings.jsonl"
N_USERS = 943
LANGUAGES = ["en", "fr", "de", "es", "it"]


def resolve_user(user: object) -> int:
    """MovieLens-100K's users are 1 to 943; anything else is unknown."""
    text = str(user).strip()
    if text.isdigit() and 1 <= int(text) <= N_USERS:
        return int(text)
    raise UnknownUser(f"unknown user {user!r}")


def read(
    question: str, llm: object, facts: Facts | None = None
) -> tuple[Intent, FactQuestion | None, float | None]:
    """The intent and data question as ``Assistant.ask`` reads them, and the LLM's seconds
    when it was asked."""
    intent = parse_question(question, ML100K_GENRES)
    names = facts.names if facts is not None else None
    fact = read_fact(question, intent.user, asks_count=intent.k is not None, names_item=names)
    if fact is not None or llm is None or not needs_llm(intent):
        return intent, fact, None
    start = time.perf_counter()
    intent, _ = read_with_llm(llm, question, intent, ML100K_GENRES, resolve_user)
    return intent, None, time.perf_counter() - start


def ml100k_facts() -> Facts | None:
    """The facts module over MovieLens-100K, or None without ``RAG_RECS_ML100K``."""
    path = os.environ.get("RAG_RECS_ML100K")
    if not path:
        return None
    from rag_recs.assistant.finder import ItemFinder
    from rag_recs.assistant.validate import Catalog
    from rag_recs.data.attributes import item_attributes
    from rag_recs.data.index import InteractionIndex
    from rag_recs.data.loaders import load_dataset
    from rag_recs.data.sparse import InteractionMatrix

    data = load_dataset(path)
    index = InteractionIndex.from_dataset(data)
    catalog = Catalog(data.catalog, {i: data.title(i) for i in data.catalog})
    finder = ItemFinder(data, catalog, index)
    return Facts(data, index, InteractionMatrix(index), item_attributes(data), finder, "movies")


def same_facts(fact: Fact | str, want: dict[str, Any]) -> bool:
    """Whether the facts module's answer holds exactly the expected facts."""
    if isinstance(fact, str):
        return False
    got = fact.values
    if fact.kind == "history":
        return {"count": got["count"], "liked": got["liked"]} == want
    if fact.kind == "favourites":
        top = [[x["value"], x["count"]] for x in got["favourites"]["genres"]]
        return top == want["genres"]
    if fact.kind == "similar_users":
        return [[u["user_id"], u["jaccard"], u["shared"]] for u in got["users"]] == want["users"]
    if fact.kind == "seen":
        keep = {k: v for k, v in got.items() if k in ("seen", "liked")}
        return fact.item == want["item_id"] and {"item_id": fact.item, **keep} == want
    if fact.kind == "liked_count":
        return {"item_id": fact.item, "liked": got["liked"], "had": got["had"]} == want
    if fact.kind == "recent":
        return got["item_id"] == want["item_id"]
    if fact.kind == "item":
        features = got["features"].get("genres", [])
        mine = {"item_id": fact.item, "title": got["title"], "genres": features, "had": got["had"]}
        return mine == want
    return False


def score(cases: list[dict], llm: object, facts: Facts | None) -> list[dict]:
    """One row per question: what was read right, and the LLM's seconds or None."""
    rows = []
    for case in cases:
        intent, fact, seconds = read(case["question"], llm, facts)
        user = None if intent.user is None else str(intent.user)
        kind = fact.kind if fact is not None else None
        got = (user, intent.k, intent.include, intent.exclude, intent.like, kind)
        want = (case["user"], case["k"], case["include"], case["exclude"], case["like"], None)
        right_fact = None
        if case.get("fact"):  # a data question: whom, which fact, and which item it names
            item = (
                None
                if facts is None or fact is None or not fact.item_text
                else (facts.find_item(fact.item_text))
            )
            got = (user, intent.k, kind, item if facts is not None else case.get("item"))
            want = (case["user"], case["k"], case["fact"], case.get("item"))
            if facts is not None:
                answer = facts.answer(fact, fact.user) if fact is not None else ""
                right_fact = same_facts(answer, case["facts"])
        rows.append(
            {
                "language": case["language"],
                "domain": case.get("domain", "movies"),
                "user": user == case["user"],
                "k": intent.k == case["k"],
                "intent": got == want,
                "fact": right_fact,
                "wrong": user not in (None, case["user"]),
                "seconds": seconds,
            }
        )
    return rows


def table_rows(reader: str, rows: list[dict]) -> list[list[str]]:
    groups = [("lang", lang) for lang in LANGUAGES] + [
        ("domain", d) for d in sorted({r["domain"] for r in rows})
    ]
    out = []
    for by, value in [*groups, ("all", "all")]:
        key = {"lang": "language", "domain": "domain"}.get(by)
        part = rows if key is None else [r for r in rows if r[key] == value]
        if not part:
            continue
        n = len(part)
        facts = [r["fact"] for r in part if r["fact"] is not None]
        times = [r["seconds"] for r in part if r["seconds"] is not None]
        out.append(
            [
                reader,
                f"{by}={value}" if by != "all" else "all",
                str(n),
                f"{sum(r['user'] for r in part) / n:.3f}",
                f"{sum(r['k'] for r in part) / n:.3f}",
                f"{sum(r['intent'] for r in part) / n:.3f}",
                f"{sum(facts) / len(facts):.3f} ({len(facts)})" if facts else "-",
                str(sum(r["wrong"] for r in part)),
                f"{statistics.mean(times):.2f} s ({len(times)})" if times else "-",
            ]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="local", help="backend for the fallback (none: skip)")
    args = parser.parse_args()
    cases = [json.loads(line) for line in SET.read_text("utf-8").splitlines() if line.strip()]
    facts = ml100k_facts()
    rows = table_rows("patterns", score(cases, None, facts))
    if args.llm != "none":
        from rag_recs.llm import build_llm

        llm = build_llm(args.llm)
        read("warm-up: the one they call 5", llm)  # the first call loads and fills caches
        rows += table_rows(f"patterns + {args.llm}", score(cases, llm, facts))
    columns = [
        "reader",
        "group",
        "n",
        "user acc",
        "k acc",
        "intent acc",
        "fact acc (n)",
        "wrong user",
        "LLM mean (calls)",
    ]
    print_table(f"Phrasing set ({len(cases)} questions)", columns, rows)


if __name__ == "__main__":
    main()
