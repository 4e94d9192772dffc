"""Running under torchrun: the process group, this process's rank, what rank 0 alone does.

``torchrun --nproc-per-node N -m rag_recs ...`` starts N copies of the command and tells each
its place in ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``. Training joins them in one process
group (gloo on CPU, nccl on CUDA) and ``DistributedDataParallel`` averages their gradients;
what must happen once (validation, saving, printing) happens on rank 0 and is broadcast.
Outside torchrun every function here is a no-op, and torch is imported only once a group is
started, so that other commands start fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes files and stdout."""
    return not launched() or int(os.environ.get("RANK", "0")) == 0


def start(device: str = "auto") -> bool:
    """Join torchrun's process group (once); True when this process is in a group of several.

    nccl when the run trains on CUDA (each rank on GPU ``LOCAL_RANK``), gloo otherwise.
    """
    if not launched():
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if device != "cpu" and torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return True


def active() -> bool:
    """Whether a process group of more than one process is running."""
    if not launched():  # the common case answers without importing torch
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """How many processes train together (1 outside a group)."""
    if not active():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def rank() -> int:
    """This process's place in the group (0 outside a group)."""
    if not active():
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def dense_gradients_only() -> bool:
    """Whether the group's backend cannot all-reduce sparse gradients.

    gloo all-reduces sparse COO tensors (an all-gather of indices and values) and DDP passes an
    ``nn.Embedding(sparse=True)``'s gradient to it unbucketed; nccl has no sparse all-reduce in
    the standard builds (pytorch/pytorch#22400), so under nccl the table trains with dense
    gradients and Adam instead of SparseAdam.
    """
    if not active():
        return False
    import torch.distributed as dist

    return dist.get_backend() == "nccl"


def broadcast(value: T) -> T:
    """Rank 0's ``value``, on every rank (any picklable object)."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def once(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 only; its result is broadcast to every rank."""
    if not active():
        return compute()
    return broadcast(compute() if rank() == 0 else None)  # type: ignore[arg-type]


def gather(value: T) -> list[T] | None:
    """Every rank's ``value`` in rank order on rank 0, None on the others; ``[value]`` alone.

    Joins the group (gloo, for plain Python objects) if the command has not already."""
    if not start("cpu"):
        return [value]
    import torch.distributed as dist

    results: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(results, value)
    return results if dist.get_rank() == 0 else None


def sum_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The sum of ``value`` over every rank (``value`` itself outside a group)."""
    if active():
        import torch.distributed as dist

        dist.all_reduce(value)
    return value


def barrier() -> None:
    """Wait until every rank gets here."""
    if active():
        import torch.distributed as dist

        dist.barrier()


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` inside a group, else ``model`` itself.

    DDP broadcasts rank 0's weights at construction and averages gradients over the ranks in
    ``backward()``, before the optimizer step. A parameter that never gets a gradient (the empty
    dense-field table of data without numeric fields) is frozen first: DDP would wait for it.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    for p in model.parameters():
        if p.numel() == 0:
            p.requires_grad_(False)
    return DistributedDataParallel(model)


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if not launched():
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
