"""Lenient reading of an LLM's answer: JSON where there is some, ids or titles where there are
none; whatever cannot be read is reported in ``Proposal.unparsed``, never raised or dropped."""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from langchain_core.utils.json import parse_partial_json

from rag_recs.llm.schema import Candidate, Proposal, plain_id

_ID_KEYS = ("item_id", "id", "item", "itemId", "item_title", "title", "name")
_REASON_KEYS = ("reason", "explanation", "why", "because", "rationale")
_LIST_KEYS = ("items", "recommendations", "candidates", "picks", "results", "suggestions")
_TOKEN = re.compile(r"[^\s,;:()\[\]{}#\"'`|*<>]+")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s*")
_FENCE = re.compile(r"^`{3}\w*$|^`{3}$")


class PoolIndex:
    """Looks up pool items by id (as text) or title, case-insensitively."""

    def __init__(self, pool: Mapping[Hashable, str]) -> None:
        """Index ``pool`` (item id -> title); ids are matched through str(id)."""
        self.by_id: dict[str, Hashable] = {}
        self.by_title: dict[str, Hashable] = {}
        for raw_id, title in pool.items():
            key = plain_id(raw_id)
            self.by_id.setdefault(str(key).casefold(), key)
            if title:
                self.by_title.setdefault(str(title).strip().casefold(), key)
        self.int_ids = bool(self.by_id) and all(type(k) is int for k in self.by_id.values())
        self._titles = sorted(self.by_title, key=len, reverse=True)

    def exact(self, value: Any) -> Hashable | None:
        """The pool id that ``value`` names exactly (id or title), else None."""
        text = str(value).strip().strip("\"'`").strip().casefold()
        return self.by_id.get(text, self.by_title.get(text))

    def mentioned(self, text: str) -> Hashable | None:
        """The pool item that ``text`` mentions first (a title inside it, or an id as a word)."""
        folded = str(text).casefold()
        hits = [(folded.find(t), -len(t), self.by_title[t]) for t in self._titles if t in folded]
        for match in _TOKEN.finditer(folded):
            if match[0] in self.by_id:
                hits.append((match.start(), 0, self.by_id[match[0]]))
        return min(hits, key=lambda h: (h[0], h[1]))[2] if hits else None

    def resolve(self, value: Any) -> Hashable | None:
        """Exact match first, then a mention inside a longer string ("item 105", "105: title")."""
        found = self.exact(value)
        return self.mentioned(str(value)) if found is None and isinstance(value, str) else found

    def outside(self, value: Any) -> int | str:
        """An id not in the pool, in the pool's id type where it can be (ints stay ints)."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return json.dumps(value, default=str)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if self.int_ids and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        return value if isinstance(value, int) else text


def parse_proposal(text: str | None, pool: Mapping[Hashable, str]) -> Proposal:
    """Read ``text`` into a Proposal against ``pool``; never raises on malformed output."""
    text = text or ""
    if not text.strip():
        return Proposal(unparsed=[text], raw=text)
    index = PoolIndex(pool)
    found = _find_json(text)
    if found is None:
        items, unparsed = _from_lines(text.splitlines(), index)
    else:
        data, start, end = found
        items, unparsed = _from_json(data, index)
        prose = [text[:start], text[end:]]
        unparsed += [p for p in (_strip_fences(p) for p in prose) if p]
    return Proposal(items=items, unparsed=unparsed, raw=text)


def _find_json(text: str) -> tuple[Any, int, int] | None:
    """The first JSON object or array in ``text`` with its span; a cut-off one is completed."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", text):
        start = match.start()
        try:
            data, end = decoder.raw_decode(text, start)
        except ValueError:  # output cut off by the token limit: close what is open
            data, end = _partial_json(text[start:]), len(text)
        if isinstance(data, dict | list) and data:
            return data, start, end
    return None


def _partial_json(text: str) -> Any:
    """``text`` parsed as cut-off JSON (open strings and brackets closed), or None."""
    try:
        return parse_partial_json(text)
    except ValueError:
        return None


def _entries(data: Any) -> tuple[list[Any], list[str]]:
    """The candidate entries inside parsed JSON, and the parts that hold none."""
    if isinstance(data, list):
        return data, []
    if any(key in data for key in _ID_KEYS):
        return [data], []
    for key in _LIST_KEYS:
        if isinstance(data.get(key), list):
            return data[key], []
    lists = [v for v in data.values() if isinstance(v, list)]
    if lists:
        return lists[0], []
    return [], [json.dumps(data, ensure_ascii=False)]


def _from_json(data: Any, index: PoolIndex) -> tuple[list[Candidate], list[str]]:
    """Candidates from JSON entries: dicts with an id/title key, or bare ids and titles."""
    entries, unparsed = _entries(data)
    items: list[Candidate] = []
    for entry in entries:
        if isinstance(entry, dict):
            values = [entry[k] for k in _ID_KEYS if entry.get(k) not in (None, "")]
            reason = next((str(entry[k]) for k in _REASON_KEYS if entry.get(k)), "")
        elif entry is not None and not isinstance(entry, list):
            values, reason = [entry], ""
        else:
            values, reason = [], ""
        if not values:
            unparsed.append(json.dumps(entry, ensure_ascii=False))
            continue
        key = next((k for k in map(index.resolve, values) if k is not None), None)
        if key is None:
            items.append(Candidate(item_id=index.outside(values[0]), reason=reason, in_pool=False))
        else:
            items.append(Candidate(item_id=key, reason=reason))
    return items, unparsed


def _from_lines(lines: list[str], index: PoolIndex) -> tuple[list[Candidate], list[str]]:
    """Candidates from prose, one per line that mentions a pool id or title."""
    items: list[Candidate] = []
    unparsed: list[str] = []
    for line in _nonblank(lines):
        key = index.mentioned(line)
        if key is None:
            unparsed.append(line)
        else:
            items.append(Candidate(item_id=key, reason=_BULLET.sub("", line)))
    return items, unparsed


def _nonblank(lines: list[str]) -> Iterator[str]:
    """Stripped lines that say something (no blank lines, no code fences)."""
    for line in lines:
        line = line.strip()
        if line and not _FENCE.match(line):
            yield line


def _strip_fences(text: str) -> str:
    """Prose around a JSON block, without code fences and blank lines."""
    return "\n".join(_nonblank(text.splitlines()))
