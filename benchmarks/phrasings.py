"""How well questions are read: the phrasing set (tests/data/phrasings.jsonl), per language,
by the patterns alone and by the patterns with SmolLM2 as the fallback reader.

A question the patterns cannot read goes to the LLM exactly as in ``Assistant.ask``, and what
the LLM reads is checked the same way (the user must be written in the question and exist:
here, users 1-943 as in MovieLens-100K). Reported per language: user accuracy (the expected
user, or none where the question names nobody), k accuracy, full-intent accuracy (user, k,
include, exclude, like), wrong users (a user read that is not the expected one: must be 0) and
the mean latency of the LLM fallback.

    python benchmarks/phrasings.py [--llm local]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import print_table  # noqa: E402

from rag_recs.assistant.extract import needs_llm, read_with_llm  # noqa: E402
from rag_recs.assistant.intent import Intent, parse_question  # noqa: E402
from rag_recs.data.loaders import ML100K_GENRES  # noqa: E402
from rag_recs.errors import UnknownUser  # noqa: E402

SET = HERE.parent / "tests" / "data" / "phrasings.jsonl"
N_USERS = 943


def resolve_user(user: object) -> int:
    """MovieLens-100K's users are 1 to 943; anything else is unknown."""
    text = str(user).strip()
    if text.isdigit() and 1 <= int(text) <= N_USERS:
        return int(text)
    raise UnknownUser(f"unknown user {user!r}")


def read(question: str, llm: object) -> tuple[Intent, float | None]:
    """The intent as ``Assistant.ask`` reads it, and the LLM's seconds when it was asked."""
    intent = parse_question(question, ML100K_GENRES)
    if llm is None or not needs_llm(intent):
        return intent, None
    start = time.perf_counter()
    intent, _ = read_with_llm(llm, question, intent, ML100K_GENRES, resolve_user)
    return intent, time.perf_counter() - start


def score(cases: list[dict], llm: object) -> dict[str, list]:
    """Per language: rows of (user ok, k ok, all ok, wrong user, LLM seconds or None)."""
    out: dict[str, list] = {}
    for case in cases:
        intent, seconds = read(case["question"], llm)
        user = None if intent.user is None else str(intent.user)
        got = (user, intent.k, intent.include, intent.exclude, intent.like)
        want = (case["user"], case["k"], case["include"], case["exclude"], case["like"])
        row = (
            user == case["user"],
            intent.k == case["k"],
            got == want,
            user not in (None, case["user"]),
            seconds,
        )
        out.setdefault(case["language"], []).append(row)
        out.setdefault("all", []).append(row)
    return out


def table_rows(name: str, results: dict[str, list]) -> list[list[str]]:
    rows = []
    for lang in ["en", "fr", "de", "es", "all"]:
        res = results.get(lang, [])
        if not res:
            continue
        n = len(res)
        times = [r[4] for r in res if r[4] is not None]
        latency = f"{statistics.mean(times):.2f} s ({len(times)})" if times else "-"
        rows.append(
            [
                name,
                lang,
                str(n),
                f"{sum(r[0] for r in res) / n:.3f}",
                f"{sum(r[1] for r in res) / n:.3f}",
                f"{sum(r[2] for r in res) / n:.3f}",
                str(sum(r[3] for r in res)),
                latency,
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="local", help="backend for the fallback (none: skip)")
    args = parser.parse_args()
    cases = [json.loads(line) for line in SET.read_text("utf-8").splitlines() if line.strip()]
    rows = table_rows("patterns", score(cases, None))
    if args.llm != "none":
        from rag_recs.llm import build_llm

        llm = build_llm(args.llm)
        read("warm-up: the one they call 5", llm)  # the first call loads and fills caches
        rows += table_rows(f"patterns + {args.llm}", score(cases, llm))
    columns = [
        "reader",
        "lang",
        "n",
        "user acc",
        "k acc",
        "intent acc",
        "wrong user",
        "LLM mean (calls)",
    ]
    print_table(f"Phrasing set ({len(cases)} questions)", columns, rows)


if __name__ == "__main__":
    main()
