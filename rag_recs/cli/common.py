"""Options and output helpers shared by every CLI command (the CLI conventions in docs/cli.md).

Every option that more than one command takes is declared here, once: the data options as
:class:`Source` (:func:`with_source`), those that build an assistant or its parts as
:class:`AssistantOptions` (:func:`with_assistant`), and the rest as ``Annotated`` aliases. An
option whose values are a choice takes them from the config's ``Literal`` (:func:`choice`).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Console

from rag_recs.config import Device, LLMMode, RankerConfig
from rag_recs.data.loaders import load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.errors import DataError

if TYPE_CHECKING:
    from rag_recs.assistant import Assistant

log = logging.getLogger(__name__)

# stdout carries results only (a table, or one JSON object); everything else goes to stderr
out = Console()
err = Console(stderr=True)


def choice(flag: str, allowed: Any) -> Callable[[Any], Any]:
    """A typer callback for ``flag``: the value when it is one of the ``allowed`` Literal's
    values, else one clear error line (exit code 2) naming them."""
    values = get_args(allowed)

    def check(value: Any) -> Any:
        if value is not None and value not in values:
            raise DataError(f"{flag} '{value}' is not one of {', '.join(values)}")
        return value

    return check


def choices(allowed: Any) -> str:
    """The allowed values, for a help text: ``auto|cpu|cuda``."""
    return "|".join(get_args(allowed))


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
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")
]
DeviceOpt = Annotated[
    str,
    typer.Option("--device", help=f"{choices(Device)}", callback=choice("--device", Device)),
]
EmbeddingsOpt = Annotated[
    str | None,
    typer.Option(
        "--embeddings",
        help="A sentence-transformers model name or directory (default: a static model "
        "distilled from all-MiniLM-L6-v2; minilm, minilm-bf16 select MiniLM).",
    ),
]
CollectionOpt = Annotated[str, typer.Option("--collection", help="The Chroma collection's name.")]
Stream = Annotated[
    bool,
    typer.Option(
        "--stream",
        help="Read a Parquet file or directory in batches instead of loading it (data larger "
        "than memory): implicit objective, user and item ids and recent history.",
    ),
]
BatchRows = Annotated[
    int, typer.Option("--batch-rows", min=1, help="Rows per streamed batch (with --stream).")
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


def _bundled(
    name: str, cls: type, declared: dict[str, Any], fields: Sequence[str]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator giving a command the options ``fields`` of ``declared``; the command
    receives them as one ``name: cls`` (the fields it does not take keep their defaults).

    Typer builds options from a function's signature only, and has no option groups: the
    signature shown to it is the command's own with ``name`` replaced by the options.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != name]
        shared = [
            inspect.Parameter(
                field,
                inspect.Parameter.KEYWORD_ONLY,
                default=getattr(cls, field),
                annotation=declared[field],
            )
            for field in fields
        ]
        positional = [p for p in own if p.default is inspect.Parameter.empty]
        keyword = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in positional
        ]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            bundle = cls(**{field: kwargs.pop(field) for field in fields if field in kwargs})
            return command(*args, **{name: bundle}, **kwargs)

        run.__signature__ = signature.replace(parameters=[*positional, *shared, *keyword])  # type: ignore[attr-defined]
        return run

    return decorate


with_source = _bundled("source", Source, _SOURCE_OPTIONS, tuple(_SOURCE_OPTIONS))
"""Give a command the shared data options; it receives them as one ``source: Source``."""


@dataclass(frozen=True)
class AssistantOptions:
    """What builds the assistant and its parts (ranker, store, LLM): ``--llm``, ``--llm-mode``,
    ``--store``, ``--chroma-url``, ``--workspace``, ``--user-rows`` and ``--item-noun``, declared
    once here; each command takes the ones it uses through :func:`with_assistant`."""

    llm: str = "local"
    llm_mode: str = "auto"
    store: Path | None = None
    chroma_url: str | None = None
    workspace: Path | None = None
    user_rows: int = 0
    item_noun: str | None = None

    def ranker_config(self, quiet: bool, **settings: Any) -> RankerConfig:
        """The ranker's settings: ``--user-rows``, a progress bar unless ``quiet``, and
        ``settings`` (device, objective, ...)."""
        return RankerConfig(progress=not quiet, user_rows=self.user_rows, **settings)

    def build(self, source: Source, quiet: bool) -> Assistant:
        """The assistant for ``source`` (built once per data in the workspace, then reused)."""
        from rag_recs.assistant import AssistantConfig
        from rag_recs.assistant.build import build_assistant
        from rag_recs.config import Settings

        # the noun: --item-noun, else item_noun in rag-recs.toml's [assistant] table
        noun = self.item_noun or Settings().assistant.get("item_noun")
        with err.status("preparing the assistant (first use trains and indexes once)"):
            return build_assistant(
                source.data,
                llm=self.llm,
                workspace=self.workspace,
                store_dir=self.store,
                chroma_url=self.chroma_url,
                progress=not quiet,
                ranker_config=self.ranker_config(quiet),
                config=AssistantConfig(llm_mode=self.llm_mode, item_noun=noun),
                **source.options,
            )


_ASSISTANT_OPTIONS: dict[str, Any] = {
    "llm": Annotated[
        str,
        typer.Option(
            "--llm",
            help="local (SmolLM2, offline), none, llamacpp:PATH.gguf, hf-endpoint:REPO, "
            "hf-local:MODEL, ollama:MODEL, openai:MODEL[@URL]",
        ),
    ],
    "llm_mode": Annotated[
        str,
        typer.Option(
            "--llm-mode",
            help="How the LLM answers from the candidates: labels (ranks them by next-token "
            "probability, one forward pass), generate (writes its picks and reasons), or auto "
            "(labels where the model gives probabilities: local and llamacpp).",
            callback=choice("--llm-mode", LLMMode),
        ),
    ],
    "store": Annotated[
        Path | None,
        typer.Option(
            "--store", help="The store's directory (default: in the workspace, per data and model)."
        ),
    ],
    "chroma_url": Annotated[
        str | None,
        typer.Option(
            "--chroma-url",
            envvar="RAG_RECS_CHROMA_URL",
            help="Use a Chroma server (chroma run ...) instead of an embedded store.",
        ),
    ],
    "workspace": Annotated[
        Path | None,
        typer.Option("--workspace", help="Where models are cached (default: per-user cache)."),
    ],
    "user_rows": Annotated[
        int,
        typer.Option(
            "--user-rows",
            min=0,
            help="Most embedding rows for user ids: with more users, ids share rows by hash, "
            "so the model stops growing with the users (0: a row per user). Train, evaluate "
            "and ask with the same value.",
        ),
    ],
    "item_noun": Annotated[
        str | None,
        typer.Option(
            "--item-noun",
            help="The data's word for its items in answers and prompts, e.g. game or games "
            "(default: movies for MovieLens, else items; or item_noun under [assistant] in "
            "rag-recs.toml).",
        ),
    ],
}


def with_assistant(*fields: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the assistant options ``fields`` (all of them when none are named); it
    receives them as one ``options: AssistantOptions``."""
    unknown = set(fields) - set(_ASSISTANT_OPTIONS)
    if unknown:
        raise TypeError(f"no assistant options {sorted(unknown)}")
    return _bundled(
        "options", AssistantOptions, _ASSISTANT_OPTIONS, fields or tuple(_ASSISTANT_OPTIONS)
    )


def row_counts(read: Any) -> dict[str, Any]:
    """``rows_read``, ``rows_used``, ``rows_dropped`` of a dataset (after loading, before any
    split) or of a streamed scan, the dropped rows by reason, and ``rows_items_not_in_table``
    / ``rows_users_not_in_table`` when an items / users table was given."""
    rows = read.rows
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


def emit_json(payload: dict[str, Any]) -> None:
    """The one JSON object of a ``--json`` run."""
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()
