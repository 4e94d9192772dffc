"""Interaction histories and the item catalog as text documents for embedding and for an LLM.

A user's history is packed oldest to newest into chunks that fit the embedding model's window;
each chunk reads newest first, names items by title and genres, splits liked from disliked
items where ratings exist, and repeats the user's identity. Chunks are cut from the oldest end,
so new interactions change only the user's last chunk and re-embed nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from langchain_core.documents import Document

from rag_recs.data.schema import GENRES, ITEM, RATING, TEXT, TIME, TITLE, USER, Dataset, to_python
from rag_recs.errors import DataError

USER_KIND, ITEM_KIND = "user", "item"


@dataclass(frozen=True)
class DocumentConfig:
    """How histories become text.

    ``max_chars`` bounds one chunk: 600 characters of titles and genres are about 150-220
    word pieces, inside MiniLM's 256-token window with room for the header.
    """

    max_items: int = 25
    max_chars: int = 600
    max_line_chars: int = 120
    liked_at: float = 4.0
    disliked_at: float = 2.0
    verb: str | None = None  # "read", "watched", ...; None picks one from the data's name


def user_doc_id(user: Any, chunk: int) -> str:
    return f"user:{user}:{chunk}"


def item_doc_id(item: Any) -> str:
    return f"item:{item}"


def content_hash(text: str, metadata: dict[str, Any]) -> str:
    """A short digest of a document's text and metadata: unchanged documents are not re-embedded."""
    payload = json.dumps([text, {k: v for k, v in metadata.items() if k != "hash"}], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_documents(dataset: Dataset, config: DocumentConfig | None = None) -> list[Document]:
    """Every user's history chunks, then the item catalog (when the data describes its items)."""
    return user_documents(dataset, config) + item_documents(dataset, config)


def user_documents(dataset: Dataset, config: DocumentConfig | None = None) -> list[Document]:
    """One document per chunk of each user's history; ids ``user:<id>:<chunk>``, chunk 0 oldest."""
    config = config or DocumentConfig()
    if not dataset.has_users:
        raise DataError("the data has no user and item columns: there are no histories to index")
    lines = _item_lines(dataset, config.max_line_chars)
    verb = config.verb or _verb(dataset)
    docs = []
    for user, items, ratings, times in _histories(dataset):
        chunk_texts = [lines.get(i) or _fallback(i) for i in items]
        for number, (lo, hi) in enumerate(_chunks(chunk_texts, config)):
            docs.append(
                _user_chunk(
                    user,
                    number,
                    items[lo:hi],
                    chunk_texts[lo:hi],
                    None if ratings is None else ratings[lo:hi],
                    None if times is None else times[lo:hi],
                    config,
                    verb,
                )
            )
    return docs


def item_documents(dataset: Dataset, config: DocumentConfig | None = None) -> list[Document]:
    """One document per catalog item (title, genres, text); none when the data has no item table."""
    config = config or DocumentConfig()
    items = dataset.items
    if items is None or not {TITLE, GENRES, TEXT} & set(items.columns):
        return []
    titles = items[TITLE] if TITLE in items else [None] * len(items)
    genres = items[GENRES] if GENRES in items else [None] * len(items)
    texts = items[TEXT] if TEXT in items else [None] * len(items)
    docs = []
    for item, title, tags, text in zip(items[ITEM], titles, genres, texts, strict=True):
        item = to_python(item)
        tags = _tags(tags)
        name = title if isinstance(title, str) and title else _fallback(item)
        parts = [name]
        if tags:
            parts.append("Genres: " + ", ".join(tags))
        if isinstance(text, str) and text:
            parts.append(text)
        metadata: dict[str, Any] = {"kind": ITEM_KIND, "item_id": item, "title": name}
        if tags:
            metadata["genres"] = tags
        docs.append(
            _document(item_doc_id(item), _clip("\n".join(parts), config.max_chars), metadata)
        )
    return docs


def _histories(dataset: Dataset) -> Iterator[tuple[Any, list, list | None, list | None]]:
    """(user, items, ratings, times) per user, oldest first (file order breaks time ties)."""
    frame = dataset.interactions
    keys = [USER, TIME] if TIME in frame else [USER]
    order = frame.sort_values(keys, kind="stable") if len(keys) > 1 else frame
    users = order[USER].to_numpy()
    cuts = np.flatnonzero(users[1:] != users[:-1]) + 1 if len(keys) > 1 else None
    if cuts is None:  # no times: group by user keeping file order
        positions = order.groupby(USER, sort=False).indices
        groups = list(positions.values())
    else:
        groups = np.split(np.arange(len(order)), cuts)
    items = order[ITEM].to_numpy(object)
    ratings = order[RATING].to_numpy() if RATING in order else None
    times = order[TIME].to_numpy() if TIME in order else None
    for rows in groups:
        yield (
            to_python(users[rows[0]]),
            [to_python(i) for i in items[rows]],
            None if ratings is None else ratings[rows].tolist(),
            None if times is None else times[rows].tolist(),
        )


def _chunks(lines: list[str], config: DocumentConfig) -> Iterator[tuple[int, int]]:
    """Greedy [lo, hi) windows, oldest first, under both the item and the character budget."""
    lo, size = 0, 0
    for hi, line in enumerate(lines):
        cost = len(line) + 2
        if hi > lo and (hi - lo >= config.max_items or size + cost > config.max_chars):
            yield lo, hi
            lo, size = hi, 0
        size += cost
    if lo < len(lines):
        yield lo, len(lines)


def _user_chunk(
    user: Any,
    number: int,
    items: list,
    lines: list[str],
    ratings: list | None,
    times: list | None,
    config: DocumentConfig,
    verb: str,
) -> Document:
    when = ""
    if times:
        when = f", {_date(times[0])} to {_date(times[-1])}"
    header = f"User {user}, history part {number + 1}{when}, newest first."
    order = range(len(items) - 1, -1, -1)  # newest first
    if ratings is None:
        sections = [(verb.capitalize(), list(order))]
    else:
        liked = [i for i in order if ratings[i] >= config.liked_at]
        disliked = [i for i in order if ratings[i] <= config.disliked_at]
        rest = [i for i in order if config.disliked_at < ratings[i] < config.liked_at]
        sections = [("Liked", liked), ("Disliked", disliked), (f"Also {verb}", rest)]
    body = [f"{name}: " + "; ".join(lines[i] for i in rows) for name, rows in sections if rows]
    metadata: dict[str, Any] = {
        "kind": USER_KIND,
        "user_id": user,
        "chunk": number,
        "item_ids": _homogeneous([items[i] for i in order]),
        "n_items": len(items),
    }
    if times:
        metadata["time_from"], metadata["time_to"] = int(times[0]), int(times[-1])
    return _document(user_doc_id(user, number), "\n".join([header, *body]), metadata)


def _document(doc_id: str, text: str, metadata: dict[str, Any]) -> Document:
    metadata["hash"] = content_hash(text, metadata)
    return Document(page_content=text, metadata=metadata, id=doc_id)


def _item_lines(dataset: Dataset, max_chars: int) -> dict[Any, str]:
    """item -> "Title (genre, genre)", clipped so one line can never fill a chunk."""
    items = dataset.items
    if items is None:
        return {}
    titles = items[TITLE] if TITLE in items else [None] * len(items)
    genres = items[GENRES] if GENRES in items else [None] * len(items)
    lines = {}
    for item, title, tags in zip(items[ITEM], titles, genres, strict=True):
        item = to_python(item)
        name = title if isinstance(title, str) and title else _fallback(item)
        tags = _tags(tags)
        lines[item] = _clip(f"{name} ({', '.join(tags)})" if tags else name, max_chars)
    return lines


def _tags(value: Any) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value if str(v)]
    return [value] if isinstance(value, str) and value else []


def _homogeneous(ids: list) -> list:
    """Chroma list metadata must hold one type: ints stay ints, anything else becomes text."""
    if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return ids
    return [str(i) for i in ids]


def _fallback(item: Any) -> str:
    return f"item {item}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _date(seconds: int) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d")


def _verb(dataset: Dataset) -> str:
    name = dataset.name.lower()
    if name.startswith(("ml-", "movielens")):
        return "watched"
    return "read" if name == "synthetic" else "seen"
