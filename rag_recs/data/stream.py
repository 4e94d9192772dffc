"""Interactions larger than memory: a Parquet file or directory read in bounded batches.

``pyarrow.dataset`` finds the files and their schema; each file's row groups are read
``batch_rows`` rows at a time, so no pass holds more than one batch of interactions. Each
batch goes through the same checks and renames as an in-memory load
(:func:`~rag_recs.data.loaders.from_frame`). What stays in memory is per user or per item
(vocabularies, counts, a ring of recent items), plus the seen-items index a saved ranker
carries (an item row per interaction: 16 bits below 65,536 items, else 32; and a like flag
when the data has ratings).

Assumption: each user's rows appear oldest first in file order (logs are written in time
order); :meth:`ParquetStream.scan` counts the rows that break it, and histories then follow
file order. A repeated (user, item) pair inside one batch keeps its latest row, as in memory;
repeats across batches are read as they are (counted by :func:`sort_segments`).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from rag_recs.data.loaders import DEFAULT_COLUMNS, drop_unnamed, from_frame
from rag_recs.data.schema import ITEM, RATING, TIME, USER, hash_rows
from rag_recs.errors import DataError
from rag_recs.memory import return_large_blocks

log = logging.getLogger(__name__)
BATCH_ROWS = 1 << 16
_NEVER = np.iinfo(np.int64).min  # the time before a user's first row


class IdRows:
    """Row (1..n; 0 = unknown) of each id, by binary search in the sorted ids: 12 bytes an id,
    where a pandas Index's hash table takes about 40 (5 MiB against 17 at 416,667 users).
    Ids of mixed types, which do not sort, keep the Index's own lookup."""

    def __init__(self, ids: pd.Index) -> None:
        self.ids = ids
        values = ids.to_numpy()
        try:
            order = np.argsort(values, kind="stable")
        except TypeError:
            self.sorted = None
            return
        self.order = order.astype(np.int32 if len(values) < 1 << 31 else np.int64)
        self.sorted = values[order]

    def __call__(self, values: pd.Series) -> np.ndarray:
        """[n] int64 rows of ``values``."""
        if self.sorted is None or not len(self.sorted):
            return (self.ids.get_indexer(values) + 1).astype(np.int64)
        wanted = values.to_numpy()
        try:
            at = np.searchsorted(self.sorted, wanted).clip(max=len(self.sorted) - 1)
        except TypeError:  # a batch whose ids do not compare with the scan's
            return (self.ids.get_indexer(values) + 1).astype(np.int64)
        found = self.sorted[at] == wanted
        return np.where(found, self.order[at].astype(np.int64) + 1, 0)


@dataclass
class Scan:
    """What one pass over the stream learns: vocabularies, counts, the data's fingerprint."""

    users: pd.Index  # user ids, row r + 1 is users[r] (first-appearance order, as in memory)
    items: pd.Index  # item ids, likewise
    user_counts: np.ndarray  # [n_users + 1] interactions per user row (row 0 unused)
    item_counts: np.ndarray  # [n_items + 1]
    fingerprint: str  # equal to the in-memory Dataset's when no (user, item) pair repeats
    rows: dict = field(default_factory=dict)  # read / used / dropped by reason, as Dataset.rows
    has_time: bool = False
    has_rating: bool = False
    out_of_order: int = 0  # rows older than their user's previous row

    @cached_property
    def find_users(self) -> IdRows:
        return IdRows(self.users)

    @cached_property
    def find_items(self) -> IdRows:
        return IdRows(self.items)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)


@dataclass
class SeenIndex:
    """Each user's items in compressed rows (the :class:`InteractionIndex` layout) and a ring
    of each user's newest items: ``ring[u, 0]`` the newest, 0 = none."""

    indptr: np.ndarray  # [n_users + 2] int64
    indices: np.ndarray  # [n_interactions] item rows (item_rows_dtype), each user's in file order
    liked: np.ndarray  # [n_interactions] bool (a read-only broadcast True without ratings)
    ring: np.ndarray  # [n_users + 1, ring_len], the same type


class ParquetStream:
    """A Parquet file or directory of files, read in batches of at most ``batch_rows`` rows."""

    def __init__(
        self,
        path: str | Path,
        *,
        user_col: str | None = None,
        item_col: str | None = None,
        rating_col: str | None = None,
        time_col: str | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.name = str(path)
        self.batch_rows = batch_rows
        self.given = {USER: user_col, ITEM: item_col, RATING: rating_col, TIME: time_col}
        source = Path(path).expanduser()
        if not source.exists():
            raise DataError("no such file or directory", source=self.name)
        if source.is_file() and source.suffix.lower() not in (".parquet", ".pq"):
            raise DataError(
                "--stream reads Parquet (a .parquet file or a directory of them)",
                source=self.name,
                hint="convert it with pandas: read_csv(...).to_parquet(...)",
            )
        try:
            self.dataset = pads.dataset(source, format="parquet")
            names = self.dataset.schema.names
            files = self.dataset.files
        except (pa.ArrowException, OSError, ValueError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read it as parquet: {text}", source=self.name) from None
        if not files:
            raise DataError("no Parquet files in this directory", source=self.name)
        self.columns = self._roles(names)
        return_large_blocks()  # the passes' per-batch arrays go back to the system once freed

    def _roles(self, names: list[str]) -> dict[str, str]:
        """Canonical role -> source column, chosen as the in-memory loader chooses them."""
        roles: dict[str, str] = {}
        for role, given in self.given.items():
            if given is not None:
                if given not in names:
                    raise DataError(
                        f"column '{given}' not found",
                        source=self.name,
                        hint=f"columns are: {', '.join(names)}",
                    )
                roles[role] = given
            elif found := next((c for c in DEFAULT_COLUMNS[role] if c in names), None):
                roles[role] = found
        for role, flag in ((USER, "--user-col"), (ITEM, "--item-col")):
            if role not in roles:
                raise DataError(
                    f"no {role.split('_')[0]} id column (--stream trains on user and item ids)",
                    source=self.name,
                    hint=f"columns are: {', '.join(names)}; pass {flag} NAME",
                )
        return roles

    # ---- reading ----------------------------------------------------------------------------
    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Record batches of at most ``batch_rows`` rows, in file order, one at a time.

        The dataset finds the files; each is read row group by row group with
        ``ParquetFile.iter_batches``, whose memory stays flat as files grow (the dataset
        scanner's, even without read-ahead, grew with the file: 181 MiB at 10^6 rows, 289 at
        10^7, measured).
        """
        try:
            for file in self.dataset.files:
                reader = pq.ParquetFile(file, pre_buffer=False)
                yield from reader.iter_batches(
                    batch_size=self.batch_rows, columns=columns, use_threads=False
                )
        except (pa.ArrowException, OSError) as exc:
            text = str(exc).strip().splitlines()[0]
            raise DataError(f"cannot read it as parquet: {text}", source=self.name) from None

    def frames(self, every_column: bool = False) -> Iterator[tuple[pd.DataFrame, int, dict]]:
        """Each batch as canonical interactions (checked and renamed as an in-memory load
        does), with the rows read and the rows dropped by reason."""
        wanted = None if every_column else list(self.columns.values())
        offset = 0
        for batch in self.batches(wanted):
            raw = drop_unnamed(batch.to_pandas())
            try:
                with _quiet():
                    loaded = from_frame(
                        raw,
                        name=self.name,
                        user_col=self.columns[USER],
                        item_col=self.columns[ITEM],
                        rating_col=self.columns.get(RATING),
                        time_col=self.columns.get(TIME),
                    )
            except DataError as exc:  # rows counted from the start of the data, not the batch
                row = None if exc.row is None else exc.row + offset
                raise DataError(
                    exc.message, source=exc.source, column=exc.column, row=row, hint=exc.hint
                ) from None
            offset += len(raw)
            yield loaded.interactions, len(raw), loaded.rows["dropped"]

    @staticmethod
    def rows_of(frame: pd.DataFrame, scan: Scan) -> tuple[np.ndarray, np.ndarray]:
        """User and item rows (1..n) of a canonical batch: int64 each."""
        return scan.find_users(frame[USER]), scan.find_items(frame[ITEM])

    # ---- passes -----------------------------------------------------------------------------
    def scan(self) -> Scan:
        """One pass: check every row, hash the data, build the vocabularies and counts."""
        digest = hashlib.sha256()
        users, items = pd.Index([]), pd.Index([])
        user_counts, item_counts = np.zeros(1, np.int64), np.zeros(1, np.int64)
        last_time = np.full(1, _NEVER, np.int64)  # each user's newest time so far
        read, used, dropped, out_of_order = 0, 0, {}, 0
        has_time = has_rating = False
        for frame, n_read, gone in self.frames(every_column=True):
            if not read:
                digest.update(",".join(map(str, frame.columns)).encode())
                has_time, has_rating = TIME in frame, RATING in frame
            digest.update(hash_rows(frame))
            read, used = read + n_read, used + len(frame)
            for reason, n in gone.items():
                dropped[reason] = dropped.get(reason, 0) + n
            users = _grow(users, frame[USER])
            items = _grow(items, frame[ITEM])
            u = users.get_indexer(frame[USER]) + 1
            i = items.get_indexer(frame[ITEM]) + 1
            user_counts = _add_counts(user_counts, u, len(users) + 1)
            item_counts = _add_counts(item_counts, i, len(items) + 1)
            if has_time:
                grow = (0, len(users) + 1 - len(last_time))
                last_time = np.pad(last_time, grow, constant_values=_NEVER)
                out_of_order += _older_than_before(u, frame[TIME].to_numpy(np.int64), last_time)
        if not read:
            raise DataError("the table has no rows", source=self.name)
        digest.update(b"-")  # no items table
        digest.update(b"-")  # no users table
        if sum(dropped.values()):
            log.warning("%s: %s", self.name, ", ".join(f"{n} {r}" for r, n in dropped.items()))
        if out_of_order:
            log.warning(
                "%s: %d rows are older than their user's previous row; streamed histories "
                "follow file order (sort each user's rows by time for exact histories)",
                self.name,
                out_of_order,
            )
        return Scan(
            pd.Index(users.to_numpy()),  # a new Index: the scan's hash table is not kept
            pd.Index(items.to_numpy()),
            user_counts,
            item_counts,
            digest.hexdigest()[:16],
            {"read": read, "used": used, "dropped": dropped},
            has_time,
            has_rating,
            out_of_order,
        )

    def seen_index(
        self,
        scan: Scan,
        ring_len: int,
        like_threshold: float = 4.0,
        into: SeenIndex | None = None,
    ) -> SeenIndex:
        """One pass: every user's items in file order, their likes, and their newest items
        (written ``into`` the arrays of an earlier result, when given: no second copy)."""
        if into is None:
            indptr = np.r_[0, np.cumsum(scan.user_counts)].astype(np.int64)
            indices = np.zeros(int(indptr[-1]), item_rows_dtype(scan.n_items))
            # without ratings every interaction is a like: one value, not an array
            n = int(indptr[-1])
            liked = np.ones(n, bool) if scan.has_rating else np.broadcast_to(np.True_, (n,))
            ring = np.zeros((scan.n_users + 1, ring_len), indices.dtype)
        else:
            indptr, indices, liked, ring = into.indptr, into.indices, into.liked, into.ring
            if ring.shape == (scan.n_users + 1, ring_len):
                ring[:] = 0
            else:  # released while training
                ring = np.zeros((scan.n_users + 1, ring_len), indices.dtype)
        cursor = indptr[:-1].copy()
        for frame, _, _ in self.frames():
            u, i = self.rows_of(frame, scan)
            order = np.argsort(u, kind="stable")
            su = u[order]
            starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
            sizes = np.diff(np.r_[starts, len(su)])
            pos = np.arange(len(su)) - np.repeat(starts, sizes)
            at = cursor[su] + pos  # each row's slot in its user's segment
            indices[at] = i[order]
            if RATING in frame:
                liked[at] = frame[RATING].to_numpy()[order] >= like_threshold
            cursor[su[starts]] += sizes
            roll_history(ring, u, i)
        return SeenIndex(indptr, indices, liked, ring)


def item_rows_dtype(n_items: int) -> type[np.integer]:
    """The integer type of item rows 0..``n_items`` in the seen index and the rings: 16 bits
    below 65,536 items halve the seen index, the one part that grows with the interactions."""
    return np.uint16 if n_items < 1 << 16 else np.int32


def roll_history(ring: np.ndarray, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Each row's previous items (newest first) given the rows before this batch in ``ring``;
    then push the batch into ``ring``. Returns [n, ring_len] item rows, ``ring``'s type (0 = none).

    ``users`` and ``items`` are one batch in file order; ``ring`` [n_users + 1, L] is updated in
    place, so batch after batch this equals :func:`~rag_recs.ranker.features.history_rows` on
    the whole file in file order.
    """
    n, length = len(users), ring.shape[1]
    order = np.argsort(users, kind="stable")
    u, it = users[order], items[order].astype(ring.dtype)
    starts = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1] if n else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, sizes)  # rank of each row within its user, 0-based
    back = np.arange(n)
    hist = np.empty((n, length), ring.dtype)
    for lag in range(1, length + 1):  # lag steps back: in this batch, else from the ring
        inside = pos >= lag
        before = ring[u, np.clip(lag - pos - 1, 0, length - 1)]
        hist[order, lag - 1] = np.where(inside, it[np.maximum(back - lag, 0)], before)
    newest = starts + sizes - 1  # sorted position of each user's last row in the batch
    first = u[starts]
    pushed = np.empty((len(first), length), ring.dtype)
    for k in range(length):
        inside = sizes > k
        before = ring[first, np.clip(k - sizes, 0, length - 1)]
        pushed[:, k] = np.where(inside, it[np.maximum(newest - k, 0)], before)
    ring[first] = pushed
    return hist


def sort_segments(indptr: np.ndarray, indices: np.ndarray, chunk: int = 1 << 20) -> int:
    """Sort each user's item rows in place (for binary search); returns the number of repeated
    (user, item) entries. Works ``chunk`` entries at a time, so extra memory stays bounded."""
    n_users = len(indptr) - 1
    repeats, user = 0, 0
    while user < n_users:
        end = int(np.searchsorted(indptr, indptr[user] + chunk, side="right")) - 1
        end = min(max(end, user + 1), n_users)  # at least one user, however long
        lo, hi = int(indptr[user]), int(indptr[end])
        if hi > lo:
            owner = np.repeat(np.arange(end - user), np.diff(indptr[user : end + 1]))
            part = indices[lo:hi]
            order = np.lexsort((part, owner))
            part[:] = part[order]
            repeats += int(((part[1:] == part[:-1]) & (owner[1:] == owner[:-1])).sum())
        user = end
    return repeats


def _grow(index: pd.Index, values: pd.Series) -> pd.Index:
    """``index`` with the values it lacks appended, in first-appearance order."""
    new = pd.Index(pd.unique(values))
    if not len(index):
        return new
    missing = new[index.get_indexer(new) < 0]
    return index.append(missing) if len(missing) else index


def _add_counts(counts: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    return np.pad(counts, (0, size - len(counts))) + np.bincount(rows, minlength=size)


def _older_than_before(users: np.ndarray, times: np.ndarray, last: np.ndarray) -> int:
    """Rows older than their user's previous row (in file order); updates ``last`` in place."""
    order = np.argsort(users, kind="stable")
    u, t = users[order], times[order]
    first = np.r_[True, u[1:] != u[:-1]]
    previous = np.where(first, last[u], np.r_[0, t[:-1]])
    ends = np.r_[np.flatnonzero(first)[1:] - 1, len(u) - 1] if len(u) else np.zeros(0, int)
    last[u[ends]] = np.maximum(last[u[ends]], t[ends])
    return int((t < previous).sum())


class _quiet:
    """Hold back the loader's per-batch warnings: the scan sums them up once."""

    def __enter__(self) -> None:
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore", UserWarning)
        self._logger = logging.getLogger("rag_recs.data.loaders")
        self._was = self._logger.disabled
        self._logger.disabled = True

    def __exit__(self, *exc: object) -> None:
        self._logger.disabled = self._was
        self._warnings.__exit__(*exc)
