"""Fitting the ranker on interactions streamed from Parquet, never all in memory at once.

The implicit objective only, on the fields a stream carries: user id, item id and (with
timestamps) the recent-history field; other columns are not used. The passes:

1. scan: check every row, hash the data, build the user and item vocabularies;
2. index: each user's seen items (compressed rows of 16- or 32-bit item rows, saved with the
   model as in memory) and a ring of each user's newest items (``history_len + 2`` per user);
3. epochs: batch by batch, each row's history from a ring rolled in file order, the batch
   shuffled, and gradient steps with the in-memory fit's loss (a softmax over the catalog, or
   ``negatives`` unseen items sampled per positive by binary search in the seen rows);
4. (when the model is kept) the seen rows are read again in file order, for serving.

Validation holds out the newest interaction of up to ``valid_users`` users (taken from the
ring, so no row positions are stored) and scores it as the in-memory fit does. Shuffling is
within a batch: batches come in file order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import ITEM, TIME, USER, Dataset
from rag_recs.data.stream import ParquetStream, Scan, SeenIndex, roll_history, sort_segments
from rag_recs.errors import DataError
from rag_recs.ranker.features import FeatureMap, Tensors
from rag_recs.ranker.fit import (
    catalog_loss,
    implicit_steps,
    loss_of,
    ndcg_validation,
    sampled_candidates,
    with_epochs,
    with_hidden,
)
from rag_recs.ranker.sampling import SeenSegments, pair_keys
from rag_recs.ranker.train import Epoch, TrainLog, train_epochs
from rag_recs.ranker.trained import Trained, build_model, resolve_device


@dataclass
class StreamFit:
    """A streamed fit: the trained ranker, the pass-1 scan and the seen index it used.

    With ``hold_out_newest`` each user's newest interaction was left out of training (the
    leave-one-out targets): ``seen.ring[:, 0]`` holds it, ``history_of(1)`` its history field.
    """

    trained: Trained
    scan: Scan
    seen: SeenIndex
    repeats: int  # (user, item) pairs read more than once

    def history_of(self, lag: int, users: np.ndarray | None = None) -> torch.Tensor:
        """[n_users + 1, history_len] the history field as of each user's ``lag``-th newest
        interaction (0: after the newest, i.e. for serving); only ``users``' rows if given."""
        length = self.trained.feature_map.history_len
        offset = self.trained.feature_map.field(ITEM).offset - 1  # item row -> embedding row
        ring = self.seen.ring if users is None else self.seen.ring[users]
        rows = ring[:, lag : lag + length].astype(np.int64)
        rows[rows > 0] += offset  # in place: a [n_users, history_len] int64 copy is enough
        return torch.from_numpy(rows)


def fit_stream(
    stream: ParquetStream,
    config: RankerConfig,
    *,
    scan: Scan | None = None,
    hold_out_newest: bool = False,
    keep_order: bool = True,
    epochs: int | None = None,
    early_stopping: bool = True,
) -> StreamFit:
    """Train a DeepFM on ``stream`` (implicit feedback); ``scan`` reuses a pass already made.

    ``keep_order`` re-reads the seen rows in time order at the end (what a saved ranker
    serves); an evaluation that only masks seen items can skip that pass.
    """
    if config.objective == "explicit":
        raise DataError(
            "--stream trains the implicit objective (positives and sampled negatives)",
            source=stream.name,
            hint="drop --objective explicit, or load the data in memory",
        )
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    scan = scan or stream.scan()
    loss = loss_of("implicit", scan.n_items, config)
    config = with_hidden(config, loss)  # the saved config names the widths used
    config = with_epochs(config, "implicit")
    length = config.history_len if scan.has_time else 0
    skeleton = _skeleton(scan)
    fmap = FeatureMap.fit(skeleton, history_len=length, user_rows=config.user_rows)
    model = build_model(fmap, config).to(device)
    seen = stream.seen_index(scan, ring_len=length + 2)
    repeats = sort_segments(seen.indptr, seen.indices)  # for binary search while training
    index = InteractionIndex(scan.users, scan.items, seen.indptr, seen.indices, seen.liked)
    _, user_table = fmap.side_table(skeleton, "user")
    _, item_table = fmap.side_table(skeleton, "item")
    trained = Trained(config, fmap, model, "implicit", scan.fingerprint, TrainLog(), loss=loss)
    trained.index, trained.user_table, trained.item_table = index, user_table, item_table
    result = StreamFit(trained, scan, seen, repeats)

    newest = 1 if hold_out_newest else 0  # ring column of each user's newest training row
    counts = scan.user_counts - newest * (scan.user_counts > 0)  # training rows per user
    if hold_out_newest:  # users left without training rows are unknown, as in memory
        user_table.sparse[torch.from_numpy(counts == 0)] = 0
    held_users = np.flatnonzero(scan.user_counts > 0) if hold_out_newest else np.zeros(0, int)
    held_items = seen.ring[held_users, 0]
    validate = None
    if early_stopping and config.patience and config.valid_users:
        candidates = np.flatnonzero(counts >= 3)
        size = min(config.valid_users, len(candidates))
        v_users = np.sort(rng.choice(candidates, size=size, replace=False))
        del candidates
        if len(v_users):
            v_items = seen.ring[v_users, newest].astype(np.int64)
            history = result.history_of(newest + 1, v_users) if length else None
            validate = ndcg_validation(trained, v_users, v_items, history)
            held_users = np.r_[held_users, v_users]
            held_items = np.r_[held_items, v_items]
    held = np.sort(pair_keys(held_users, held_items, scan.n_items))
    del skeleton, counts, held_users, held_items  # per-user arrays not needed while training
    if keep_order:  # the last pass rebuilds the ring: it need not sit beside the training state
        seen.ring = np.zeros((0, length + 2), seen.ring.dtype)
    elif length:
        trained.recent = result.history_of(newest)

    epoch_data = _epochs(stream, result, held, config, rng)
    steps = implicit_steps(config)
    trained.log = train_epochs(model, epoch_data, steps, validate, device, epochs)
    if keep_order:  # serving reads each user's items oldest first, and their newest as history
        result.seen = stream.seen_index(scan, ring_len=length + 2, into=seen)
        if length:
            trained.recent = result.history_of(newest)
    return result


def _epochs(
    stream: ParquetStream,
    fitted: StreamFit,
    held: np.ndarray,
    config: RankerConfig,
    rng: np.random.Generator,
):
    """Each epoch as a generator of :class:`Epoch` parts, one per batch of the stream."""
    trained, scan, seen = fitted.trained, fitted.scan, fitted.seen
    fmap = trained.feature_map
    assert trained.user_table is not None and trained.item_table is not None
    user_table, item_table = trained.user_table, trained.item_table
    known = SeenSegments(seen.indptr, seen.indices)
    weights = None
    if config.sampler == "popularity":
        weights = scan.item_counts[1:].astype(np.float64) ** 0.75 + 1e-9
    offset = fmap.field(ITEM).offset - 1
    length = fmap.history_len
    loss = catalog_loss(trained.loss, scan.item_counts[1:], config)

    def epoch(number: int, generator: torch.Generator) -> Iterator[Epoch]:
        ring = np.zeros((scan.n_users + 1, max(length, 1)), seen.indices.dtype)  # file order
        for frame, _, _ in stream.frames():
            u, i = stream.rows_of(frame, scan)
            history = roll_history(ring, u, i) if length else None  # every row, held ones too
            keys = pair_keys(u, i, scan.n_items)
            pos = np.searchsorted(held, keys).clip(max=max(len(held) - 1, 0))
            rows = np.flatnonzero(held[pos] != keys) if len(held) else np.arange(len(u))
            if not len(rows):
                continue
            rows = rows[torch.randperm(len(rows), generator=generator).numpy()]  # shuffled
            positives = torch.from_numpy(i[rows].astype(np.int64))
            if loss is None:
                items, y = sampled_candidates(
                    u[rows], positives, known, scan.n_items, config.negatives, rng, weights
                )
            else:  # the loss scores the catalog: no per-row candidates
                items, y = None, positives
            bags = None
            if history is not None:
                h = history[rows].astype(np.int64)
                bags = np.where(h > 0, h + offset, 0)  # item rows -> shared embedding rows
            context = fmap.encode(pd.DataFrame(index=range(len(rows))), "context", history=bags)
            query = Tensors.join(user_table.take(torch.from_numpy(u[rows])), context)
            yield Epoch(query, y, None, items, item_table, config.implicit_batch, loss)

    return epoch


def _skeleton(scan: Scan) -> Dataset:
    """A dataset with no interactions whose side tables list every user and item: what the
    feature map and the side tables are built from (ids only, in the stream's order)."""
    columns = {
        USER: pd.Series([], dtype=scan.users.dtype),
        ITEM: pd.Series([], dtype=scan.items.dtype),
    }
    if scan.has_time:
        columns[TIME] = pd.Series([], dtype=np.int64)
    return Dataset(
        pd.DataFrame(columns),
        items=pd.DataFrame({ITEM: scan.items}),
        users=pd.DataFrame({USER: scan.users}),
    )
