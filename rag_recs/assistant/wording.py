"""An LLM's wording of a computed fact, kept only when it states nothing the fact does not and
leaves out none of its figures: every number and every title in it must be among the fact's
values, and every number of the template sentence must be in it; else the template stays (a
small model's "The answer is user 78." to "who is most like user 78?" passes the first test
alone)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rag_recs.assistant.facts import Fact

NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
QUOTED_RE = re.compile(r"(?<!\w)[\"“'‘]([^\"”'’]{3,80})[\"”'’](?!\w)")


def word_fact(llm: Any, question: str, fact: Fact, titles: Iterable[str] = ()) -> tuple[str, str]:
    """(answer text, who worded it: "llm" or "template") for ``fact``. ``titles`` are the
    catalog's titles: one the LLM names that is not among the facts rejects its wording."""
    from rag_recs.llm.calls import invoke_text
    from rag_recs.llm.prompts import load_prompt

    shown = json.dumps({"answer": fact.text, **fact.to_dict()}, ensure_ascii=False, default=str)
    messages = load_prompt("facts").invoke({"facts": shown, "question": question}).to_messages()
    try:
        text = invoke_text(llm, messages).strip()
    except Exception:  # noqa: BLE001 - a failed wording leaves the computed sentence
        return fact.text, "template"
    return (text, "llm") if grounded(text, fact, titles) else (fact.text, "template")


def grounded(text: str, fact: Fact, titles: Iterable[str] = ()) -> bool:
    """True when every number and title ``text`` states is one of ``fact``'s."""
    if not text:
        return False
    values = json.dumps(fact.to_dict(), ensure_ascii=False, default=str) + " " + fact.text
    allowed_numbers = {_number(n) for n in NUMBER_RE.findall(values)}
    own_titles = set(_titles(fact.values)) | {
        t.strip("'") for t in re.findall(r"'[^']+'", fact.text)
    }
    words = text
    for title in sorted(own_titles, key=len, reverse=True):
        words = words.replace(title, " ")  # numbers inside a fact's title are the title's
    stated = {_number(n) for n in NUMBER_RE.findall(words)}
    if any(n not in allowed_numbers for n in stated):
        return False
    template = fact.text
    for title in sorted(own_titles, key=len, reverse=True):
        template = template.replace(title, " ")
    if any(_number(n) not in stated for n in NUMBER_RE.findall(template)):
        return False  # a figure of the answer left out
    if any(q.strip() not in own_titles for q in QUOTED_RE.findall(words)):
        return False
    lowered, own = f" {words.lower()} ", {t.lower() for t in own_titles}
    return not any(
        len(t) > 3 and t.lower() in lowered and t.lower() not in own
        and re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", lowered)
        for t in titles
    )  # fmt: skip


def _number(text: str) -> str:
    """A number as compared: "0.26" and "0,26" alike, no thousands commas ("1,234")."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        return text.replace(",", "")
    return text.replace(",", ".")


def _titles(value: Any) -> Iterable[str]:
    """Every ``title`` in the fact's values, however deep."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "title" and isinstance(inner, str):
                yield inner
            else:
                yield from _titles(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _titles(inner)
