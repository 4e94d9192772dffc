"""Interaction histories and the item catalog as text documents for embedding and for an LLM.

A user's history is packed oldest to newest into chunks that fit the embedding model's window;
each chunk reads newest first, names items by title, splits liked from disliked items where
ratings exist, ends with the chunk's most frequent genres, and starts with a header naming the
user. Chunks are cut from the oldest end, so new interactions change only the user's last chunk
and re-embed nothing else.

What is embedded is what retrieval compares (see :func:`embedding_text`): the titles and the
genre line, not the header, whose user id, part number and dates say nothing about taste. Genres
are summed up once per chunk rather than repeated after every title: repeated on every line they
outweighed the titles, and neighbours found by the vectors shared fewer items.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from langchain_core.documents import Document

from rag_recs.data.columns import id_spellings
from rag_recs.data.schema import GENRES, ITEM, RATING, TEXT, TIME, TITLE, USER, Dataset, to_python
from rag_recs.errors import DataError

USER_KIND, ITEM_KIND = "user", "item"


@dataclass(frozen=True)
class DocumentConfig:
    """How histories become text.

    ``max_chars`` bounds one chunk's titles: 600 characters are about 150-220 word pieces,
    inside MiniLM's 256-token window with room for the header and the genre line.
    """

    max_items: int = 25
    max_chars: int = 600
    max_line_chars: int = 120
    max_genres: int = 5
    liked_at: float = 4.0
    disliked_at: float = 2.0
    verb: str | None = None  # "read", "watched", ...; None picks one from the data's name


def user_doc_id(user: Any, chunk: int) -> str:
    return f"user:{user}:{chunk}"


def chunk_user(doc_id: str, like: Any) -> Any:
    """The user of a :func:`user_doc_id`, typed as ``like`` is (one dataset's users share a
    type), so a query can return ids alone instead of every chunk's metadata."""
    text = doc_id.removeprefix("user:").rsplit(":", 1)[0]
    return next((s for s in id_spellings(text) if type(s) is type(like)), text)


def item_doc_id(item: Any) -> str:
    return f"item:{item}"


def content_hash(text: str, metadata: dict[str, Any]) -> str:
    """A short digest of a document's text and metadata: unchanged documents are not re-embedded."""
    payload = json.dumps([text, {k: v for k, v in metadata.items() if k != "hash"}], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def item_ids(metadata: dict[str, Any]) -> list:
    """The items of a user history chunk, newest first, from its (stored) metadata."""
    ids = metadata.get("item_ids") or []
    return json.loads(ids) if isinstance(ids, str) else list(ids)  # older stores: a list


def embedding_text(doc: Document) -> str:
    """The part of a document that is embedded: a user chunk without its header line."""
    if doc.metadata.get("kind") == USER_KIND:
        _, _, body = doc.page_content.partition("\n")
        return body or doc.page_content
    return doc.page_content


def build_documents(dataset: Dataset, config: DocumentConfig | None = None) -> list[Document]:
    """Every user's history chunks, then the item catalog (when the data describes its items)."""
    return user_documents(dataset, config) + item_documents(dataset, config)


def user_documents(dataset: Dataset, config: DocumentConfig | None = None) -> list[Document]:
    """One document per chunk of each user's history; ids ``user:<id>:<chunk>``, chunk 0 oldest."""
    config = config or DocumentConfig()
    if not dataset.has_users:
        raise DataError("the data has no user and item columns: there are no histories to index")
    titles = _item_titles(dataset, config.max_line_chars)
    genres = _item_genres(dataset)
    verb = config.verb or _verb(dataset)
    docs = []
    for user, items, ratings, times in _histories(dataset):
        chunk_texts = [titles.get(i) or _fallback(i) for i in items]
        for number, (lo, hi) in enumerate(_chunks(chunk_texts, config)):
            docs.append(
                _user_chunk(
                    user,
                    number,
                    items[lo:hi],
                    chunk_texts[lo:hi],
                    None if ratings is None else ratings[lo:hi],
                    None if times is None else times[lo:hi],
                    genres,
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
    """(user, items, ratings, times) per user, oldest first.

    Item ids break time ties (MovieLens has many same-second ratings), so the documents do not
    depend on the rows' order: a split or a re-sorted file re-embeds only what really changed.
    """
    frame = dataset.interactions
    keys = [USER, TIME] if TIME in frame else [USER]
    order = frame
    if len(keys) > 1:
        try:
            order = frame.sort_values([*keys, ITEM], kind="stable")
        except TypeError:  # item ids of mixed types: file order breaks the ties
            order = frame.sort_values(keys, kind="stable")
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
    genres: dict[Any, list[str]],
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
    counts = Counter(g for i in order for g in genres.get(items[i], ()))
    if counts and config.max_genres > 0:
        body.append("Genres: " + ", ".join(g for g, _ in counts.most_common(config.max_genres)))
    metadata: dict[str, Any] = {  # only what retrieval reads back: every key costs a write
        "kind": USER_KIND,
        "user_id": user,
        "chunk": number,
        # one JSON string, not a list: Chroma writes a list as one indexed row per element,
        # which made list metadata a quarter of a MovieLens store's build time
        "item_ids": json.dumps(_homogeneous([items[i] for i in order]), separators=(",", ":")),
        "n_items": len(items),
    }
    return _document(user_doc_id(user, number), "\n".join([header, *body]), metadata)


def _document(doc_id: str, text: str, metadata: dict[str, Any]) -> Document:
    metadata["hash"] = content_hash(text, metadata)
    return Document(page_content=text, metadata=metadata, id=doc_id)


def _item_titles(dataset: Dataset, max_chars: int) -> dict[Any, str]:
    """item -> title, clipped so one title can never fill a chunk."""
    items = dataset.items
    if items is None or TITLE not in items:
        return {}
    lines = {}
    for item, title in zip(items[ITEM], items[TITLE], strict=True):
        if isinstance(title, str) and title:
            lines[to_python(item)] = _clip(title, max_chars)
    return lines


def _item_genres(dataset: Dataset) -> dict[Any, list[str]]:
    items = dataset.items
    if items is None or GENRES not in items:
        return {}
    return {
        to_python(item): tags
        for item, value in zip(items[ITEM], items[GENRES], strict=True)
        if (tags := _tags(value))
    }


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
