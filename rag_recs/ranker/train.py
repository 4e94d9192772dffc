"""The training loop: shuffled in-memory mini-batches, fused Adam, early stopping on validation.

Deliberately no DataLoader: the data are tensors in memory, so a batch is a slice of a tensor
shuffled once per epoch, and nothing in the loop synchronises with Python (no ``.item()``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from rag_recs.config import RankerConfig
from rag_recs.data.encode import Tensors

EpochData = Callable[[int], tuple[Tensors, torch.Tensor]]
Validate = Callable[[], float]


@dataclass
class TrainLog:
    """What happened during training: per-epoch loss and validation metric, throughput."""

    losses: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    best_epoch: int = 0
    samples: int = 0
    seconds: float = 0.0  # time spent in gradient steps only (no validation, no sampling)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def make_optimizer(model: torch.nn.Module, cfg: RankerConfig) -> torch.optim.Optimizer:
    """Adam with the fused kernel where the installed torch has it (one kernel per step)."""
    try:
        return torch.optim.Adam(
            model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True
        )
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


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
        disable=not cfg.progress,
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
def _threads(n: int, device: torch.device) -> Iterator[None]:
    """Run the block on ``n`` CPU threads (0: leave torch's setting alone)."""
    before = torch.get_num_threads()
    if n and device.type == "cpu":
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
    """The epochs themselves; fills ``log`` and returns the best weights seen (or None)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = make_optimizer(model, cfg)
    best, best_state, stale, steps = float("-inf"), None, 0, 0
    task = progress.add_task("train", total=epochs, info="")
    for epoch in range(epochs):
        inputs, labels = epoch_data(epoch)
        order = torch.randperm(len(labels), generator=generator)
        inputs, labels = inputs.take(order).to(device), labels[order].to(device)
        model.train()
        start = time.perf_counter()
        # A 512-row batch is too small to split across cores: more threads only add
        # synchronisation (and collapse when another process shares the CPU).
        with _threads(cfg.train_threads, device):
            total = _one_epoch(model, optimizer, inputs, labels, cfg.batch_size)
            loss = float(total) / len(labels)  # the one sync of the epoch
        log.seconds += time.perf_counter() - start
        log.samples += len(labels)
        steps += -(-len(labels) // cfg.batch_size)
        log.losses.append(loss)
        info = f"loss {loss:.4f}"
        if validate is not None:
            model.eval()
            score = validate()
            log.valid.append(score)
            info += f" valid {score:.4f}"
            if score > best:
                best, stale, log.best_epoch = score, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        progress.update(task, advance=1, info=info)
        # small data make few steps per epoch: patience only counts once enough steps ran
        if (
            validate is not None
            and cfg.patience
            and stale >= cfg.patience
            and steps >= cfg.min_steps
        ):
            break
    return best_state


def _one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: Tensors,
    labels: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    total = torch.zeros((), device=labels.device)
    sparse, dense, bags = inputs.sparse, inputs.dense, inputs.bags
    for start in range(0, len(labels), batch_size):
        end = start + batch_size
        logits = model(sparse[start:end], dense[start:end], [b[start:end] for b in bags])
        loss = F.binary_cross_entropy_with_logits(logits, labels[start:end])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(logits)
    return total


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, inputs: Tensors, batch_size: int = 65536
) -> torch.Tensor:
    """Logits for every row, in large batches."""
    model.eval()
    out = [
        model(
            inputs.sparse[s : s + batch_size],
            inputs.dense[s : s + batch_size],
            [b[s : s + batch_size] for b in inputs.bags],
        )
        for s in range(0, len(inputs), batch_size)
    ]
    return torch.cat(out) if out else torch.zeros(0)
