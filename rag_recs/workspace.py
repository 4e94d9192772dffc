"""The workspace: trained models (and stores) cached on disk, keyed by a fingerprint of the data.

Commands given only ``--data`` train what is missing once and reuse it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from filelock import FileLock, Timeout
from platformdirs import user_cache_dir

from rag_recs import distributed
from rag_recs.config import RankerConfig
from rag_recs.errors import ModelError

if TYPE_CHECKING:  # torch loads only when a model is needed: commands start fast
    from rag_recs.data.schema import Dataset
    from rag_recs.ranker.ranker import DeepFMRanker

log = logging.getLogger(__name__)
# settings that change the trained model; progress bars and the device do not
_UNKEYED = {"progress", "device"}


def default_root() -> Path:
    """``$RAG_RECS_WORKSPACE``, else the per-user cache directory."""
    return Path(os.environ.get("RAG_RECS_WORKSPACE") or user_cache_dir("rag-recs"))


class Workspace:
    """A directory of models and stores, one sub-directory per data fingerprint."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()

    def data_dir(self, dataset: Dataset) -> Path:
        return self.root / dataset.fingerprint

    def ranker_dir(self, dataset: Dataset, config: RankerConfig) -> Path:
        return self.ranker_path(dataset.fingerprint, config)

    def ranker_path(self, fingerprint: str, config: RankerConfig) -> Path:
        """Where the ranker trained with ``config`` on the data ``fingerprint`` is kept."""
        keyed = config.model_dump(mode="json", exclude=_UNKEYED)
        if not keyed["user_rows"]:  # the default keeps the paths models had before the option
            del keyed["user_rows"]
        digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:10]
        return self.root / fingerprint / f"ranker-{digest}"

    def ranker(
        self, dataset: Dataset, config: RankerConfig | None = None, *, retrain: bool = False
    ) -> tuple[DeepFMRanker, bool]:
        """The ranker for ``dataset`` and ``config``: loaded when cached, else trained and saved.

        Returns the ranker and whether it was trained now. Two processes asking at once train
        it once: the second waits for the first and loads its result.
        """
        from rag_recs.ranker.ranker import DeepFMRanker

        config = config or RankerConfig()
        return self.ranker_for(
            dataset.fingerprint, config, lambda: DeepFMRanker(config).fit(dataset), retrain
        )

    def ranker_for(
        self,
        fingerprint: str,
        config: RankerConfig,
        train: Callable[[], DeepFMRanker],
        retrain: bool = False,
    ) -> tuple[DeepFMRanker, bool]:
        """:meth:`ranker` for data known by its ``fingerprint``, trained by ``train()`` when
        missing (a streamed fit keys its model as the same data loaded in memory would)."""
        path = self.ranker_path(fingerprint, config)
        if distributed.active():
            return self._ranker_together(path, fingerprint, config, train, retrain)
        if not retrain and (cached := self._cached(path, fingerprint, config)) is not None:
            return cached, False
        with exclusive(path, "this ranker"):
            remove_leftovers(path)  # of a save killed midway: never loaded, never kept
            if not retrain and (cached := self._cached(path, fingerprint, config)) is not None:
                return cached, False  # trained by the process we waited for
            ranker = train()
            ranker.save(path)
        return ranker, True

    def _ranker_together(
        self,
        path: Path,
        fingerprint: str,
        config: RankerConfig,
        train: Callable[[], DeepFMRanker],
        retrain: bool,
    ) -> tuple[DeepFMRanker, bool]:
        """:meth:`ranker` under torchrun: every rank trains (DDP needs them all), rank 0 alone
        holds the lock, decides whether the cache serves and saves; the others follow its word
        and read the cache only once rank 0 has written it."""
        main = distributed.is_main()
        cached: DeepFMRanker | None = None
        with exclusive(path, "this ranker") if main else nullcontext(True):
            if main:
                remove_leftovers(path)
                cached = None if retrain else self._cached(path, fingerprint, config)
            if not distributed.broadcast(cached is not None):
                ranker = train()
                if main:
                    ranker.save(path)
                distributed.barrier()  # no rank returns before the model is on disk
                return ranker, True
        distributed.barrier()
        cached = cached or self._cached(path, fingerprint, config)
        if cached is None:
            raise ModelError(f"{path}: rank 0 found this ranker, but it cannot be read here")
        return cached, False

    @staticmethod
    def _cached(path: Path, fingerprint: str, config: RankerConfig) -> DeepFMRanker | None:
        from rag_recs.ranker.ranker import DeepFMRanker

        if not path.exists():
            return None
        try:
            ranker = DeepFMRanker.load(path, device=config.device)
        except ModelError as exc:  # a corrupt or outdated entry is rebuilt, not fatal
            log.warning("rebuilding %s: %s", path, exc)
            return None
        return ranker if ranker.fingerprint == fingerprint else None


class StopSignal(Protocol):
    """Asked between pieces of work whether to stop: a ``threading.Event``, or any object
    with ``is_set`` (a child process's stop file)."""

    def is_set(self) -> bool: ...


@contextmanager
def exclusive(path: Path, what: str, stop: StopSignal | None = None) -> Iterator[bool]:
    """Hold the lock beside ``path`` while writing it; another writer waits, and says so.

    Yields True once the lock is held; with ``stop``, False when ``stop`` is set while waiting
    (nothing may then be written). The lock is an OS file lock (``filelock``): it goes away
    with a process killed mid-write, so a stale lock never blocks the next run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("waiting for another process that is writing %s (%s)", what, path)
        while True:
            if stop is not None and stop.is_set():
                yield False
                return
            try:
                lock.acquire(timeout=0.25 if stop is not None else -1)
                break
            except Timeout:
                continue
    try:
        yield True
    finally:
        lock.release()


def remove_leftovers(path: Path) -> None:
    """Delete what a writer killed mid-save left beside ``path`` (call it holding the lock)."""
    for stale in path.parent.glob(f".{path.name}.*"):
        if stale.suffix in (".tmp", ".old"):
            shutil.rmtree(stale, ignore_errors=True)
