"""Syncing a vector store in the background while the ranker trains: a child process, or a
thread where the store is held open elsewhere in this process.

A child process because a thread costs the training its speed: Chroma's writes and the sync's
Python hold the GIL, and a training step is hundreds of small torch calls that need it too. On
a generated catalog of 3e5 interactions (``benchmarks/first_answer_catalog.py``'s data), a
3-epoch fit took 36.0 s alone, 54.4 s beside a sync in a thread and 34.7 s beside a sync in a
child process. The child is a fresh interpreter (``python -m rag_recs.retrieval.background
DIR``), not ``multiprocessing``: its spawn re-runs an unguarded ``__main__``, a user's script or
``python -m rag_recs`` itself.

The parent must not read the store while the child writes it: an embedded Chroma client caches
what it read. It closes its client first (:meth:`HistoryStore.close`) and opens the store
again once the child is done; if another client in the process still holds the store, the sync
runs in a thread instead, which every client of the process sees.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import rag_recs
from rag_recs.data.schema import Dataset
from rag_recs.errors import RagRecsError
from rag_recs.retrieval.store import HistoryStore, open_store
from rag_recs.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreAddress:
    """Where a store lives, as :func:`open_store` takes it: what a fresh process opens it by."""

    workspace: Path
    store_dir: str | Path | None = None
    chroma_url: str | None = None
    embeddings: str | None = None

    def open(self, dataset: Dataset) -> HistoryStore:
        return open_store(
            Workspace(self.workspace),
            dataset,
            store_dir=self.store_dir,
            chroma_url=self.chroma_url,
            embeddings=self.embeddings,
            create=True,
        )


def sync_in_background(
    store: HistoryStore, address: StoreAddress, dataset: Dataset, progress: bool
) -> SyncThread | SyncProcess:
    """Start syncing ``store`` (at ``address``) with ``dataset``; ``store`` is not used after."""
    if store.close():
        try:
            return SyncProcess(address, dataset, progress)
        except OSError as exc:  # no interpreter to start (an embedded Python): a thread then
            log.warning("the vector store syncs in a thread: %s", exc)
    return SyncThread(address.open(dataset), dataset, progress)


class SyncThread:
    """``store.sync`` in a thread of this process; :meth:`finish` waits, then stops it."""

    def __init__(self, store: HistoryStore, dataset: Dataset, progress: bool) -> None:
        self.store, self.dataset = store, dataset
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.complete = False
        self.thread = threading.Thread(target=self._run, args=(progress,), name="store-sync")
        self.thread.start()

    def _run(self, progress: bool) -> None:
        try:
            summary = self.store.sync(self.dataset, progress=progress, stop=self.stop)
            self.complete = summary.complete
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self.error = exc

    def finish(self, wait_s: float) -> HistoryStore | None:
        """Wait up to ``wait_s``, then stop the sync (what it wrote is kept for the next one);
        the store when it is complete, else None."""
        self.thread.join(max(0.0, wait_s))
        if self.thread.is_alive():
            self.stop.set()
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.store if self.complete else None


class SyncProcess:
    """``store.sync`` in a child process; :meth:`finish` waits, then stops it.

    The request (address, data, progress) goes to the child as a pickle in a private directory;
    the child answers with another (the sync's summary, or the error it met). A stop is a file
    the sync looks for between pieces. The directory goes with :meth:`finish`.
    """

    def __init__(self, address: StoreAddress, dataset: Dataset, progress: bool) -> None:
        self.address, self.dataset = address, dataset
        self.dir = Path(tempfile.mkdtemp(prefix="rag-recs-sync-"))
        with (self.dir / REQUEST).open("wb") as out:
            pickle.dump((address, dataset, progress), out, protocol=pickle.HIGHEST_PROTOCOL)
        # the child imports this very package, wherever it was imported from
        package_root = str(Path(rag_recs.__file__).resolve().parent.parent)
        paths = [package_root, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        command = [sys.executable, "-m", __name__, str(self.dir)]
        try:
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        except OSError:  # not started: nothing will read or remove the request
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def finish(self, wait_s: float) -> HistoryStore | None:
        """Wait up to ``wait_s``, then stop the sync (what it wrote is kept for the next one);
        the store, opened afresh, when it is complete, else None."""
        try:
            try:
                self.process.wait(timeout=max(0.0, wait_s))
            except subprocess.TimeoutExpired:
                (self.dir / STOP).touch()
                self.process.wait()
            answer = self.dir / ANSWER
            if not answer.exists():  # killed, or crashed past every handler
                code = self.process.returncode
                log.warning("the vector store sync ended with exit code %s", code)
                return None
            with answer.open("rb") as got:
                result = pickle.load(got)
        finally:
            if self.process.poll() is None:  # interrupted while waiting
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
        if isinstance(result, BaseException):
            raise result
        log.info("vector store synced beside the training: %s in %.1f s", result, result.seconds)
        return self.address.open(self.dataset) if result.complete else None


REQUEST, ANSWER, STOP = "request.pkl", "answer.pkl", "stop"


class _StopFile:
    """The child's stop signal: set once the parent has written the file, or has gone (killed:
    nothing outlives the command)."""

    def __init__(self, path: Path) -> None:
        self.path, self.parent = path, os.getppid()

    def is_set(self) -> bool:
        return self.path.exists() or os.getppid() != self.parent


def _child(directory: Path) -> None:
    """The child's whole work: sync as asked, answer with the summary or the error."""
    with (directory / REQUEST).open("rb") as got:
        address, dataset, progress = pickle.load(got)
    result: object
    stop = _StopFile(directory / STOP)
    try:
        store = address.open(dataset)
        result = store.sync(dataset, progress=progress, stop=stop)
        store.close()
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
        result = exc
    if os.getppid() != stop.parent:  # the parent is gone: nobody will read the answer
        shutil.rmtree(directory, ignore_errors=True)
        return
    try:
        payload = pickle.dumps(result)
    except Exception:  # noqa: BLE001 - an error that does not pickle goes as its text
        payload = pickle.dumps(RagRecsError(f"vector store sync: {result}"))
    partial = directory / f".{ANSWER}.tmp"
    partial.write_bytes(payload)
    partial.replace(directory / ANSWER)  # the parent never reads half an answer


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the parent answers it by stopping the sync
    # (what is written is kept), so the child does not die mid-write with a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _child(Path(sys.argv[1]))
