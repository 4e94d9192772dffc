"""Feature map: vocabularies (with an out-of-vocabulary slot) and field layout for the ranker.

All categorical fields share one embedding table: each field owns a block of rows starting at
its ``offset``; global row 0 is shared by every field's unknown / padding value and stays zero,
so an id never seen in training scores (neutrally) instead of crashing. The history field
shares the ``item_id`` rows, so "recently read X" and "candidate is X" meet in the same space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from rag_recs.data.schema import ITEM, LABEL, RATING, TEXT, TIME, TITLE, USER, Dataset
from rag_recs.errors import DataError

Kind = Literal["sparse", "dense", "bag"]
Side = Literal["user", "item", "context"]
HISTORY = "history"
NOT_FEATURES = {USER, ITEM, RATING, LABEL, TIME, TITLE, TEXT}


@dataclass
class Field:
    """One input field of the ranker."""

    name: str
    kind: Kind
    side: Side
    vocab: list = field(default_factory=list)  # value at local index k+1; 0 is unknown
    buckets: int = 0  # instead of a vocabulary: values share this many rows by hash
    offset: int = 0
    share: str | None = None  # a bag that reuses another field's rows (history -> item_id)
    max_len: int = 0
    mean: float = 0.0
    std: float = 1.0

    @property
    def size(self) -> int:
        """Embedding rows the field owns."""
        return self.buckets or len(self.vocab)

    def lookup(self, values: pd.Series | np.ndarray | list) -> np.ndarray:
        """Global embedding rows for raw values (unknown values -> 0; with ``buckets``, only
        missing values are unknown)."""
        if self.buckets:
            values = pd.Series(values, dtype=object)
            rows = np.zeros(len(values), np.int64)
            known = values.notna().to_numpy()
            ids = values[known]
            # integers hash as int64 however they were read (78 as int64 or as object: one
            # row); any other id hashes as its text
            if pd.api.types.infer_dtype(ids, skipna=True) == "integer":
                keys = ids.to_numpy(np.int64)
            else:
                keys = ids.astype(str).to_numpy(object)
            rows[known] = self.offset + (pd.util.hash_array(keys) % self.buckets).astype(np.int64)
            return rows
        local = pd.Index(self.vocab).get_indexer(pd.Index(values)) + 1
        return np.where(local > 0, local + self.offset - 1, 0).astype(np.int64)


TRIM_ABOVE = 8  # bags wider than this are trimmed of all-padding columns per batch


@dataclass
class Tensors:
    """Model inputs for n rows: sparse rows [n, F], dense values [n, D], bags [n, L] each."""

    sparse: torch.Tensor
    dense: torch.Tensor
    bags: list[torch.Tensor]

    def __len__(self) -> int:
        return self.sparse.shape[0]

    def take(self, index: torch.Tensor | slice) -> Tensors:
        """Rows ``index``: a slice, [n] rows, or [n, M] rows giving [n, M, ...] fields."""
        return Tensors(self.sparse[index], self.dense[index], [b[index] for b in self.bags])

    def trimmed(self) -> Tensors:
        """The same rows with each bag's trailing all-padding columns dropped (at least one
        kept). Bags hold their entries first and padding (0) after, and padding adds nothing
        to a pooled bag and is masked in the sequence encoder: the same outputs for less work
        (a sparse user's batch of histories is mostly padding)."""
        bags = []
        for bag in self.bags:
            if bag.shape[-1] <= TRIM_ABOVE:  # a few columns (genres): not worth a look
                bags.append(bag)
                continue
            used = (bag != 0).reshape(-1, bag.shape[-1]).any(0).nonzero()
            width = max(1, int(used[-1]) + 1) if len(used) else 1
            bags.append(bag[..., :width] if width < bag.shape[-1] else bag)
        return Tensors(self.sparse, self.dense, bags)

    def to(self, device: torch.device | str) -> Tensors:
        return Tensors(
            self.sparse.to(device), self.dense.to(device), [b.to(device) for b in self.bags]
        )

    @staticmethod
    def join(*parts: Tensors) -> Tensors:
        """Field-wise concatenation of equally long parts (user | item | context)."""
        return Tensors(
            torch.cat([p.sparse for p in parts], 1),
            torch.cat([p.dense for p in parts], 1),
            [b for p in parts for b in p.bags],
        )


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(values)


def _is_bag(values: pd.Series) -> bool:
    head = values.dropna()
    return not head.empty and isinstance(head.iloc[0], list | tuple | np.ndarray)


@dataclass
class FeatureMap:
    """Every field, its vocabulary and its place in the shared embedding table."""

    fields: list[Field]
    num_embeddings: int
    history_len: int = 0
    generic: bool = False

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        dataset: Dataset,
        *,
        history_len: int = 0,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        ignore: list[str] | None = None,
        user_rows: int = 0,
    ) -> FeatureMap:
        """Learn vocabularies and dense statistics from ``dataset`` (the training part).

        With ``user_rows`` and more users than that, user ids share ``user_rows`` rows by hash
        (the hashing trick): the model and its optimiser state stop growing with the users."""
        categorical, numeric = set(categorical or []), set(numeric or [])
        # a generic CTR table is events: every column but the label is a feature
        skip = set(ignore or []) | (NOT_FEATURES if dataset.has_users else {LABEL})
        fields: list[Field] = []

        def add(frame: pd.DataFrame, name: str, side: Side) -> None:
            values = frame[name]
            if name in numeric or (_is_numeric(values) and name not in categorical):
                as_float = pd.to_numeric(values, errors="coerce")
                if as_float.isna().all():
                    raise DataError("no numeric values", source=dataset.name, column=name)
                std = float(as_float.std()) or 1.0
                fields.append(Field(name, "dense", side, mean=float(as_float.mean()), std=std))
            elif _is_bag(values):
                vocab = sorted({v for row in values.dropna() for v in row}, key=str)
                longest = int(values.dropna().map(len).max())
                fields.append(Field(name, "bag", side, vocab=vocab, max_len=longest))
            else:
                vocab = list(pd.unique(values.dropna()))
                fields.append(Field(name, "sparse", side, vocab=[_plain(v) for v in vocab]))

        inter = dataset.interactions
        if dataset.has_users:
            users = dataset.all_users
            if user_rows and len(users) > user_rows:
                fields.append(Field(USER, "sparse", "user", buckets=user_rows))
            else:
                fields.append(Field(USER, "sparse", "user", vocab=[_plain(v) for v in users]))
            fields.append(Field(ITEM, "sparse", "item", vocab=[_plain(v) for v in dataset.catalog]))
            for table, side in ((dataset.users, "user"), (dataset.items, "item")):
                if table is not None:
                    for name in table.columns:
                        if name not in skip and not name.startswith("_"):
                            add(table, name, side)  # type: ignore[arg-type]
        for name in inter.columns:
            if name not in skip:
                add(inter, name, "context")
        if history_len and dataset.has_users:
            fields.append(Field(HISTORY, "bag", "context", share=ITEM, max_len=history_len))
        # lay the fields out in one table: sparse first, then bags; row 0 is the shared unknown
        offset = 1
        for f in fields:
            if f.kind != "dense" and f.share is None:
                f.offset, offset = offset, offset + f.size
        by_name = {f.name: f for f in fields}
        for f in fields:
            if f.share:
                f.offset, f.vocab = by_name[f.share].offset, []
        order = {"sparse": 0, "bag": 1, "dense": 2}
        side_order = {"user": 0, "context": 1, "item": 2}  # the query's fields, then the item's
        fields.sort(key=lambda f: (side_order[f.side], order[f.kind]))
        return cls(fields, offset, history_len, generic=not dataset.has_users)

    # ---- encoding -------------------------------------------------------------------------
    def side(self, side: Side) -> list[Field]:
        return [f for f in self.fields if f.side == side]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def encode(self, frame: pd.DataFrame, side: Side, history: np.ndarray | None = None) -> Tensors:
        """Encode one side's columns of ``frame`` (a side table or the interactions)."""
        sparse, dense, bags = [], [], []
        for f in self.side(side):
            if f.name == HISTORY:
                assert history is not None, "the history field needs its item rows"
                bags.append(torch.from_numpy(history))
                continue
            if f.name not in frame.columns:
                raise DataError(
                    "column the model was trained with is missing",
                    column=f.name,
                    hint="use data with the same columns as the training data",
                )
            values = frame[f.name]
            if f.kind == "sparse":
                sparse.append(f.lookup(values))
            elif f.kind == "dense":
                x = (pd.to_numeric(values, errors="coerce").to_numpy(np.float32) - f.mean) / f.std
                dense.append(np.nan_to_num(x, nan=0.0))
            else:
                bags.append(torch.from_numpy(self._bag(f, values)))
        n = len(frame)
        return Tensors(
            torch.from_numpy(np.stack(sparse, 1) if sparse else np.zeros((n, 0), np.int64)),
            torch.from_numpy(np.stack(dense, 1) if dense else np.zeros((n, 0), np.float32)),
            bags,
        )

    def _bag(self, f: Field, values: pd.Series) -> np.ndarray:
        out = np.zeros((len(values), max(f.max_len, 1)), np.int64)
        lists = [
            list(v)[: f.max_len] if isinstance(v, list | tuple | np.ndarray) else [] for v in values
        ]
        flat = [v for row in lists for v in row]
        if flat:
            rows = f.lookup(flat)
            lengths = np.fromiter(map(len, lists), np.int64, len(lists))
            r = np.repeat(np.arange(len(lists)), lengths)
            c = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            out[r, c] = rows
        return out

    def side_table(self, dataset: Dataset, side: Side) -> tuple[pd.Index, Tensors]:
        """Encoded features of every known user (or item); row 0 is the unknown entity."""
        key = USER if side == "user" else ITEM
        f = self.field(key)
        ids = dataset.all_users if f.buckets else pd.Index(f.vocab)
        table = dataset.users if side == "user" else dataset.items
        frame = pd.DataFrame({key: ids})
        if table is not None:
            frame = frame.merge(table.drop_duplicates(key), on=key, how="left")
        unknown = pd.DataFrame({key: [None]}, dtype=object)
        frame = pd.concat([unknown, frame], ignore_index=True)
        return ids, self.encode(frame, side)

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [asdict(f) for f in self.fields],
            "num_embeddings": self.num_embeddings,
            "history_len": self.history_len,
            "generic": self.generic,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureMap:
        fields = [Field(**f) for f in data["fields"]]
        return cls(fields, data["num_embeddings"], data["history_len"], data["generic"])

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(sparse, dense, bag) field counts: the model's shape."""
        kinds = [f.kind for f in self.fields]
        return kinds.count("sparse"), kinds.count("dense"), kinds.count("bag")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def history_rows(
    users: np.ndarray,
    item_rows: np.ndarray,
    times: np.ndarray | None,
    length: int,
    tie: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """For each interaction, the item rows of the same user's previous ``length`` interactions.

    Order is by time, ties by ``tie`` (the item id's rank: the leave-one-out protocol's rule;
    default the item row), so a row's history holds only what that order puts before it.
    Returns the (original-order) history matrix [n, length] (0 = padding) and the sort order.
    """
    n = len(users)
    keys = (item_rows if tie is None else tie,) + ((times,) if times is not None else ()) + (users,)
    order = np.lexsort(keys)
    u, items = users[order], item_rows[order]
    start = np.r_[0, np.flatnonzero(u[1:] != u[:-1]) + 1]
    pos = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n]))
    hist = np.zeros((n, length), np.int64)
    for lag in range(1, length + 1):
        ok = pos >= lag
        hist[ok, lag - 1] = items[np.flatnonzero(ok) - lag]
    out = np.empty_like(hist)
    out[order] = hist
    return out, order
