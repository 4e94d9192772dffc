"""Shares of a store's documents, so that several processes can index into one Chroma server.

A document belongs to share ``crc32(owner) % n``, where the owner is ``user:<id>`` for every
chunk of a user's history and the document id itself for an item. Chunks of one user stay
together, so the process that owns a user also deletes the chunks a shorter history no longer
has; CRC-32 is the same in every process and on every machine (Python's ``hash`` is not).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from rag_recs.errors import DataError

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Share ``index`` (0-based) of ``count`` equal-sized shares of the documents."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise DataError(
                f"invalid shard {self.index}/{self.count}",
                hint="give I/N with 0 <= I < N, e.g. 0/2 and 1/2",
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"1/4"`` -> share 1 of 4 (0-based: the shares of 4 are 0/4 to 3/4)."""
        match = _SPEC.fullmatch(text)
        if match is None:
            raise DataError(
                f"invalid shard {text!r}", hint="give I/N with 0 <= I < N, e.g. 0/2 and 1/2"
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Shard | None:
        """The share of a torchrun worker (``RANK`` of ``WORLD_SIZE``); None outside torchrun
        or with a single process."""
        env = os.environ if environ is None else environ
        if "RANK" not in env or "WORLD_SIZE" not in env:
            return None
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        except ValueError:
            raise DataError(
                f"RANK={env['RANK']!r} and WORLD_SIZE={env['WORLD_SIZE']!r} are not integers"
            ) from None
        return cls(rank, world) if world > 1 else None

    def owns(self, doc_id: str) -> bool:
        """Whether the document with this id belongs to this share."""
        return zlib.crc32(_owner(doc_id).encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _owner(doc_id: str) -> str:
    """``user:<id>:<chunk>`` -> ``user:<id>``; any other id is its own owner."""
    if doc_id.startswith("user:"):
        return doc_id.rsplit(":", 1)[0]
    return doc_id
