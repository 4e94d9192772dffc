"""Load interactions from CSV, Parquet, a DataFrame, MovieLens directories or the generator.

Every loader returns a :class:`Dataset` with canonical column names and validated values, or
raises :class:`DataError` naming the file, the column and the first bad row.
"""

from __future__ import annotations

import ast
import json
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rag_recs.data.schema import GENRES, ITEM, LABEL, RATING, TIME, TITLE, USER, Dataset
from rag_recs.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_COLUMNS = {
    USER: ("user_id", "user", "userId", "uid"),
    ITEM: ("item_id", "item", "itemId", "movie_id", "iid"),
    RATING: ("rating", "score"),
    TIME: ("timestamp", "time", "ts"),
}
FORMATS = ("synthetic", "csv", "parquet", "ml-100k", "ml-1m")


def load_dataset(
    source: str | Path | pd.DataFrame = "synthetic",
    *,
    format: str | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    time_col: str | None = None,
    label_col: str | None = None,
    items: str | Path | pd.DataFrame | None = None,
    users: str | Path | pd.DataFrame | None = None,
) -> Dataset:
    """Load any supported source: ``synthetic``, a CSV/Parquet file, a MovieLens dir or a frame.

    ``format`` forces one of ``FORMATS``; otherwise it is detected from the path. The notebook's
    one-hot-list CSV (``item_id`` holding ``[0, 2, 0, 4]``) is detected and expanded. With
    ``label_col`` (or a ``label`` column and no user/item columns) the table is a generic CTR
    table of events: every row kept, every column a feature, whatever the columns are called.
    """
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format '{format}'", hint=f"use one of {', '.join(FORMATS)}")
    if isinstance(source, pd.DataFrame):
        frame, name = source.copy(), "DataFrame"
    else:
        text = str(source)
        if format == "synthetic" or (format is None and text == "synthetic"):
            from rag_recs.data.synthetic import generate

            return generate()
        path = Path(text).expanduser()
        if not path.exists():
            raise DataError(
                "no such file or directory",
                source=text,
                hint="give a CSV/Parquet file, a MovieLens directory or 'synthetic'",
            )
        kind = format or _detect(path)
        if kind in ("ml-100k", "ml-1m"):
            return load_movielens(path, kind)
        frame, name = _read_table(path, kind), text
    dataset = from_frame(
        frame,
        name=name,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        time_col=time_col,
        label_col=label_col,
    )
    if items is not None:
        dataset.items = _side_table(items, ITEM, item_col, "items")
    if users is not None:
        dataset.users = _side_table(users, USER, user_col, "users")
    return dataset


def _detect(path: Path) -> str:
    if path.is_dir():
        if (path / "u.data").exists():
            return "ml-100k"
        if (path / "ratings.dat").exists():
            return "ml-1m"
        raise DataError(
            "directory is not a MovieLens 100K (u.data) or 1M (ratings.dat) layout",
            source=str(path),
            hint="point --data at a file, or at a MovieLens directory",
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt", ".gz"):
        return "csv"
    raise DataError(
        f"cannot tell the format from the extension '{suffix}'",
        source=str(path),
        hint="use --format csv|parquet",
    )


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", source=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read it as {kind}: {first}", source=str(path)) from None
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed: ")])


def _pick(frame: pd.DataFrame, role: str, given: str | None, source: str) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise DataError(
                f"column '{given}' not found",
                source=source,
                hint=f"columns are: {', '.join(map(str, frame.columns))}",
            )
        return given
    return next((c for c in DEFAULT_COLUMNS.get(role, ()) if c in frame.columns), None)


def from_frame(
    frame: pd.DataFrame,
    *,
    name: str = "DataFrame",
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    time_col: str | None = None,
    label_col: str | None = None,
) -> Dataset:
    """Validate a raw interactions frame and rename its columns to the canonical ones."""
    if frame.empty:
        raise DataError("the table has no rows", source=name)
    cols = {
        USER: _pick(frame, USER, user_col, name),
        ITEM: _pick(frame, ITEM, item_col, name),
        RATING: _pick(frame, RATING, rating_col, name),
        TIME: _pick(frame, TIME, time_col, name),
        LABEL: _pick(frame, LABEL, label_col, name),
    }
    if label_col is not None or cols[USER] is None or cols[ITEM] is None:
        if cols[LABEL] is not None:
            return _events(frame, name, cols[LABEL])
        missing = "user" if cols[USER] is None else "item"
        raise DataError(
            f"no {missing} id column",
            source=name,
            hint=f"columns are: {', '.join(map(str, frame.columns))}; pass --{missing}-col NAME, "
            "or --label COLUMN for a generic CTR table",
        )
    chosen = {v: k for k, v in cols.items() if v is not None}
    # a column already named like a role it was not chosen for keeps its data under another name
    clashes = {
        k: f"{k}_original" for k in chosen.values() if k in frame.columns and k not in chosen
    }
    frame = frame.rename(columns=clashes).rename(columns=chosen)
    _check_ids(frame, USER, name, cols[USER])
    if _is_list_column(frame[ITEM]):
        frame = _expand_one_hot_lists(frame, name, cols[ITEM])
        items = pd.DataFrame({ITEM: frame.attrs.pop("catalog")})
    else:
        _check_ids(frame, ITEM, name, cols[ITEM])
        items = None
    if RATING in frame:
        frame[RATING] = _numbers(frame[RATING], name, cols[RATING])
    if TIME in frame:
        frame[TIME] = _timestamps(frame[TIME], name, cols[TIME])
    if LABEL in frame:
        frame[LABEL] = _labels(frame[LABEL], name, cols[LABEL] or LABEL)
    read = len(frame) if items is None else frame.attrs.get("rows_read", len(frame))
    frame, dropped = _drop_duplicates(frame, name)
    rows = {"read": read, "used": len(frame), "dropped": dropped}
    return Dataset(frame.reset_index(drop=True), items=items, name=name, meta={"rows": rows})


def _events(frame: pd.DataFrame, source: str, label: str) -> Dataset:
    """A CTR table read with a label: a table of events, whatever its columns are called.

    Every row is kept (the same user and item in another context is another event) and every
    other column is a feature; nothing is renamed but the label.
    """
    frame = frame.rename(columns={label: LABEL})
    frame[LABEL] = _labels(frame[LABEL], source, label)
    rows = {"read": len(frame), "used": len(frame), "dropped": {}}
    return Dataset(frame.reset_index(drop=True), name=source, meta={"generic": True, "rows": rows})


def _row(mask: pd.Series) -> int:
    """1-based data row of the first True (the header line is not counted)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def _check_ids(frame: pd.DataFrame, col: str, source: str, original: str | None) -> None:
    bad = frame[col].isna()
    if bad.any():
        raise DataError("missing id", source=source, column=original, row=_row(bad))
    if frame[col].dtype == float:  # ints with NaN became floats earlier; whole floats -> ints
        values = frame[col]
        if (values != values.round()).any():
            row = _row(values != values.round())
            raise DataError(
                "ids must be integers or strings", source=source, column=original, row=row
            )
        frame[col] = values.astype(np.int64)


def _numbers(values: pd.Series, source: str, column: str | None) -> pd.Series:
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna() & values.notna()
    if bad.any():
        first = values[bad].iloc[0]
        raise DataError(f"not a number: {first!r}", source=source, column=column, row=_row(bad))
    if out.isna().any():
        raise DataError("missing value", source=source, column=column, row=_row(out.isna()))
    return out.astype(np.float32)


def _labels(values: pd.Series, source: str, column: str | None) -> pd.Series:
    out = _numbers(values.astype(float) if values.dtype == bool else values, source, column)
    bad = ~out.isin([0, 1])
    if bad.any():
        raise DataError(
            f"labels must be 0 or 1, got {values[bad].iloc[0]!r}",
            source=source,
            column=column,
            row=_row(bad),
        )
    return out


def _timestamps(values: pd.Series, source: str, column: str | None) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        _numbers(values, source, column)  # validate only: float32 would round the seconds
        return values.astype(np.int64)
    parsed = pd.to_datetime(values, errors="coerce", utc=True)
    bad = parsed.isna()
    if bad.any():
        first = values[bad].iloc[0]
        raise DataError(f"not a time: {first!r}", source=source, column=column, row=_row(bad))
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s")).astype(np.int64)


REPEATED = "repeated (user, item): the latest row is kept"


def _drop_duplicates(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Repeated (user, item) pairs collapse to their latest row (by timestamp, else file order).

    Returns the kept rows and the dropped count by reason.
    """
    order = frame.sort_values(TIME, kind="stable") if TIME in frame else frame
    dup = order.duplicated([USER, ITEM], keep="last")
    if not dup.any():
        return frame, {}
    message = f"{source}: {int(dup.sum())} repeated (user, item) rows; keeping the latest of each"
    warnings.warn(message, UserWarning, stacklevel=3)
    log.warning(message)
    return frame.loc[order.index[~dup.to_numpy()]].sort_index(), {REPEATED: int(dup.sum())}


def _is_list_column(values: pd.Series) -> bool:
    first = values.dropna()
    if first.empty:
        return False
    head = first.iloc[0]
    return isinstance(head, list | np.ndarray) or (
        isinstance(head, str) and head.lstrip()[:1] == "["
    )


def _parse_list(text: Any) -> list:
    if isinstance(text, list | np.ndarray):
        return list(text)
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return ast.literal_eval(text)  # tolerate Python reprs such as "[0, 2, 0]"


def _expand_one_hot_lists(frame: pd.DataFrame, source: str, column: str | None) -> pd.DataFrame:
    """The notebook's format: position j holds j+1 if the user interacted with item j+1, else 0."""
    rows, width = [], 0
    for pos, (user, text) in enumerate(zip(frame[USER], frame[ITEM], strict=True)):
        try:
            flags = _parse_list(text)
            if not isinstance(flags, list) or not all(isinstance(v, int | float) for v in flags):
                raise ValueError
        except (ValueError, SyntaxError, TypeError):
            raise DataError(
                f"cannot parse the item list {str(text)[:40]!r}",
                source=source,
                column=column,
                row=pos + 1,
                hint="expected a list of numbers such as [0, 2, 0, 4]",
            ) from None
        width = max(width, len(flags))
        rows.extend((user, j + 1) for j, v in enumerate(flags) if v)
    out = pd.DataFrame(rows, columns=[USER, ITEM])
    if out.empty:
        raise DataError(
            "no interactions: every item list is all zeros", source=source, column=column
        )
    out.attrs["catalog"] = np.arange(1, width + 1)
    out.attrs["rows_read"] = len(frame)
    return out


def _side_table(
    table: str | Path | pd.DataFrame, key: str, key_col: str | None, what: str
) -> pd.DataFrame:
    frame = (
        table.copy()
        if isinstance(table, pd.DataFrame)
        else _read_table(Path(table), _detect(Path(table)))
    )
    source = what if isinstance(table, pd.DataFrame) else str(table)
    col = _pick(frame, key, key_col if key_col in frame.columns else None, source)
    if col is None:
        raise DataError(f"the {what} table has no {key} column", source=source)
    frame = frame.rename(columns={col: key})
    _check_ids(frame, key, source, col)
    if GENRES in frame:
        frame[GENRES] = frame[GENRES].map(_split_tags)
    return frame.drop_duplicates(key, keep="last").reset_index(drop=True)


def _split_tags(value: Any) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [t.strip() for t in str(value).replace(",", "|").split("|") if t.strip()]


ML100K_GENRES: Sequence[str] = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def load_movielens(path: str | Path, kind: str | None = None) -> Dataset:
    """MovieLens 100K (``u.data``/``u.item``/``u.user``) or 1M (``*.dat``) from a directory."""
    path = Path(path)
    kind = kind or _detect(path)
    try:
        if kind == "ml-100k":
            ratings = pd.read_csv(path / "u.data", sep="\t", names=[USER, ITEM, RATING, TIME])
            raw = pd.read_csv(path / "u.item", sep="|", header=None, encoding="latin-1")
            flags = raw.iloc[:, 5:24].to_numpy(bool)
            items = pd.DataFrame({ITEM: raw[0], TITLE: raw[1]})
            items[GENRES] = [
                [g for g, f in zip(ML100K_GENRES, row, strict=True) if f] for row in flags
            ]
            users = pd.read_csv(
                path / "u.user", sep="|", names=[USER, "age", "gender", "occupation", "zip"]
            )
        elif kind == "ml-1m":
            opts: dict[str, Any] = {"sep": "::", "engine": "python", "encoding": "latin-1"}
            ratings = pd.read_csv(path / "ratings.dat", names=[USER, ITEM, RATING, TIME], **opts)
            items = pd.read_csv(path / "movies.dat", names=[ITEM, TITLE, GENRES], **opts)
            items[GENRES] = items[GENRES].map(_split_tags)
            users = pd.read_csv(
                path / "users.dat", names=[USER, "gender", "age", "occupation", "zip"], **opts
            )
        else:
            raise DataError(f"not a MovieLens layout: {kind}", source=str(path))
    except FileNotFoundError as exc:
        raise DataError(f"missing file {Path(exc.filename).name}", source=str(path)) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"cannot read the {kind} files: {exc}", source=str(path)) from None
    users = users.drop(columns=["zip"])
    users["occupation"] = users["occupation"].astype(str)
    dataset = from_frame(ratings, name=f"{kind}:{path}")
    dataset.items, dataset.users = items, users
    return dataset
