"""Reading a question with the LLM when the patterns cannot: user, count, genres, "like X" and
free-text taste, schema-constrained where the backend allows and leniently parsed elsewhere.

What comes back is only what the model said; the assistant checks it against the question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.utils.json import parse_partial_json
from pydantic import BaseModel, Field, ValidationError, create_model

from rag_recs.llm.calls import invoke_text
from rag_recs.llm.errors import LLMError
from rag_recs.llm.prompts import load_prompt

_TAGS = re.compile(r"</?\s*question\s*>", re.IGNORECASE)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class Request(BaseModel):
    """What the LLM read in a question (unchecked: the id and count may be made up)."""

    user: str | None = Field(None, description="the person's id exactly as written, or null")
    k: int | None = Field(None, description="how many items are asked for, or null")
    include: list[str] = Field(default_factory=list, description="genres asked for")
    exclude: list[str] = Field(default_factory=list, description="genres refused")
    like: list[str] = Field(default_factory=list, description="titles to resemble")
    taste: str | None = Field(None, description="any other wish, in a few words")


def request_schema(genres: Sequence[str]) -> type[BaseModel]:
    """A Request whose genres are a Literal of ``genres`` (at most 3 each, short strings), so a
    constraining backend can only name the data's genres."""
    names = tuple(dict.fromkeys(str(g) for g in genres))
    genre = Literal[names] if names else str  # type: ignore[valid-type]
    text = Annotated[str, Field(max_length=60)]
    return create_model(
        "Request",
        __doc__="What the request asks for.",
        user=(str | None, Field(None, max_length=40, description="the id as written, or null")),
        k=(int | None, Field(None, ge=0, le=1000, description="how many items, or null")),
        include=(list[genre], Field(default_factory=list, max_length=3)),
        exclude=(list[genre], Field(default_factory=list, max_length=3)),
        like=(list[text], Field(default_factory=list, max_length=2)),
        taste=(str | None, Field(None, max_length=60)),
    )


def read_request(llm: BaseChatModel, question: str, genres: Sequence[str]) -> Request:
    """Ask ``llm`` what ``question`` requests; an answer that is no request raises LLMError."""
    names = list(dict.fromkeys(str(g) for g in genres))
    example = [g for g in names if g.lower() != "unknown"] + ["comedy", "horror"]
    values = {
        "genres": ", ".join(names) or "(none)",
        "genre_a": example[0],
        "genre_b": example[1],
        "question": _TAGS.sub("", question).strip(),
    }
    messages = load_prompt("extract").invoke(values).to_messages()
    text = invoke_text(llm, messages, schema=request_schema(names))
    return parse_request(text, names)


def parse_request(text: str, genres: Sequence[str]) -> Request:
    """The Request in ``text`` (JSON, possibly cut off or wrapped in prose); genres outside
    ``genres`` and fields of the wrong type are dropped; no JSON object with a request's field
    raises LLMError."""
    match = _OBJECT.search(text or "")
    data: Any = None
    if match:
        try:
            data = json.loads(match.group())
        except json.JSONDecodeError:
            data = parse_partial_json(match.group())
    elif "{" in (text or ""):
        data = parse_partial_json(text[text.index("{") :])
    if not isinstance(data, dict) or not set(data) & set(Request.model_fields):
        first = (text or "").strip().splitlines()[0][:80] if (text or "").strip() else "nothing"
        raise LLMError(f"the LLM's reading is no JSON object (it said: {first})")
    known = {g.lower(): g for g in genres}
    fields: dict[str, Any] = {
        "user": _text(data.get("user")),
        "k": _count(data.get("k")),
        "include": [known[g.lower()] for g in _texts(data.get("include")) if g.lower() in known],
        "exclude": [known[g.lower()] for g in _texts(data.get("exclude")) if g.lower() in known],
        "like": _texts(data.get("like"))[:2],
        "taste": _text(data.get("taste")),
    }
    try:
        return Request(**fields)
    except ValidationError as exc:  # pragma: no cover - the fields were coerced above
        raise LLMError(f"the LLM's reading is not a request: {exc.errors()[0]['msg']}") from exc


def _text(value: Any) -> str | None:
    """A non-empty string (numbers as their digits), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()[:60] if isinstance(value, str | int) else ""
    return None if text.lower() in ("", "null", "none") else text


def _count(value: Any) -> int | None:
    """A non-negative whole number, from an int or its digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _texts(value: Any) -> list[str]:
    """A list of non-empty strings from a list (or a single string)."""
    items = value if isinstance(value, list) else [value]
    return [t for t in (_text(v) for v in items) if t]
