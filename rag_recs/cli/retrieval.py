"""``rag-recs index`` and ``rag-recs search``: build the history store, and look things up in it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from rag_recs.cli.common import (
    AssistantOptions,
    CollectionOpt,
    EmbeddingsOpt,
    Json,
    Source,
    emit_json,
    err,
    out,
    with_assistant,
    with_source,
)
from rag_recs.errors import DataError

ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Index only share I of N (0-based: 0/2 and 1/2), so that N processes can write "
        "one Chroma server (--chroma-url) together. Under torchrun each rank takes share "
        "RANK/WORLD_SIZE by itself.",
    ),
]


@with_source
@with_assistant("store", "chroma_url", "workspace")
def index(
    source: Source,
    options: AssistantOptions,
    embeddings: EmbeddingsOpt = None,
    collection: CollectionOpt = "rag-recs",
    shard: ShardOpt = None,
    json: Json = False,
) -> None:
    """Build or update the store of user histories and items that retrieval searches.

    With --shard I/N (or under torchrun) this process writes only its share of the documents;
    the store counts as complete (for ask) once all N shares have completed the same data."""
    from rag_recs.retrieval.shard import Shard

    share, ranked = Shard.from_env(), False
    if shard is not None:
        if share is not None:
            raise DataError("--shard under torchrun: each rank takes its share by itself")
        share = Shard.parse(shard)
    else:
        ranked = share is not None
    dataset = source.load()
    if not dataset.has_users:
        raise DataError("the data has no user and item columns: there are no histories to index")
    history = _open(dataset, source.data, options, embeddings, collection, create=True)
    summary = history.sync(dataset, progress=not json, shard=share)
    result = {
        "store": history.location,
        "collection": history.collection_name,
        "embedding_model": history.model.name,
        **summary.as_dict(),
        "seconds": round(summary.seconds, 3),
    }
    if share is not None:
        result["shard_documents"] = result["documents"]
    if ranked:
        result = _gather_ranks(result)
        if result is None:  # not rank 0: rank 0 prints for the whole run
            return
    if share is not None:
        result["documents"] = history.count()
        result["store_complete"] = history.synced(dataset)
    if json:
        emit_json(result)
        return
    done = "" if share is None else f"; share {result['shard']}"
    out.print(
        f"{_totals(result)} ({result['documents']} documents, "
        f"{history.model.key}{done}) in {history.location} [{result['seconds']:.1f} s]",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if share is not None and not result["store_complete"]:
        err.print("the store is complete once every share has been indexed")


_SUMMED = ("added", "updated", "deleted", "unchanged", "shard_documents")


def _gather_ranks(result: dict[str, Any]) -> dict[str, Any] | None:
    """Under torchrun: every rank's result to rank 0, which gets the run's totals (counts
    summed, the slowest rank's seconds, complete when all are); None on the other ranks."""
    from rag_recs import distributed

    results = distributed.gather(result)
    if results is None:
        return None
    total = {**result, **{k: sum(r[k] for r in results) for k in _SUMMED}}
    total["seconds"] = max(r["seconds"] for r in results)
    total["complete"] = all(r["complete"] for r in results)
    total["shard"] = f"all/{len(results)}"
    return total


def _totals(result: dict[str, Any]) -> str:
    return ", ".join(f"{result[k]} {k}" for k in ("added", "updated", "deleted", "unchanged"))


@with_source
@with_assistant("store", "chroma_url", "workspace")
def search(
    source: Source,
    options: AssistantOptions,
    text: Annotated[str | None, typer.Argument(help="What to look for, in words.")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Also list the users most similar to this user.")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many hits.")] = 5,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only user or only item documents.")
    ] = None,
    embeddings: EmbeddingsOpt = None,
    collection: CollectionOpt = "rag-recs",
    json: Json = False,
) -> None:
    """Print the user-history and item documents nearest to TEXT (and users similar to --user).

    The store searched is --store, --chroma-url, or else the workspace's store of --data."""
    if text is None and user is None:
        raise DataError("give a search TEXT, or --user ID for similar users")
    if text is not None and not text.strip():
        raise DataError("the search text is empty")
    if k < 1:
        raise DataError("--k must be at least 1")
    dataset = None
    if options.chroma_url is None and options.store is None:
        dataset = source.load()
    data = source.data if dataset is not None or source.data != Source.data else "SOURCE"
    history = _open(dataset, data, options, embeddings, collection)
    result: dict[str, Any] = {"store": history.location}
    if user is not None:
        result["user"] = history.resolve_user(user)
        result["similar_users"] = _similar(history, result["user"], k)
    if text is not None:
        result["query"] = text
        result["hits"] = [_hit(doc) for doc in history.search(text, k=k, kind=kind)]
    if json:
        emit_json(result)
        return
    if user is not None:
        _print_similar(result["user"], result["similar_users"])
    if text is not None:
        _print_hits(text, result["hits"])


def _open(
    dataset: Any,
    data: str,
    options: AssistantOptions,
    embeddings: str | None,
    collection: str,
    *,
    create: bool = False,
):
    from rag_recs.retrieval.store import open_store
    from rag_recs.workspace import Workspace

    url, store = options.chroma_url, options.store
    where = f" --chroma-url {url}" if url else f" --store {store}" if store else ""
    return open_store(
        Workspace(options.workspace),
        dataset,
        store_dir=store,
        chroma_url=url,
        embeddings=embeddings,
        collection=collection,
        create=create,
        index_hint=f"rag-recs index --data {data}{where}",
    )


def _similar(history: Any, user: Any, k: int) -> list[dict[str, Any]]:
    from rag_recs.retrieval.overlap import overlap

    pairs = history.similar_users(user, k)
    seen = history.seen([user, *(u for u, _ in pairs)])
    exact = overlap(seen, user, [u for u, _ in pairs])
    return [
        {
            "user_id": u,
            "score": round(s, 4),
            "jaccard": round(o.jaccard, 4),
            "shared_items": o.shared,
        }
        for (u, s), o in zip(pairs, exact, strict=True)
    ]


def _hit(doc: Any) -> dict[str, Any]:
    from rag_recs.retrieval.documents import item_ids

    meta = doc.metadata
    row: dict[str, Any] = {"id": doc.id, "kind": meta.get("kind"), "score": round(meta["score"], 4)}
    if meta.get("kind") == "item":
        row.update(item_id=meta.get("item_id"), title=meta.get("title"))
    else:
        row.update(user_id=meta.get("user_id"), chunk=meta.get("chunk"), item_ids=item_ids(meta))
    row["text"] = doc.page_content
    return row


def _print_similar(user: Any, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"Users most similar to user {user}")
    for col in ("user", "similarity", "jaccard", "shared items"):
        table.add_column(col, justify="right" if col != "user" else "left")
    for r in rows:
        table.add_row(
            str(r["user_id"]),
            f"{r['score']:.3f}",
            f"{r['jaccard']:.3f}",
            str(len(r["shared_items"])),
        )
    out.print(table)


def _print_hits(text: str, hits: list[dict[str, Any]]) -> None:
    table = Table(title=f"Nearest documents to {text!r}")
    for col in ("id", "kind", "title or user", "score"):
        table.add_column(col, justify="right" if col == "score" else "left")
    for h in hits:
        if h["kind"] == "item":
            name = h["title"] or f"item {h['item_id']}"
        else:
            name = f"user {h['user_id']} (part {h['chunk'] + 1}, {len(h['item_ids'])} items)"
        table.add_row(h["id"], h["kind"], name, f"{h['score']:.3f}")
    if not hits:
        err.print("no documents matched")
    out.print(table)
