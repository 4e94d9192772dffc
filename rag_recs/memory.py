"""glibc ``malloc`` settings for two long-running shapes of work; no-ops where they do not apply.

Written by hand because no maintained library wraps ``mallopt``: it is one ``ctypes`` call.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
M_ARENA_MAX = -8


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's C library
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(param, value))


def return_large_blocks(threshold: int = 1 << 20) -> bool:
    """Blocks above ``threshold`` bytes come from ``mmap`` and go back to the system when
    freed. glibc otherwise raises its threshold after the first large free (up to 32 MiB),
    so every streamed batch's arrays land in the heap and fragment it: peak RSS of a streamed
    fit then grows with the number of batches, not with what is alive."""
    return _mallopt(M_MMAP_THRESHOLD, threshold)


def few_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` malloc arenas. A threaded server otherwise gives threads their own
    arenas (up to 8 per core), each keeping what it freed: RSS creeps up under load."""
    return _mallopt(M_ARENA_MAX, arenas)
