"""The training loop: shuffled mini-batches, fused Adam, early stopping on validation.

An epoch is one :class:`Epoch` of tensors in memory (the in-memory fit) or an iterable of them,
batch by batch (the streamed fit, :mod:`rag_recs.ranker.stream_fit`). Deliberately no
DataLoader: a batch is a slice of tensors shuffled once per epoch (or per streamed batch), and
nothing in the loop synchronises with Python (no ``.item()``).
A 512-row step takes about a millisecond on CPU, so fixed per-step costs matter: the Adam step
calls the fused kernel directly (:class:`AdamStep`). Steps run on a fixed number of threads
(``train_threads``): float sums split over threads add up in another order, so choosing the
count by timing (as a loaded machine would sway) would change the weights.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from rag_recs import distributed
from rag_recs.config import RankerConfig
from rag_recs.ranker.features import Tensors
from rag_recs.ranker.losses import CatalogLoss

Validate = Callable[[], float]


@dataclass
class Epoch:
    """One epoch's rows, shuffled: queries, each with M candidate items, and their labels.

    ``query`` [n] (user and context fields); ``labels`` [n, M], or [n] for a generic CTR table
    (no items). Item fields come gathered for the epoch (``items`` [n, M]) or as rows
    (``item_rows`` [n, M] into ``item_table``) gathered batch by batch, so that M sampled
    negatives per row cost M ids, not M copies of a row.

    With a catalog ``loss`` (softmax over the items), ``labels`` [n] are each row's positive
    item row and ``item_table`` the items the loss scores them against.
    """

    query: Tensors
    labels: torch.Tensor
    items: Tensors | None = None
    item_rows: torch.Tensor | None = None
    item_table: Tensors | None = None
    batch_size: int = 512  # rows per gradient step
    loss: CatalogLoss | None = None  # None: binary cross-entropy on ``labels``

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, start: int, end: int) -> tuple[Tensors, Tensors | None, torch.Tensor]:
        items = None
        if self.loss is not None:
            pass  # the loss takes the whole item table
        elif self.items is not None:
            items = self.items.take(slice(start, end))
        elif self.item_rows is not None and self.item_table is not None:
            items = self.item_table.take(self.item_rows[start:end])
        query = self.query.take(slice(start, end)).trimmed()
        return query, None if items is None else items.trimmed(), self.labels[start:end]

    def to(self, device: torch.device) -> Epoch:
        def move(x):
            return None if x is None else x.to(device)

        return Epoch(
            self.query.to(device),
            self.labels.to(device),
            move(self.items),
            move(self.item_rows),
            move(self.item_table),
            self.batch_size,
            self.loss,
        )

    def shard(self, rank: int, world: int) -> Epoch:
        """Rank ``rank``'s part of the epoch among ``world`` ranks, for data-parallel training.

        Every ``world``-th row from ``rank``, the same number on every rank (the last
        ``len % world`` rows sit this epoch out), and the batch divided by ``world``: step k of
        the ranks together covers the single process's rows of step k, so the step count, the
        global batch and the learning rate stay those of one process (``world`` must divide
        ``batch_size`` for the rows to match exactly).
        """
        rows = torch.arange(rank, len(self) - len(self) % world, world)  # [n // world]
        return Epoch(
            self.query.take(rows),
            self.labels[rows],
            None if self.items is None else self.items.take(rows),
            None if self.item_rows is None else self.item_rows[rows],
            self.item_table,
            -(-self.batch_size // world),
            self.loss,
        )


# an epoch's rows: one Epoch, or (streamed data) Epochs one batch at a time
EpochData = Callable[[int, torch.Generator], Epoch | Iterable[Epoch]]


@dataclass
class TrainLog:
    """What happened during training: per-epoch loss and validation metric, throughput."""

    losses: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)  # each validation's score
    valid_at: list[float] = field(default_factory=list)  # epochs done at each validation
    best_epoch: int = 0
    samples: int = 0
    seconds: float = 0.0  # time spent in gradient steps only (no validation, no sampling)
    elapsed: list[float] = field(default_factory=list)  # wall seconds at each epoch's end

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def make_optimizers(
    model: torch.nn.Module, cfg: RankerConfig
) -> tuple[torch.optim.Optimizer, torch.optim.SparseAdam | None]:
    """Adam with the fused kernel where the installed torch has it (one kernel per step), and
    SparseAdam for an embedding table with sparse gradients (a large one: it updates only the
    rows a batch used, and their moments; it has no weight decay)."""
    embedding = getattr(model, "embedding", None)
    table = embedding.table.weight if getattr(embedding, "sparse_grad", False) else None
    params = [p for p in model.parameters() if p is not table]
    sparse = None if table is None else torch.optim.SparseAdam([table], lr=cfg.lr)
    try:
        dense = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        dense = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return dense, sparse


class AdamStep:
    """``optimizer.step()`` for a fused ``torch.optim.Adam``, minus its per-call Python.

    ``Adam.step()`` regroups its tensors by device and dtype on every call: ~100 us, as long as
    the fused kernel itself on a 512-row batch. The tensors never change between steps here, so
    they are gathered once and the same kernel is called directly (no library offers this).
    The first step, non-fused optimizers and any parameter without a gradient take the regular
    path, so the result is identical to ``optimizer.step()`` (tested). ``sparse`` (the table's
    SparseAdam, if any) steps alongside.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, sparse: torch.optim.SparseAdam | None = None
    ):
        self.optimizer, self.sparse = optimizer, sparse
        group = optimizer.param_groups[0]
        self.params: list[torch.Tensor] = list(group["params"])
        self.fast = (
            len(optimizer.param_groups) == 1
            and isinstance(optimizer, torch.optim.Adam)
            and bool(group.get("fused"))
            and not group["amsgrad"]
            and not group["maximize"]
            and not group.get("decoupled_weight_decay", False)
            and not isinstance(group["lr"], torch.Tensor)
            and hasattr(torch, "_fused_adam_")
        )
        self._state: tuple[list, list, list, list] | None = None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
        if self.sparse is not None:
            self.sparse.zero_grad()

    def __call__(self) -> None:
        if self.sparse is not None:
            self._sparse_step()
        if self._state is not None:
            params, avgs, squares, steps = self._state
            grads = [p.grad for p in params]
            if all(g is not None for g in grads):
                group = self.optimizer.param_groups[0]
                beta1, beta2 = group["betas"]
                torch._foreach_add_(steps, 1)
                torch._fused_adam_(
                    params, grads, avgs, squares, [], steps,
                    amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2,
                    weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                )  # fmt: skip
                return
        self.optimizer.step()
        if self.fast:
            self._gather()

    def _sparse_step(self) -> None:
        """``SparseAdam.step()`` on the table, by row: the same update, on SparseAdam's state.

        SparseAdam coalesces the gradient, then reads each moment through ``sparse_mask`` (a
        sort and a search per moment): about 1.7 ms of an 8.4 ms step on a 55,000-row table.
        Gathering the used rows once (``torch.unique``) and updating them with
        ``index_select`` / ``index_add_`` takes 1.2 ms. A row's repeated gradients are summed in
        their own order (``coalesce`` uses another), so the numbers agree to float rounding
        (tested against SparseAdam). The first step (which creates the state) and any gradient
        that is not sparse take SparseAdam's own path.
        """
        assert self.sparse is not None
        group = self.sparse.param_groups[0]
        (param,) = group["params"]
        grad, state = param.grad, self.sparse.state[param]
        if grad is None or not grad.is_sparse or not state or group.get("maximize"):
            self.sparse.step()
            return
        if not grad._nnz():
            return
        state["step"] += 1
        beta1, beta2 = group["betas"]
        rows, where = torch.unique(grad._indices()[0], return_inverse=True)  # sorted, as coalesce
        values = grad._values()
        summed = values.new_zeros(len(rows), values.shape[1]).index_add_(0, where, values)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        old_avg = exp_avg.index_select(0, rows)
        avg_update = summed.sub(old_avg).mul_(1 - beta1)
        exp_avg.index_add_(0, rows, avg_update)
        old_sq = exp_avg_sq.index_select(0, rows)
        sq_update = summed.pow(2).sub_(old_sq).mul_(1 - beta2)
        exp_avg_sq.index_add_(0, rows, sq_update)
        numer = avg_update.add_(old_avg)
        denom = sq_update.add_(old_sq).sqrt_().add_(group["eps"])
        step = state["step"]
        step_size = group["lr"] * math.sqrt(1 - beta2**step) / (1 - beta1**step)
        with torch.no_grad():
            param.index_add_(0, rows, -step_size * numer.div_(denom))

    def _gather(self) -> None:
        """After a regular step: the parameters that have state, and their state tensors."""
        state = self.optimizer.state
        params = [p for p in self.params if p.grad is not None and p in state]
        self._state = (
            params,
            [state[p]["exp_avg"] for p in params],
            [state[p]["exp_avg_sq"] for p in params],
            [state[p]["step"] for p in params],
        )


def train_epochs(
    model: torch.nn.Module,
    epoch_data: EpochData,
    cfg: RankerConfig,
    validate: Validate | None = None,
    device: torch.device | None = None,
    epochs: int | None = None,
) -> TrainLog:
    """Train up to ``epochs``; with ``validate``, keep the best epoch's weights (higher wins)."""
    device = device or torch.device("cpu")
    epochs = epochs or cfg.epochs
    log = TrainLog()
    progress = Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs {task.fields[info]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not cfg.progress or not distributed.is_main(),
    )
    with progress:
        best_state = _loop(model, epoch_data, cfg, validate, device, epochs, progress, log)
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        log.best_epoch = len(log.losses) - 1
    model.eval()
    return log


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` CPU threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _loop(
    model: torch.nn.Module,
    epoch_data: EpochData,
    cfg: RankerConfig,
    validate: Validate | None,
    device: torch.device,
    epochs: int,
    progress: Progress,
    log: TrainLog,
) -> dict | None:
    """The epochs themselves; fills ``log`` and returns the best weights seen (or None).

    Validation comes at each epoch's end, and within an in-memory epoch of more than
    ``valid_every`` steps every ``valid_every`` steps or so. Patience counts validations, and
    spans at least an epoch: a fit stops ``patience`` validations and an epoch past its best,
    not ``patience`` epochs (a catalog of 3e5 interactions makes 1,181 steps an epoch and stops
    one epoch past its best instead of three; MovieLens-100K's 389 steps are validated once an
    epoch, as before). Without the epoch span, 3 validations of 490 steps would stop a fit of
    10^6 interactions at 2.25 epochs, within the noise of its validation's plateau
    (docs/scaling.md has what the earlier stop costs there).

    Under torchrun each rank steps on its :meth:`Epoch.shard` through DistributedDataParallel
    (every rank builds the same epoch: same seed, same shuffle, the same pieces); rank 0
    validates and the others receive its score, so that all make the same early-stopping
    decision.
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    step = AdamStep(*make_optimizers(model, cfg))
    trainer = distributed.wrap(model)  # forward and backward; gradients averaged over ranks
    world, rank = distributed.world_size(), distributed.rank()
    watch, steps = _Watch(), 0
    task = progress.add_task("train", total=epochs, info="")
    began = time.perf_counter()

    def stopping() -> bool:
        # small data make few steps per epoch: patience only counts once enough steps ran;
        # and it spans at least an epoch's steps, however often an epoch is validated
        return (
            validate is not None
            and bool(cfg.patience)
            and watch.stale >= cfg.patience
            and steps - watch.steps >= epoch_steps
            and steps >= cfg.min_steps
        )

    for epoch in range(epochs):
        epoch_parts = epoch_data(epoch, generator)
        in_memory = isinstance(epoch_parts, Epoch)
        parts = [epoch_parts] if in_memory else epoch_parts
        total, rows, stopped = None, 0, False
        epoch_steps = 0  # an in-memory epoch's steps; a streamed one's so far
        for data in parts:  # one Epoch in memory; a streamed epoch comes batch by batch
            if world > 1:
                data = data.shard(rank, world)
            data = data.to(device)
            starts = list(range(0, len(data), data.batch_size))
            epoch_steps += len(starts)
            n = -(-len(starts) // cfg.valid_every) if validate is not None and in_memory else 1
            for k in range(n):
                piece = starts[len(starts) * k // n : len(starts) * (k + 1) // n]
                if not piece:
                    continue
                trainer.train()
                start = time.perf_counter()
                part = _one_epoch(trainer, step, data, piece, cfg.train_threads)
                total = part if total is None else total + part
                log.seconds += time.perf_counter() - start
                first, end = piece[0], min(piece[-1] + data.batch_size, len(data))
                log.samples += data.labels[first:end].numel() * world
                steps += len(piece)
                rows += end - first
                if k < n - 1:  # a validation within the epoch
                    assert validate is not None
                    info = watch.check(model, validate, log, epoch, epoch + (k + 1) / n, steps)
                    progress.update(task, info=info)
                    if stopping():
                        stopped = True
                        break
            if stopped:
                break
        if total is None:
            total = torch.zeros((), device=device)
        total = distributed.sum_over_ranks(total)
        loss = float(total) / max(1, rows * world)  # the one sync of the epoch
        log.losses.append(loss)
        info = f"loss {loss:.4f}"
        if validate is not None and not stopped:
            info += watch.check(model, validate, log, epoch, epoch + 1.0, steps)
        log.elapsed.append(time.perf_counter() - began)
        progress.update(task, advance=1, info=info)
        if stopped or stopping():
            break
    return watch.state


@dataclass
class _Watch:
    """Early stopping's memory: the best validation so far, its weights, the checks since."""

    best: float = float("-inf")
    state: dict | None = None
    stale: int = 0  # validations since the best
    steps: int = 0  # gradient steps done at the best

    def check(
        self,
        model: torch.nn.Module,
        validate: Validate,
        log: TrainLog,
        epoch: int,
        at: float,
        steps: int,
    ) -> str:
        """Validate now (``at`` epochs and ``steps`` steps done, within ``epoch``); the progress
        bar's text."""
        model.eval()
        score = distributed.once(validate)
        log.valid.append(score)
        log.valid_at.append(at)
        if score > self.best:
            self.best, self.stale, self.steps, log.best_epoch = score, 0, steps, epoch
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1
        return f" valid {score:.4f}"


def _one_epoch(
    model: torch.nn.Module,
    step: AdamStep,
    data: Epoch,
    starts: list[int] | None = None,
    threads: int = 0,
) -> torch.Tensor:
    """Gradient steps on the batches of ``data`` beginning at ``starts`` (None: all of them)
    on ``threads`` CPU threads (0: torch's default); returns the summed loss as a tensor (no
    sync)."""
    total = torch.zeros((), device=data.labels.device)
    if starts is None:
        starts = list(range(0, len(data), data.batch_size))
    with _threads(threads or torch.get_num_threads()):
        _steps(model, step, data, starts, data.batch_size, total)
    return total


def _steps(
    model: torch.nn.Module,
    step: AdamStep,
    data: Epoch,
    starts: list[int],
    batch_size: int,
    total: torch.Tensor,
) -> None:
    """Gradient steps on the batches beginning at ``starts``; adds their loss to ``total``."""
    for start in starts:
        query, items, labels = data.batch(start, start + batch_size)
        if data.loss is not None:
            assert data.item_table is not None
            loss = data.loss(model, query, labels, data.item_table)
        else:
            loss = F.binary_cross_entropy_with_logits(model(query, items), labels)
        step.zero_grad()
        loss.backward()
        step()
        total.add_(loss.detach(), alpha=len(labels))


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, query: Tensors, items: Tensors | None = None, batch_size: int = 65536
) -> torch.Tensor:
    """Logits for every query row (with its one item, when given), in large batches: [n]."""
    model.eval()
    out = []
    for s in range(0, len(query), batch_size):
        part = None if items is None else items.take(slice(s, s + batch_size))
        logits = model(query.take(slice(s, s + batch_size)), part)
        out.append(logits if part is None else logits[:, 0])
    return torch.cat(out) if out else torch.zeros(0)
