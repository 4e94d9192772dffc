"""Helpers shared by the benchmark scripts: locating MovieLens, tables, memory."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def ml100k_path() -> Path:
    """The MovieLens-100K directory named by RAG_RECS_ML100K (never bundled with the project)."""
    path = os.environ.get("RAG_RECS_ML100K")
    if not path or not Path(path).is_dir():
        sys.exit("set RAG_RECS_ML100K to a MovieLens-100K directory (see README)")
    return Path(path)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Reads VmHWM, which starts afresh in a new program (ru_maxrss carries the parent's peak
    over fork + exec); falls back to ru_maxrss where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)
