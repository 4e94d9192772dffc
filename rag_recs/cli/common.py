"""Options and output helpers shared by every CLI command (the CLI conventions in docs/cli.md)."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from rag_recs.data.loaders import load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.workspace import Workspace

log = logging.getLogger(__name__)

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
ItemTable = Annotated[
    Path | None,
    typer.Option(
        "--item-table",
        help="Items table (CSV or Parquet): id column as for --data (--item-col applies); "
        "title or name; free text (text, description, abstract, tags) goes into the item "
        "documents; genres, category, brand (lists or '|'-separated) become features and "
        "include/exclude tags.",
    ),
]
UserTable = Annotated[
    Path | None,
    typer.Option(
        "--user-table",
        help="Users table (CSV or Parquet): id column as for --data (--user-col applies); "
        "other columns become user features.",
    ),
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
UserRows = Annotated[
    int,
    typer.Option(
        "--user-rows",
        min=0,
        help="Most embedding rows for user ids: with more users, ids share rows by hash, so "
        "the model stops growing with the users (0: a row per user). Train, evaluate and ask "
        "with the same value.",
    ),
]
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


@dataclass(frozen=True)
class Source:
    """Where a command's data comes from and how to read it: the options every data command
    shares (``--data``, ``--format``, the column overrides, ``--label``, ``--encoding``,
    ``--sep``, ``--item-table``, ``--user-table``), declared once here and added to each
    command by :func:`with_source`."""

    data: str = "synthetic"
    format: str | None = None
    user_col: str | None = None
    item_col: str | None = None
    rating_col: str | None = None
    time_col: str | None = None
    label: str | None = None
    encoding: str | None = None
    sep: str | None = None
    item_table: Path | None = None
    user_table: Path | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~rag_recs.data.loaders.load_dataset`."""
        names = ("format", "user_col", "item_col", "rating_col", "time_col", "encoding", "sep")
        tables = {"items": self.item_table, "users": self.user_table}
        return {"label_col": self.label, **tables, **{n: getattr(self, n) for n in names}}

    def load(self) -> Dataset:
        """Load the data (a spinner on stderr; what was loaded is logged, shown with -v)."""
        with err.status(f"loading {self.data}"):
            dataset = load_dataset(self.data, **self.options)
        log.info("%r", dataset)  # stderr stays one line when a later step refuses the input
        return dataset


_SOURCE_OPTIONS: dict[str, Any] = {
    "data": Data,
    "format": Format,
    "user_col": UserCol,
    "item_col": ItemCol,
    "rating_col": RatingCol,
    "time_col": TimeCol,
    "label": Label,
    "encoding": Encoding,
    "sep": Sep,
    "item_table": ItemTable,
    "user_table": UserTable,
}


def with_source(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the shared data options; it receives them as one ``source: Source``.

    Typer builds options from a function's signature only, and has no option groups: the
    signature shown to it is the command's own with ``source`` replaced by the shared options.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "source"]
    shared = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=getattr(Source, name),
            annotation=annotation,
        )
        for name, annotation in _SOURCE_OPTIONS.items()
    ]
    positional = [p for p in own if p.default is inspect.Parameter.empty]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in positional]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        source = Source(**{name: kwargs.pop(name) for name in _SOURCE_OPTIONS if name in kwargs})
        return command(*args, source=source, **kwargs)

    run.__signature__ = signature.replace(parameters=[*positional, *shared, *keyword])  # type: ignore[attr-defined]
    return run


def row_counts(dataset: Dataset) -> dict[str, Any]:
    """``rows_read``, ``rows_used``, ``rows_dropped`` (after loading, before any split), the
    dropped rows by reason, and ``rows_items_not_in_table`` / ``rows_users_not_in_table`` when
    an items / users table was given."""
    rows = dataset.rows
    dropped = rows["dropped"]
    counts = {
        "rows_read": rows["read"],
        "rows_used": rows["used"],
        "rows_dropped": sum(dropped.values()),
        "rows_dropped_by_reason": dropped,
    }
    # with --item-table / --user-table: interactions kept whose item / user the table lacks
    for key in ("items_not_in_table", "users_not_in_table"):
        if key in rows:
            counts[f"rows_{key}"] = rows[key]
    return counts


def workspace(path: Path | None) -> Workspace:
    return Workspace(path)


def emit_json(payload: dict[str, Any]) -> None:
    """The one JSON object of a ``--json`` run."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()
