"""Options and output helpers shared by every CLI command (the CLI conventions in docs/cli.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rag_recs.data.loaders import load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.workspace import Workspace

# stdout carries results only (a table, or one JSON object); everything else goes to stderr
out = Console()
err = Console(stderr=True)

Data = Annotated[
    str,
    typer.Option(
        "--data", help="'synthetic', a CSV/Parquet file, or a MovieLens 100K/1M directory."
    ),
]
Format = Annotated[
    str | None,
    typer.Option("--format", help="Force the format: synthetic|csv|parquet|ml-100k|ml-1m."),
]
UserCol = Annotated[str | None, typer.Option("--user-col", help="User id column.")]
ItemCol = Annotated[str | None, typer.Option("--item-col", help="Item id column.")]
RatingCol = Annotated[str | None, typer.Option("--rating-col", help="Rating column.")]
TimeCol = Annotated[str | None, typer.Option("--time-col", help="Timestamp column.")]
Label = Annotated[str | None, typer.Option("--label", help="0/1 label column (generic CTR table).")]
Encoding = Annotated[
    str | None,
    typer.Option(
        "--encoding",
        help="The CSV's text encoding, e.g. latin-1 (default: UTF-8, with or without a BOM).",
    ),
]
Sep = Annotated[
    str | None,
    typer.Option("--sep", help="The CSV's separator: one character or 'tab' (default: ',')."),
]
Categorical = Annotated[
    list[str] | None,
    typer.Option("--categorical", help="Treat this column as categorical (repeatable)."),
]
Numeric = Annotated[
    list[str] | None, typer.Option("--numeric", help="Treat this column as numeric (repeatable).")
]
WorkspaceDir = Annotated[
    Path | None,
    typer.Option("--workspace", help="Where models are cached (default: per-user cache)."),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
]
Device = Annotated[str, typer.Option("--device", help="auto|cpu|cuda")]
StoreDir = Annotated[
    Path | None,
    typer.Option(
        "--store", help="The store's directory (default: in the workspace, per data and model)."
    ),
]
ChromaUrl = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        envvar="RAG_RECS_CHROMA_URL",
        help="Use a Chroma server (chroma run ...) instead of an embedded store.",
    ),
]


def load(
    data: str,
    format: str | None,
    user_col: str | None,
    item_col: str | None,
    rating_col: str | None,
    time_col: str | None,
    label: str | None,
    *,
    encoding: str | None = None,
    sep: str | None = None,
) -> Dataset:
    """Load ``--data`` with the column overrides, reporting on stderr."""
    with err.status(f"loading {data}"):
        dataset = load_dataset(
            data,
            format=format,
            user_col=user_col,
            item_col=item_col,
            rating_col=rating_col,
            time_col=time_col,
            label_col=label,
            encoding=encoding,
            sep=sep,
        )
    err.print(f"[dim]{dataset!r}[/dim]")
    return dataset


def row_counts(dataset: Dataset) -> dict[str, Any]:
    """``rows_read``, ``rows_used``, ``rows_dropped`` (after loading, before any split), and
    the dropped rows by reason."""
    rows = dataset.rows
    dropped = rows["dropped"]
    return {
        "rows_read": rows["read"],
        "rows_used": rows["used"],
        "rows_dropped": sum(dropped.values()),
        "rows_dropped_by_reason": dropped,
    }


def workspace(path: Path | None) -> Workspace:
    return Workspace(path)


def emit_json(payload: dict[str, Any]) -> None:
    """The one JSON object of a ``--json`` run."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()
