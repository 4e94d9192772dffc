"""The history store: user-history and item documents in Chroma, kept in step with the data.

``sync`` is an upsert keyed by deterministic ids and content hashes: documents whose hash is
unchanged are skipped (and the embedding model is not even loaded when nothing changed),
changed ones are re-embedded, vanished ones are deleted. Every batch is committed as it goes,
so a build that was killed midway is completed by the next one.

Several processes can share the work on one Chroma server: ``sync(..., shard=Shard(i, n))``
reads, writes and deletes only share ``i`` of ``n`` (see :mod:`rag_recs.retrieval.shard`).
Each share records its completion in the ``rag-recs.shards`` collection beside the documents,
and the share that finds all ``n`` complete for the same data marks the store as synced, the
mark that :meth:`HistoryStore.synced` (and so ``ask``) reads.

Documents are written with their vectors straight into the collection, in batches as large as
the client takes (each write has a fixed cost), embedding :func:`embedding_text` while
storing the whole text; text searches and deletes go through LangChain's ``Chroma`` over the
same collection, queries by stored vector to the collection itself. Every call to Chroma goes
through one guard (:class:`_Guarded`): a Chroma server that stops answering is one clear error.
"""

from __future__ import annotations

import functools
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from chromadb.errors import NotFoundError
from langchain_core.documents import Document

from rag_recs.data.columns import id_spellings
from rag_recs.data.schema import Dataset, to_python
from rag_recs.errors import DataError, RagRecsError, StoreMissing
from rag_recs.retrieval import client as clients
from rag_recs.retrieval.documents import (
    ITEM_KIND,
    USER_KIND,
    DocumentConfig,
    build_documents,
    chunk_user,
    embedding_text,
    item_ids,
)
from rag_recs.retrieval.embeddings import EmbeddingModel, LazyEmbeddings
from rag_recs.retrieval.shard import Shard
from rag_recs.workspace import StopSignal, Workspace, exclusive

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.retrievers import BaseRetriever


COLLECTION = "rag-recs"
SHARDS = "rag-recs.shards"  # one completion record per (collection, share)
KINDS = (USER_KIND, ITEM_KIND)
_SPACE = {"hnsw": {"space": "cosine"}}
_PAGE = 20_000
_PIECE = 256  # documents per call into the model (the progress bar's step)
_COMMIT_S = 10.0  # a batch older than this is written even when not full
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")


@dataclass(frozen=True)
class SyncSummary:
    """What one ``sync`` changed. ``embedded`` = added + updated."""

    added: int
    updated: int
    deleted: int
    unchanged: int
    seconds: float = 0.0
    complete: bool = True  # False when the sync was stopped before it was done
    shard: str | None = None  # "i/n" when the sync wrote one share of the documents

    @property
    def embedded(self) -> int:
        return self.added + self.updated

    @property
    def documents(self) -> int:
        return self.added + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "documents": self.documents}

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged"
        )


class _Guarded:
    """Chroma's client, a collection, or LangChain's view of one, with every call guarded
    (:func:`_guard`). The store reaches Chroma through these alone, so every public method is
    covered."""

    def __init__(self, target: Any, location: str) -> None:
        self.unguarded, self._location = target, location

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.unguarded, name)
        return _guard(value, self._location) if callable(value) else value


def _guard(call: Callable, location: str) -> Callable:
    """``call``, where a Chroma server that stops answering mid-call is one clear error (the
    client reconnects by itself, so the next call works once the server is back)."""

    @functools.wraps(call)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except httpx.TransportError as exc:
            raise RagRecsError(
                f"the Chroma server at {location} stopped answering "
                f"({type(exc).__name__}): start it again (chroma run ...) and retry"
            ) from None

    return guarded


class HistoryStore:
    """A Chroma collection of history and item documents, and the one way to read and write it.

    ``path`` is an embedded store's directory, ``url`` a Chroma server (one of the two).
    ``embeddings`` is a model name, a resolved model or a :class:`LazyEmbeddings`; ``None``
    means the model the store was built with (the default model for a new store). Without
    ``create`` a missing or empty store raises :class:`RagRecsError` and nothing is written.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        url: str | None = None,
        embeddings: str | EmbeddingModel | LazyEmbeddings | None = None,
        collection: str = COLLECTION,
        create: bool = False,
        index_hint: str = "rag-recs index --data SOURCE",
    ) -> None:
        if (path is None) == (url is None):
            raise RagRecsError("give a store directory or a Chroma server URL (one of the two)")
        if not _NAME.fullmatch(collection):
            raise DataError(
                f"invalid collection name {collection!r}",
                hint="3-512 letters, digits, '.', '_' or '-', starting and ending alphanumeric",
            )
        self.location = url or str(Path(path).expanduser())  # type: ignore[arg-type]
        self.collection_name = collection
        missing = f"no store at {self.location}: run {index_hint}"
        client = None
        if url is not None:
            client = self._guarded(clients.http_client(url))
        elif clients.exists(path):  # type: ignore[arg-type]
            client = self._guarded(clients.persistent_client(path, create=False))  # type: ignore[arg-type]
        elif not create:
            raise StoreMissing(missing)
        collection_ = None
        if client is not None:
            try:
                collection_ = client.get_collection(collection, embedding_function=None)
            except NotFoundError:
                if not create:
                    raise StoreMissing(missing) from None
        recorded = (collection_.metadata or {}).get("embedding_model") if collection_ else None
        self.embeddings = _lazy(embeddings, recorded)
        model = self.embeddings.model
        if recorded is not None and recorded != model.name:
            raise RagRecsError(
                f"the store at {self.location} was built with the embedding model {recorded!r}, "
                f"not {model.name!r} (use --embeddings {recorded}, or another store)"
            )
        self._lock = None if url is not None else Path(self.location)
        if collection_ is None:
            self.embeddings.load()  # a new store is embedded next: fail before writing anything
            with self._writing():  # another process may be creating it too: one of them does
                client = client or self._guarded(clients.persistent_client(path, create=True))  # type: ignore[arg-type]
                collection_ = client.get_or_create_collection(
                    collection,
                    metadata={"embedding_model": model.name, "embedding_key": model.key},
                    configuration=_SPACE,  # type: ignore[arg-type]
                    embedding_function=None,
                )
            made_with = (collection_.metadata or {}).get("embedding_model")
            if made_with != model.name:
                raise RagRecsError(
                    f"the store at {self.location} was just created by another process with "
                    f"the embedding model {made_with!r}, not {model.name!r}"
                )
        elif not create and collection_.count() == 0:
            raise StoreMissing(f"the store at {self.location} is empty: run {index_hint}")
        self.client, self.collection = client, self._guarded(collection_)

    def _guarded(self, target: Any) -> Any:
        """``target`` (a client, a collection) as the store uses it: every call guarded."""
        return _Guarded(target, self.location)

    @cached_property
    def vectorstore(self) -> Chroma:
        """LangChain's view of the collection, for text search and deletes (imported when first
        needed: writes and queries by a stored vector go to the collection directly)."""
        from langchain_chroma import Chroma

        chroma = _guard(Chroma, self.location)(  # opening it reads the collection
            client=self.client.unguarded,
            collection_name=self.collection_name,
            embedding_function=self.embeddings,
            create_collection_if_not_exists=False,
        )
        return self._guarded(chroma)

    @classmethod
    def in_workspace(
        cls,
        workspace: Workspace,
        dataset: Dataset,
        *,
        embeddings: str | EmbeddingModel | LazyEmbeddings | None = None,
        collection: str = COLLECTION,
        create: bool = False,
        index_hint: str | None = None,
    ) -> HistoryStore:
        """``dataset``'s store in the workspace: ``<root>/<fingerprint>/store-<model key>/``."""
        lazy = _lazy(embeddings, None)
        path = workspace.data_dir(dataset) / f"store-{lazy.model.key}"
        hint = index_hint or f"rag-recs index --data {dataset.name}"
        return cls(path, embeddings=lazy, collection=collection, create=create, index_hint=hint)

    @property
    def model(self) -> EmbeddingModel:
        return self.embeddings.model

    def count(self) -> int:
        return self.collection.count()

    def close(self) -> bool:
        """Release the store's client. True when nothing of it stays cached in this process,
        so that what another process writes meanwhile is read afresh by the next open: an
        embedded client caches what it read (the collection's metadata, its vector index)
        until every client of the directory in the process is closed; a server's has nothing
        to cache. The store is not used after this."""
        client = self.client.unguarded
        client.close()
        if self._lock is None:  # a server
            return True
        # Chroma keeps one shared "system" per directory while any client holds it; it has
        # no public way to ask whether one still does
        from chromadb.api.shared_system_client import SharedSystemClient

        held = getattr(SharedSystemClient, "_identifier_to_system", None)
        return held is not None and getattr(client, "_identifier", None) not in held

    def sync(
        self,
        dataset: Dataset,
        *,
        config: DocumentConfig | None = None,
        progress: bool = True,
        batch_size: int | None = None,
        stop: StopSignal | None = None,
        shard: Shard | None = None,
    ) -> SyncSummary:
        """Make the store hold exactly ``dataset``'s documents, embedding only what changed.

        ``batch_size`` caps the documents per write (default: as many as the client takes);
        a slow model's batches are written every few seconds whatever their size. When
        ``stop`` is set, the sync writes what it has embedded and returns, incomplete; the next
        sync carries on from there. A complete sync records the data's fingerprint. A sync of
        an embedded store waits (and says so) while another process writes it.

        With ``shard``, only that share's documents are compared, written and deleted, and the
        fingerprint is recorded once every share of the same count has completed this data.
        """
        start = time.perf_counter()
        docs = build_documents(dataset, config)
        if shard is not None:
            docs = [d for d in docs if shard.owns(d.id)]  # type: ignore[arg-type]
        with self._writing(stop) as held:
            if not held:  # stopped while another process was writing this store
                return SyncSummary(
                    0, 0, 0, 0, time.perf_counter() - start, complete=False, shard=_text(shard)
                )
            return self._sync(dataset, docs, progress, batch_size, stop, start, shard)

    def _sync(
        self,
        dataset: Dataset,
        docs: list[Document],
        progress: bool,
        batch_size: int | None,
        stop: StopSignal | None,
        start: float,
        shard: Shard | None = None,
    ) -> SyncSummary:
        """The body of :meth:`sync`, run holding the store's write lock."""
        stored = self._stored_hashes()
        if shard is not None:
            stored = {i: h for i, h in stored.items() if shard.owns(i)}
        wanted = {d.id: d for d in docs}
        deleted = [i for i in stored if i not in wanted]
        todo = [d for d in docs if stored.get(d.id) != d.metadata["hash"]]
        if todo:
            self.embeddings.load()  # a model that cannot load fails before anything is written
        most = self.client.get_max_batch_size()
        size = max(1, min(batch_size or most, most))
        if shard is not None and (todo or deleted):
            # before the first write, and so before this share's record: the share that
            # completes last cannot have its mark undone by this one
            self._mark(dataset, synced=False)
        for lo in range(0, len(deleted), size):
            self.vectorstore.delete(ids=deleted[lo : lo + size])
        done = len(todo)
        if todo:
            done = self._embed(todo, size, progress, stop)
        summary = SyncSummary(
            added=sum(d.id not in stored for d in todo[:done]),
            updated=sum(d.id in stored for d in todo[:done]),
            deleted=len(deleted),
            unchanged=len(docs) - len(todo),
            seconds=time.perf_counter() - start,
            complete=done == len(todo),
            shard=_text(shard),
        )
        if shard is None:
            self._mark(dataset, synced=summary.complete)
        else:
            self._record_share(shard, dataset, summary)
            if summary.complete and self._shares_done(shard.count, dataset):
                self._mark(dataset, synced=True)
        return summary

    def _mark(self, dataset: Dataset, *, synced: bool) -> None:
        """Record in the collection's metadata whether it holds all of ``dataset``."""
        meta = self._metadata()
        wanted = {"data": dataset.name, "synced": dataset.fingerprint if synced else ""}
        if any(meta.get(k) != v for k, v in wanted.items()):
            self.collection.modify(metadata={**meta, **wanted})

    def _shares(self) -> Any:
        """The collection of share completion records (one record each: a write of its own,
        which writers finishing together cannot overwrite, unlike collection metadata)."""
        return self._guarded(self.client.get_or_create_collection(SHARDS, embedding_function=None))

    def _record_share(self, shard: Shard, dataset: Dataset, summary: SyncSummary) -> None:
        """This share's record: the data's fingerprint when complete, else empty."""
        record = {k: v for k, v in summary.as_dict().items() if k not in ("shard", "complete")}
        record["fingerprint"] = dataset.fingerprint if summary.complete else ""
        self._shares().upsert(
            ids=[f"{self.collection_name}:{shard}"],
            embeddings=[[1.0]],  # records are looked up by id; Chroma wants a vector anyway
            metadatas=[record],
        )

    def _shares_done(self, count: int, dataset: Dataset) -> bool:
        """Whether every share of ``count`` recorded a complete sync of ``dataset``."""
        ids = [f"{self.collection_name}:{i}/{count}" for i in range(count)]
        got = self._shares().get(ids=ids, include=["metadatas"])
        done = [m for m in got["metadatas"] if (m or {}).get("fingerprint") == dataset.fingerprint]
        return len(done) == count

    def _writing(self, stop: StopSignal | None = None) -> AbstractContextManager[bool]:
        """The write lock of an embedded store (Chroma's embedded client is not safe for two
        writing processes); a server orders its writers itself."""
        if self._lock is None:
            return nullcontext(True)
        return exclusive(self._lock, "this vector store", stop)

    def synced(self, dataset: Dataset) -> bool:
        """Did a sync of exactly this data complete (nothing to add, change or delete)?"""
        return self._metadata().get("synced") == dataset.fingerprint

    def _metadata(self) -> dict[str, Any]:
        """The collection's metadata as the store has it now: another process sharing a server
        may have changed it since this one opened the collection."""
        if self._lock is None:  # a server: read it again
            self.collection = self._guarded(
                self.client.get_collection(self.collection_name, embedding_function=None)
            )
        return dict(self.collection.metadata or {})

    def search(self, text: str, k: int = 5, kind: str | None = None) -> list[Document]:
        """The ``k`` documents nearest to ``text``; ``metadata["score"]``: cosine similarity."""
        if not text or not text.strip():
            raise DataError("the search text is empty")
        _check_k(k)
        if kind is not None and kind not in KINDS:
            raise DataError(f"unknown kind {kind!r}", hint="use user or item")
        hits = self.vectorstore.similarity_search_with_score(
            text, k=k, filter={"kind": kind} if kind else None
        )
        for doc, distance in hits:
            doc.metadata["score"] = 1.0 - float(distance)
        return [doc for doc, _ in hits]

    def similar_items(self, item: Any, k: int = 10) -> list[tuple[Any, float]]:
        """Items whose documents are nearest to ``item``'s (cosine), best first, itself excluded;
        empty when the store has no document for it."""
        _check_k(k)
        item = to_python(item)
        own = self.collection.get(
            where={"$and": [{"kind": ITEM_KIND}, {"item_id": item}]}, include=["embeddings"]
        )
        if not len(own["ids"]):
            return []
        found = self.collection.query(
            query_embeddings=own["embeddings"][:1],
            n_results=k,
            where={"$and": [{"kind": ITEM_KIND}, {"item_id": {"$ne": item}}]},
            include=["metadatas", "distances"],
        )
        pairs = zip(found["metadatas"][0], found["distances"][0], strict=True)
        return [(meta["item_id"], 1.0 - float(distance)) for meta, distance in pairs]

    def similar_users(self, user: Any, k: int = 10) -> list[tuple[Any, float]]:
        """Users whose histories are nearest to ``user``'s, best first, the user excluded.

        Each of the user's chunks queries the other users' chunks with its stored embedding (the
        model is not needed); a neighbour's score is its best match per query chunk, averaged
        over the query chunks weighted by their item counts (0 where it did not show up).
        """
        _check_k(k)
        user = self.resolve_user(user)
        own = self.collection.get(
            where={"$and": [{"kind": USER_KIND}, {"user_id": user}]},
            include=["embeddings", "metadatas"],
        )
        others = {"$and": [{"kind": USER_KIND}, {"user_id": {"$ne": user}}]}
        n = min(self.count() - len(own["ids"]), max(5 * k, 30))
        if n <= 0:
            return []
        # ids and distances only: the neighbour is read from the chunk's id. Asking for the
        # metadatas too (each holds the chunk's item list) made a query twice as slow and grew
        # the process's memory with every distinct user asked about (benchmarks/repeat_asks.py)
        found = self.collection.query(
            query_embeddings=own["embeddings"], n_results=n, where=others, include=["distances"]
        )
        weights = [m.get("n_items", 1) for m in own["metadatas"]]
        scores: dict[Any, float] = defaultdict(float)
        for weight, ids, distances in zip(weights, found["ids"], found["distances"], strict=True):
            best: dict[Any, float] = {}
            for doc_id, distance in zip(ids, distances, strict=True):
                other = chunk_user(doc_id, like=user)
                best[other] = max(best.get(other, -1.0), 1.0 - distance)
            for other, similarity in best.items():
                scores[other] += weight * similarity
        total = sum(weights)
        ranked = sorted(
            ((u, s / total) for u, s in scores.items()), key=lambda p: (-p[1], str(p[0]))
        )
        return ranked[:k]

    def history(self, user: Any) -> list[Document]:
        """A user's history documents, newest chunk first."""
        user = self.resolve_user(user)
        got = self.collection.get(where={"$and": [{"kind": USER_KIND}, {"user_id": user}]})
        docs = [
            Document(page_content=text, metadata=meta, id=doc_id)
            for doc_id, text, meta in zip(
                got["ids"], got["documents"], got["metadatas"], strict=True
            )
        ]
        return sorted(docs, key=lambda d: -d.metadata["chunk"])

    def seen(self, users: Iterable[Any]) -> dict[Any, set]:
        """user -> every item in the user's stored history (the chunks cover all interactions)."""
        users = list(users)
        out: dict[Any, set] = {u: set() for u in users}
        if not users:
            return out
        by_type: dict[type, list] = defaultdict(list)
        for u in users:
            by_type[type(u)].append(u)
        for group in by_type.values():
            got = self.collection.get(
                where={"$and": [{"kind": USER_KIND}, {"user_id": {"$in": group}}]},
                include=["metadatas"],
            )
            for meta in got["metadatas"]:
                out[meta["user_id"]].update(item_ids(meta))
        return out

    def resolve_user(self, user: Any) -> Any:
        """The user's id as stored (``"78"`` finds user 78); unknown users raise DataError."""
        for candidate in id_spellings(user):
            got = self.collection.get(
                where={"$and": [{"kind": USER_KIND}, {"user_id": candidate}]}, limit=1, include=[]
            )
            if got["ids"]:
                return candidate
        raise DataError(
            f"unknown user {user!r}: the store at {self.location} has no history for it"
        )

    def as_retriever(self, k: int = 4, kind: str | None = None) -> BaseRetriever:
        """A LangChain retriever over this store, for any chain that takes one."""
        from rag_recs.retrieval.retriever import HistoryRetriever

        return HistoryRetriever(store=self, k=k, kind=kind)

    def _stored_hashes(self) -> dict[str, str | None]:
        """id -> content hash of every stored document, read in pages."""
        hashes: dict[str, str | None] = {}
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            for doc_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                hashes[doc_id] = (meta or {}).get("hash")
            if len(got["ids"]) < _PAGE:
                return hashes
            offset += _PAGE

    def _embed(
        self,
        docs: Sequence[Document],
        size: int,
        progress: bool,
        stop: StopSignal | None = None,
    ) -> int:
        """Embed ``docs`` a piece at a time; write a batch when it is full or a few seconds old.

        Returns how many were written: all, unless ``stop`` was set (the rest waits for later).
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not progress,
        )
        piece = min(size, _PIECE)
        with bar:
            task = bar.add_task(f"embedding ({self.model.key})", total=len(docs))
            pending: list[Document] = []
            vectors: list[list[float]] = []
            written = time.perf_counter()
            for lo in range(0, len(docs), piece):
                batch = docs[lo : lo + piece]
                vectors += self.embeddings.embed_documents([embedding_text(d) for d in batch])
                pending += batch
                halt = stop is not None and stop.is_set()
                last = halt or lo + piece >= len(docs)
                if last or len(pending) >= size or time.perf_counter() - written > _COMMIT_S:
                    for start in range(0, len(pending), size):
                        self._write(pending[start : start + size], vectors[start : start + size])
                    pending, vectors, written = [], [], time.perf_counter()
                bar.advance(task, len(batch))
                if halt:
                    return lo + len(batch)
        return len(docs)

    def _write(self, docs: Sequence[Document], vectors: list[list[float]]) -> None:
        """One committed write: ids, vectors, whole texts and metadata."""
        self.collection.upsert(
            ids=[d.id for d in docs],  # type: ignore[misc]
            embeddings=vectors,  # type: ignore[arg-type]
            documents=[d.page_content for d in docs],
            metadatas=[d.metadata for d in docs],
        )


def open_store(
    workspace: Workspace,
    dataset: Dataset | None,
    *,
    store_dir: str | Path | None = None,
    chroma_url: str | None = None,
    embeddings: str | EmbeddingModel | LazyEmbeddings | None = None,
    collection: str = COLLECTION,
    create: bool = False,
    index_hint: str | None = None,
) -> HistoryStore:
    """The one way to open a store: the Chroma server at ``chroma_url``, else the directory
    ``store_dir``, else ``dataset``'s store in ``workspace``. With ``create`` a missing store
    is made empty (:meth:`HistoryStore.synced` says whether it holds the data yet)."""
    if chroma_url or store_dir:
        hint = index_hint or "rag-recs index --data SOURCE"
        return HistoryStore(
            store_dir or None,
            url=chroma_url or None,
            embeddings=embeddings,
            collection=collection,
            create=create,
            index_hint=hint,
        )
    if dataset is None:
        raise RagRecsError("give a store directory, a Chroma server URL or the data")
    return HistoryStore.in_workspace(
        workspace,
        dataset,
        embeddings=embeddings,
        collection=collection,
        create=create,
        index_hint=index_hint,
    )


def _lazy(
    embeddings: str | EmbeddingModel | LazyEmbeddings | None, recorded: str | None
) -> LazyEmbeddings:
    if isinstance(embeddings, LazyEmbeddings):
        return embeddings
    return LazyEmbeddings(embeddings if embeddings is not None else recorded)


def _text(shard: Shard | None) -> str | None:
    return None if shard is None else str(shard)


def _check_k(k: int) -> None:
    if k < 1:
        raise DataError("k must be at least 1")
