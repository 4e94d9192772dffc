"""Fitting the ranker: encode a dataset, build each epoch's examples and the validation.

Implicit feedback (the default for interaction data) trains every positive against the whole
catalog (softmax cross-entropy), against items sampled per batch (sampled softmax), or against
``negatives`` items sampled per epoch from those the user never touched (binary
cross-entropy), and validates by the full-list NDCG of the last item of up to ``valid_users``
users (held out of training).
Explicit labels (a ``label`` column, or ``rating >= threshold``) validate by AUC on each user's
latest share. A generic CTR table has no users or items: every column is a context feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import ITEM, LABEL, RATING, TIME, USER, Dataset
from rag_recs.data.split import chronological
from rag_recs.errors import DataError
from rag_recs.ranker.deepfm import DeepFM
from rag_recs.ranker.features import FeatureMap, Tensors, history_rows
from rag_recs.ranker.losses import CatalogLoss, FullSoftmax, SampledSoftmax
from rag_recs.ranker.sampling import pair_keys, sample_negatives
from rag_recs.ranker.score import Scorer
from rag_recs.ranker.train import Epoch, TrainLog, Validate, predict_logits, train_epochs
from rag_recs.ranker.trained import Trained, build_model, resolve_device

VALIDATION_SCORES = 1 << 20  # scores (float32) held at once by the full-list validation


def objective_of(dataset: Dataset, config: RankerConfig) -> str:
    """``explicit`` (labels) or ``implicit`` (sampled negatives) for this data and config."""
    cols = dataset.interactions.columns
    if not dataset.has_users:
        if LABEL not in cols:
            raise DataError(
                "a generic CTR table needs a 0/1 label column",
                source=dataset.name,
                hint="--label COLUMN",
            )
        return "explicit"
    if config.objective == "explicit" and LABEL not in cols and RATING not in cols:
        raise DataError(
            "explicit training needs a label or rating column",
            source=dataset.name,
            hint="use --objective implicit, or --label / --rating-col",
        )
    return "implicit" if config.objective == "auto" else config.objective


def loss_of(objective: str, n_items: int, config: RankerConfig) -> str:
    """The training loss: binary for labelled data, else the configured one (``auto``: the
    full softmax up to ``softmax_items`` items, the sampled softmax above)."""
    if objective != "implicit":
        return "bce"
    if config.loss != "auto":
        return config.loss
    return "softmax" if n_items <= config.softmax_items else "sampled_softmax"


IMPLICIT_EPOCHS, LABELLED_EPOCHS = 9, 12  # the default caps (RankerConfig.epochs)


def with_epochs(config: RankerConfig, objective: str) -> RankerConfig:
    """``config`` with its epoch cap set (``epochs=None`` resolved for ``objective``)."""
    if config.epochs is not None:
        return config
    cap = IMPLICIT_EPOCHS if objective == "implicit" else LABELLED_EPOCHS
    return config.model_copy(update={"epochs": cap})


BINARY_HIDDEN = (128, 64)  # the MLP of a binary loss (CTR, bce)
CATALOG_HIDDEN: tuple[int, ...] = ()  # a softmax's: scored for every (row, item) pair


def with_hidden(config: RankerConfig, loss: str) -> RankerConfig:
    """``config`` with its MLP widths set (``hidden=None`` resolved for ``loss``)."""
    if config.hidden is not None:
        return config
    hidden = BINARY_HIDDEN if loss == "bce" else CATALOG_HIDDEN
    return config.model_copy(update={"hidden": hidden})


def catalog_loss(loss: str, counts: np.ndarray, config: RankerConfig) -> CatalogLoss | None:
    """The loss object of a softmax ``loss`` (None for bce); ``counts`` [n_items] are the
    items' training interactions: the sampled softmax draws items in proportion to
    (count + 1) ** 0.75 (more often the popular ones, which are the hard negatives)."""
    if loss == "softmax":
        return FullSoftmax()
    if loss == "sampled_softmax":
        weights = (counts.astype(np.float64) + 1.0) ** 0.75
        return SampledSoftmax(config.softmax_negatives, weights, config.seed)
    return None


def fit(
    dataset: Dataset,
    config: RankerConfig,
    *,
    epochs: int | None = None,
    early_stopping: bool = True,
) -> Trained:
    """Train a DeepFM on ``dataset``; ``epochs`` caps the count (exact with early stopping off)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    objective = objective_of(dataset, config)
    loss = loss_of(objective, len(dataset.catalog) if dataset.has_users else 0, config)
    config = with_hidden(config, loss)  # the saved config names the widths used
    config = with_epochs(config, objective)  # and the epoch cap
    history_len = config.history_len if dataset.has_users and dataset.has_time else 0
    fmap = FeatureMap.fit(
        dataset,
        history_len=history_len,
        categorical=config.categorical,
        numeric=config.numeric,
        user_rows=config.user_rows,
    )
    model = build_model(fmap, config).to(device)
    inter = dataset.interactions.reset_index(drop=True)
    validate_on = bool(early_stopping and config.patience)
    trained = Trained(config, fmap, model, objective, dataset.fingerprint, TrainLog(), loss=loss)
    if not dataset.has_users:
        examples = Examples(fmap.encode(inter, "context"), None, None, None)
        labels = torch.tensor(inter[LABEL].to_numpy(np.float32))
        train_rows, validate = _explicit_validation(inter, examples, labels, model, config, rng)
        epoch_data = examples.labelled(train_rows, labels, config.batch_size)
    else:
        examples = _user_examples(dataset, inter, fmap, trained)
        if objective == "explicit":
            labels = torch.tensor(_labels(inter, config).astype(np.float32))
            train_rows, validate = _explicit_validation(
                inter, examples, labels, model, config, rng, validate_on
            )
            epoch_data = examples.labelled(train_rows, labels, config.batch_size)
        else:
            assert trained.index is not None
            train_rows, validate = _implicit_validation(examples, trained, rng, validate_on)
            counts = trained.index.popularity[1:]
            catalog = catalog_loss(loss, counts, config)
            epoch_data = examples.sampled(train_rows, trained.index, config, rng, catalog)
    if not validate_on:
        validate = None
    steps_config = implicit_steps(config) if objective == "implicit" else config
    trained.log = train_epochs(model, epoch_data, steps_config, validate, device, epochs)
    return trained


def implicit_steps(config: RankerConfig) -> RankerConfig:
    """Implicit steps are bigger than labelled ones: the learning rate, square-root scaled.

    The same scale for every loss (x2.1 at the defaults): on MovieLens-100K the softmax
    reached a better validation NDCG at 2.8e-3 than at 0.7e-3 (docs/protocols.md)."""
    rows = config.implicit_batch * (1 + config.negatives)
    return config.model_copy(update={"lr": config.lr * (rows / config.batch_size) ** 0.5})


def sampled_candidates(
    users: np.ndarray,
    positives: torch.Tensor,
    known: np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_items: int,
    n_neg: int,
    rng: np.random.Generator,
    weights: np.ndarray | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each positive (user row, item row) with ``n_neg`` fresh items the user never touched:
    item rows [n, 1 + n_neg] (the positive first) and labels [n, 1 + n_neg]."""
    negatives, keep = sample_negatives(np.repeat(users, n_neg), known, n_items, rng, weights)
    # a user who has seen (almost) everything keeps a padding negative: masked below
    negatives = np.where(keep, negatives, 0).reshape(-1, n_neg)
    items = torch.cat([positives.unsqueeze(1), torch.from_numpy(negatives)], 1)
    labels = torch.zeros(1 + n_neg)
    labels[0] = 1.0
    y = labels.expand(len(users), -1).clone()  # [n, 1 + negatives]
    if not keep.all():  # drop unusable negatives from the loss by pointing them home
        bad = torch.from_numpy(~keep.reshape(-1, n_neg))
        items[:, 1:][bad] = items[:, :1].expand(-1, n_neg)[bad]
        y[:, 1:][bad] = 1.0
    return items, y


@dataclass
class Examples:
    """Every interaction as model inputs: user rows, context fields, item rows."""

    context: Tensors  # [n] context fields (the history field included)
    users: torch.Tensor | None  # [n] user rows into user_table
    items: torch.Tensor | None  # [n] item rows into item_table
    tables: tuple[Tensors, Tensors] | None  # (user_table, item_table)
    history: np.ndarray | None = None  # [n, history_len] each row's history field

    def query(self, rows: torch.Tensor) -> Tensors:
        """User and context fields of ``rows``."""
        ctx = self.context.take(rows)
        if self.tables is None or self.users is None:
            return ctx
        return Tensors.join(self.tables[0].take(self.users[rows]), ctx)

    def labelled(self, rows: np.ndarray, labels: torch.Tensor, batch_size: int):
        """Epochs over the same labelled rows, reshuffled each time."""
        rows_t = torch.from_numpy(rows)
        joined = None  # every row's query and item fields as one, gathered once for all epochs
        if self.items is not None and self.tables is not None:
            query = self.query(rows_t)
            if DeepFM.joinable(query):
                joined = Tensors.join(query, self.tables[1].take(self.items[rows_t]))

        def epoch(number: int, generator: torch.Generator) -> Epoch:
            shuffle = torch.randperm(len(rows_t), generator=generator)
            order = rows_t[shuffle]
            if joined is not None:
                return Epoch(joined.take(shuffle), labels[order], batch_size=batch_size)
            query = self.query(order)
            if self.items is None or self.tables is None:  # a generic CTR table
                return Epoch(query, labels[order], batch_size=batch_size)
            items = self.tables[1].take(self.items[order].unsqueeze(1))  # [n, 1] item fields
            return Epoch(query, labels[order].unsqueeze(1), items, batch_size=batch_size)

        return epoch

    def sampled(
        self,
        rows: np.ndarray,
        index: InteractionIndex,
        config: RankerConfig,
        rng: np.random.Generator,
        loss: CatalogLoss | None = None,
    ):
        """Epochs over positive rows, each with ``config.negatives`` fresh unseen items, or
        (with a catalog ``loss``) each against the items that loss scores."""
        assert self.users is not None and self.items is not None and self.tables is not None
        lengths = None
        if self.history is not None:  # sorted batches pay when most of a history is padding
            filled = (self.history != 0).sum(1)
            if filled.mean() < SORT_BELOW * self.history.shape[1]:
                lengths = torch.from_numpy(filled)
        batch = config.implicit_batch
        if loss is not None:
            rows_c = torch.from_numpy(rows)
            positives = self.items

            def catalog_epoch(number: int, generator: torch.Generator) -> Epoch:
                order = rows_c[torch.randperm(len(rows_c), generator=generator)]
                order = by_length(order, lengths, batch, generator)
                query = self.query(order)
                return Epoch(query, positives[order], None, None, self.tables[1], batch, loss)

            return catalog_epoch
        n_items, n_neg = index.n_items, config.negatives
        seen_keys = np.sort(pair_keys(*index.seen_pairs(), n_items))
        weights = None
        if config.sampler == "popularity":
            weights = index.popularity[1:].astype(np.float64) ** 0.75 + 1e-9
        rows_t = torch.from_numpy(rows)
        users = self.users.numpy()

        def epoch(number: int, generator: torch.Generator) -> Epoch:
            order = rows_t[torch.randperm(len(rows_t), generator=generator)]
            order = by_length(order, lengths, batch, generator)
            items, y = sampled_candidates(
                users[order.numpy()], self.items[order], seen_keys, n_items, n_neg, rng, weights
            )
            query = self.query(order)
            return Epoch(query, y, None, items, self.tables[1], batch)

        return epoch


LENGTH_POOL = 50  # batches sorted together by history length: similar lengths, varied batches
# Batches are grouped by history length when the mean history fills less than this share of
# ``history_len``: a generated catalog's sparse users (mean 11 of 50) then train an epoch in
# about 30% less CPU time; MovieLens-100K (mean 39 of 50) keeps plain shuffled batches.
SORT_BELOW = 0.5


def by_length(
    order: torch.Tensor, lengths: torch.Tensor | None, batch: int, generator: torch.Generator
) -> torch.Tensor:
    """Shuffled rows ``order`` regrouped so that each batch holds histories of similar length
    (``lengths`` [n] per row; None: ``order`` as it is), the batches in random order.

    Sorted within pools of ``LENGTH_POOL`` batches (a "sortish" sampler: each epoch still
    mixes users and items), so that a batch trimmed of its padding (``Tensors.trimmed``) costs
    its longest history instead of ``history_len``: on sparse users most of it is padding.
    """
    if lengths is None or len(order) <= batch:
        return order
    pool = batch * LENGTH_POOL
    parts = [p[torch.argsort(lengths[p], stable=True)] for p in order.split(pool)]
    batches = torch.cat(parts).split(batch)
    return torch.cat([batches[b] for b in torch.randperm(len(batches), generator=generator)])


def _user_examples(
    dataset: Dataset, inter: pd.DataFrame, fmap: FeatureMap, trained: Trained
) -> Examples:
    """Index users and items, encode side tables and every interaction's context."""
    index = InteractionIndex.from_dataset(dataset)
    _, user_table = fmap.side_table(dataset, "user")
    _, item_table = fmap.side_table(dataset, "item")
    u = (index.users.get_indexer(inter[USER]) + 1).astype(np.int64)
    i = (index.items.get_indexer(inter[ITEM]) + 1).astype(np.int64)
    history = None
    if fmap.history_len:
        offset = fmap.field(ITEM).offset - 1  # item row -> the shared embedding row
        times = inter[TIME].to_numpy() if TIME in inter else None
        tie = inter[ITEM].rank(method="dense").to_numpy()  # same-time events: by item id
        history, _ = history_rows(u, i + offset, times, fmap.history_len, tie)
        recent = index.recent(fmap.history_len).astype(np.int64)
        recent[recent > 0] += offset
        trained.recent = torch.from_numpy(recent)
    ctx = fmap.encode(inter, "context", history=history)
    trained.index, trained.user_table, trained.item_table = index, user_table, item_table
    return Examples(
        ctx, torch.from_numpy(u), torch.from_numpy(i), (user_table, item_table), history
    )


def _labels(inter: pd.DataFrame, config: RankerConfig) -> np.ndarray:
    values = inter[LABEL] if LABEL in inter else inter[RATING] >= config.threshold
    return values.to_numpy(np.float32)


def _explicit_validation(
    inter: pd.DataFrame,
    examples: Examples,
    labels: torch.Tensor,
    model: DeepFM,
    config: RankerConfig,
    rng: np.random.Generator,
    on: bool = True,
) -> tuple[np.ndarray, Validate | None]:
    """Each user's latest ``valid_ratio`` share (a random share without users or times)."""
    n, ratio = len(inter), config.valid_ratio
    if not on or ratio <= 0:
        return np.arange(n), None
    if USER in inter and TIME in inter and examples.users is not None:
        ordered = chronological(inter)
        group = ordered.groupby(USER, sort=False)
        pos, size = group.cumcount().to_numpy(), group[USER].transform("size").to_numpy()
        is_valid = np.zeros(n, bool)
        is_valid[ordered.index.to_numpy()] = pos >= np.ceil(size * (1 - ratio))
    else:
        is_valid = rng.random(n) < ratio
    train_rows, valid_rows = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    if not len(valid_rows):
        return train_rows, None
    rows = torch.from_numpy(valid_rows)
    query = examples.query(rows)
    items = None
    if examples.items is not None and examples.tables is not None:
        items = examples.tables[1].take(examples.items[rows].unsqueeze(1))
    y = labels[valid_rows].numpy()

    def validate() -> float:
        from sklearn.metrics import roc_auc_score  # slow to import: only where it is needed

        scores = predict_logits(model, query, items).cpu().numpy()
        return float(roc_auc_score(y, scores)) if 0 < y.mean() < 1 else 0.0

    return train_rows, validate


def _implicit_validation(
    examples: Examples, trained: Trained, rng: np.random.Generator, on: bool
) -> tuple[np.ndarray, Validate | None]:
    """Hold out the last item of up to ``valid_users`` users; validate by the NDCG of its rank."""
    config, index = trained.config, trained.index
    assert index is not None and examples.users is not None and examples.items is not None
    u, i = examples.users.numpy(), examples.items.numpy()
    n = len(u)
    if not on or not config.valid_users:
        return np.arange(n), None
    newest = _newest_rows(examples, index, u)  # each user's newest interaction
    counts = np.bincount(u, minlength=index.n_users + 1)[u[newest]]
    candidates = newest[counts >= 3]
    size = min(config.valid_users, len(candidates))
    valid_rows = np.sort(rng.choice(candidates, size=size, replace=False))
    is_valid = np.zeros(n, bool)
    is_valid[valid_rows] = True
    if not len(valid_rows):
        return np.arange(n), None
    v_hist = None if examples.history is None else torch.from_numpy(examples.history[valid_rows])
    validate = ndcg_validation(trained, u[valid_rows], i[valid_rows], v_hist)
    return np.flatnonzero(~is_valid), validate


def ndcg_validation(
    trained: Trained, users: np.ndarray, items: np.ndarray, history: torch.Tensor | None
) -> Validate:
    """Validation by the full-list NDCG of each held-out (user row, item row) pair's rank among
    the items the user has not seen; ``history`` [n, history_len] is each pair's history field."""
    index = trained.index
    assert index is not None
    scorer = Scorer(trained)

    def validate() -> float:
        # whole multiples of score_matrix's own chunks of users: the same scores, with the
        # [users, items] matrix held to VALIDATION_SCORES however large the catalog
        per = scorer.users_per_chunk
        step, gains = per * max(1, VALIDATION_SCORES // (per * (index.n_items + 1))), []
        for s in range(0, len(users), step):
            rows, targets = users[s : s + step], items[s : s + step]
            part = None if history is None else history[s : s + step]
            scores = scorer.score_matrix(rows, history=part)
            for r, user in enumerate(rows):  # hide the other seen items, not the target itself
                seen = index.seen_rows(int(user))
                scores[r, seen[seen != targets[r]]] = -np.inf
            target = scores[np.arange(len(rows)), targets]
            rank = (scores > target[:, None]).sum(1)  # 0-based, among the user's unseen items
            gains.append(1.0 / np.log2(rank + 2.0))
        # NDCG over the whole list: a smooth stand-in for Recall@10 on a few hundred users
        return float(np.concatenate(gains).mean())

    return validate


def _newest_rows(examples: Examples, index: InteractionIndex, u: np.ndarray) -> np.ndarray:
    """The interaction row of each user's newest item (in the index's time order)."""
    assert examples.items is not None
    i = examples.items.numpy()
    ends = index.indptr[1:][np.diff(index.indptr) > 0] - 1
    users = np.repeat(np.arange(index.n_users + 1), np.diff(index.indptr))[ends]
    wanted = pair_keys(users, index.indices[ends], index.n_items)
    keys = pair_keys(u, i, index.n_items)
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], wanted)
    return np.sort(order[pos])
