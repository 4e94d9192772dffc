"""The LLM as a fallback reader of questions, held to what the question says.

The patterns go first. Only a question they cannot read goes to the LLM, and what it reads is
kept only when the question bears it out: the user must exist, be written in the question
(digits or number words, never a count or an item's number) and the question must refer to
someone ("what about 12?" may mean 12 items); the count must be written too. Anything else, or
any error, leaves the question unread, so the assistant asks who is meant rather than guess.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any

from rag_recs.assistant.intent import (
    ITEM_BEFORE_RE,
    ITEM_NOUNS,
    NOUN_RE,
    PERSON_RE,
    Intent,
    genre_forms,
)
from rag_recs.assistant.lexicon import numbers_in, plain

# words that refer to someone, besides the person nouns: a number alone ("what about 12?") may
# be a count as well as a person, so the LLM's user is kept only beside one of these
PERSON_CUE_RE = re.compile(
    r"\b(?:one|someone|somebody|who|whose|whom|called|call|known|named|registered|number|"
    r"individual|qui|celui|celle|quelqu'un|personne|num[eé]ro|wer|wem|jemand|jemanden|nummer|"
    r"kennung|person|quien|qui[eé]n|alguien|persona|n[uú]mero|identificador)\b",
    re.I,
)


def needs_llm(intent: Intent, user_pinned: bool = False) -> bool:
    """True when the patterns found no user in a question that is no follow-up (or that names
    someone they cannot read): only then may an LLM read it."""
    if intent.kind == "why" or intent.user is not None:
        return False
    if intent.kind == "unknown" or intent.names_person:
        return True
    return not (intent.follow_up or user_pinned)


def read_with_llm(
    llm: Any,
    question: str,
    intent: Intent,
    genres: Sequence[str],
    resolve_user: Callable[[Any], Any],
) -> tuple[Intent, str]:
    """Let ``llm`` read ``question``; returns the intent to act on and a note saying how it was
    read. Without a user the question names and ``resolve_user`` knows, ``intent`` is returned
    unchanged (the patterns' reading), and the note says why the LLM's was not used."""
    from rag_recs.llm.intent import read_request

    try:
        request = read_request(llm, question, genres)
    except Exception as exc:  # noqa: BLE001 - a failed reading is an unread question, never a crash
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        return intent, f"the LLM could not read the question ({type(exc).__name__}: {first})"
    if request.user is None:
        return intent, "the LLM found no user in the question either"
    where = user_spans(request.user, question, genres)
    if not where:
        return intent, f"the LLM read user {request.user!r}, which the question does not name"
    if not (PERSON_RE.search(question) or PERSON_CUE_RE.search(question)):
        return intent, f"the LLM read user {request.user!r}, but the question refers to no one"
    try:
        user = resolve_user(request.user)
    except Exception:  # noqa: BLE001 - an unknown user is a reason to ask, not to fail
        return intent, f"the LLM read user {request.user!r}, who is not in the data"
    k = intent.k if intent.k is not None else grounded_count(request.k, question, where)
    read = dataclasses.replace(  # what the patterns read stands; the LLM fills the gaps
        intent,
        kind="recommend",
        user=str(user),
        k=k,
        include=intent.include or _named(request.include, question, genres),
        exclude=intent.exclude or _named(request.exclude, question, genres),
        like=intent.like or [t for t in request.like if t.lower() in question.lower()][:1],
        taste=intent.taste or _grounded_text(request.taste, question),
        names_person=False,
        follow_up=False,
    )
    parts = [f"user {user}"] + ([f"{k} items"] if k is not None else [])
    parts += [f"only {', '.join(read.include)}"] if read.include else []
    parts += [f"no {', '.join(read.exclude)}"] if read.exclude else []
    parts += [f"like '{read.like[0]}'"] if read.like else []
    parts += [f"taste '{read.taste}'"] if read.taste else []
    note = f"read by the LLM: {'; '.join(parts)}"
    if request.taste and not read.taste:
        note += f" (it also read the wish '{request.taste}', which the question does not say)"
    return read, note


def _grounded_text(text: str | None, question: str) -> str | None:
    """``text`` when the question says it (case aside), else None: nothing is taken on faith."""
    return text if text and text.lower() in question.lower() else None


def user_spans(user: str, question: str, genres: Sequence[str] = ()) -> list[tuple[int, int]]:
    """Where ``question`` writes ``user`` as a person's id: the id as a word, or its number in
    digits or words (never "un", "once" ...), and not as a count ("3 films") or an item's
    number ("item 42")."""
    text = " ".join(question.split())
    wanted = user.strip().lstrip("#")
    if wanted.isdigit():
        spans = [(s, e) for v, s, e in numbers_in(text, ids_only=True) if v == int(wanted)]
    else:
        pattern = rf"(?<![\w-]){re.escape(wanted)}(?![\w-])"
        spans = [m.span() for m in re.finditer(pattern, text, re.I)] if wanted else []
    return [span for span in spans if not _count_or_item(text, *span, genres)]


def grounded_count(k: int | None, question: str, user_at: list[tuple[int, int]]) -> int | None:
    """``k`` when ``question`` writes that number somewhere other than the user's id, else None."""
    if k is None:
        return None
    text = " ".join(question.split())
    taken = set(user_at)
    found = [(s, e) for v, s, e in numbers_in(text) if v == k and (s, e) not in taken]
    return k if found else None


def _named(read: list[str], question: str, genres: Sequence[str]) -> list[str]:
    """The genres of ``read`` that are the data's and that ``question`` names in some form."""
    text = plain(question)
    return [
        g
        for g in dict.fromkeys(read)
        if g in genres
        and any(re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text) for f in genre_forms(g))
    ]


def _count_or_item(text: str, start: int, end: int, genres: Sequence[str]) -> bool:
    """The number at text[start:end] counts items ("3 films", "top 3") or numbers one ("item 3")."""
    if ITEM_BEFORE_RE.search(text, 0, start) or re.search(r"(?:top|[nk]\s*=)\s*$", text[:start]):
        return True
    after = NOUN_RE.match(plain(text) if len(plain(text)) == len(text) else text, end)
    noun = after.group(1).lower() if after else ""
    return bool(re.fullmatch(ITEM_NOUNS, noun)) or any(noun in genre_forms(g) for g in genres)
