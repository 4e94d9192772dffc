"""Load interactions from CSV, Parquet, a DataFrame, MovieLens directories or the generator.

Every loader returns a :class:`Dataset` with canonical column names and validated values, or
raises :class:`DataError` naming the file, the column and the first bad row.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import csv
import gzip
import io
import json
import logging
import re
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rag_recs.data.schema import GENRES, ITEM, LABEL, RATING, TEXT, TIME, TITLE, USER, Dataset
from rag_recs.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_COLUMNS = {
    USER: ("user_id", "user", "userId", "uid"),
    ITEM: ("item_id", "item", "itemId", "movie_id", "iid"),
    RATING: ("rating", "score"),
    TIME: ("timestamp", "time", "ts"),
}
FORMATS = ("synthetic", "csv", "parquet", "ml-100k", "ml-1m")
# names a separator may be given by (--sep tab); anything else must be one character
SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
SEPARATOR_NAMES = {"\t": "tab", " ": "space"}
_HEAD_BYTES = 1 << 16  # read to sniff the encoding and the header
_EXACT = 2**53  # float64 holds every integer below this exactly
_INT64 = 2**63


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
    encoding: str | None = None,
    sep: str | None = None,
) -> Dataset:
    """Load any supported source: ``synthetic``, a CSV/Parquet file, a MovieLens dir or a frame.

    ``format`` forces one of ``FORMATS``; otherwise it is detected from the path. The notebook's
    one-hot-list CSV (``item_id`` holding ``[0, 2, 0, 4]``) is detected and expanded. With
    ``label_col`` (or a ``label`` column and no user/item columns) the table is a generic CTR
    table of events: every row kept, every column a feature, whatever the columns are called.

    CSV files (the interactions and any ``items``/``users`` tables) are read with ``encoding``
    (default: UTF-8, with or without a byte-order mark; UTF-16 with one) and ``sep`` (one
    character or ``tab``; default ``,``, or a tab for ``.tsv``).
    """
    if format is not None and format not in FORMATS:
        raise DataError(f"unknown format '{format}'", hint=f"use one of {', '.join(FORMATS)}")
    text_options = {"encoding": encoding, "sep": sep}
    columns = {"user_col": user_col, "item_col": item_col, "rating_col": rating_col,
               "time_col": time_col, "label_col": label_col}  # fmt: skip
    if isinstance(source, pd.DataFrame):
        dataset = from_frame(source.copy(), name="DataFrame", **columns)
    else:
        text = str(source)
        if format == "synthetic" or (format is None and text == "synthetic"):
            from rag_recs.data.synthetic import generate

            dataset = generate()
        else:
            path = Path(text).expanduser()
            if not path.exists():
                raise DataError(
                    "no such file or directory",
                    source=text,
                    hint="give a CSV/Parquet file, a MovieLens directory or 'synthetic'",
                )
            kind = format or _detect(path)
            if kind in ("ml-100k", "ml-1m"):
                dataset = load_movielens(path, kind)
            else:
                frame = _read_table(path, kind, **text_options)
                dataset = from_frame(frame, name=text, **columns)
    if items is not None:
        dataset.items = _side_table(items, ITEM, item_col, "items", **text_options)
    if users is not None:
        dataset.users = _side_table(users, USER, user_col, "users", **text_options)
    if items is not None or users is not None:
        _not_in_tables(
            dataset,
            None if items is None else _name(items, "items"),
            None if users is None else _name(users, "users"),
        )
    return dataset


def _name(table: str | Path | pd.DataFrame, what: str) -> str:
    return what if isinstance(table, pd.DataFrame) else str(table)


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


def _read_table(
    path: Path, kind: str, *, encoding: str | None = None, sep: str | None = None
) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a DataError saying what is wrong and where."""
    source = str(path)
    if kind == "parquet":
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError, TypeError, LookupError, NotImplementedError) as exc:
            raise DataError(
                f"cannot read it as parquet: {_first_line(exc)}", source=source
            ) from None
        return drop_unnamed(frame)
    delimiter = _separator(sep, path)
    head = _head(path)
    encoding = _encoding(encoding, head, source)
    header = _header(head, encoding, delimiter)
    try:
        with warnings.catch_warnings():
            # rows longer than the header: pandas would otherwise drop (or index by) the extra
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # types are checked below
            frame = pd.read_csv(path, sep=delimiter, encoding=encoding, index_col=False)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", source=source) from None
    except UnicodeDecodeError:
        raise _decode_error(path, encoding, delimiter, header) from None
    except pd.errors.ParserWarning:
        raise DataError(
            "data rows have more fields than the header"
            + (f"'s {len(header)} column{'s' * (len(header) != 1)}" if header else ""),
            source=source,
            hint=_separator_hint(header, delimiter)
            or f"quote values that contain '{_shown_sep(delimiter)}', or fix the header",
        ) from None
    except pd.errors.ParserError as exc:
        raise _parse_error(exc, source, header, delimiter) from None
    except (OSError, ValueError, EOFError, zlib.error, MemoryError) as exc:
        raise DataError(f"cannot read it as {kind}: {_first_line(exc)}", source=source) from None
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise DataError(f"column '{name}' appears twice in the header", source=source)
        seen.add(name)
    if frame.shape[1] == 1 and (other := _other_separator(str(frame.columns[0]), delimiter)):
        raise DataError(
            f"the header is a single column '{frame.columns[0]}': looks "
            f"{_shown_sep(other)}-separated",
            source=source,
            hint=f"pass --sep {_sep_option(other)}",
        )
    return drop_unnamed(frame)


def drop_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the "Unnamed: N" index columns pandas writes into CSV files."""
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed: ")])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _separator(sep: str | None, path: Path) -> str:
    if sep is None:
        return "\t" if path.suffix.lower() == ".tsv" else ","
    sep = SEPARATORS.get(sep.lower(), sep)
    if len(sep) != 1 or sep in '"\r\n':
        raise DataError(
            f"cannot use {sep!r} as the separator", hint="give one character, e.g. ';' or tab"
        )
    return sep


def _shown_sep(sep: str) -> str:
    return SEPARATOR_NAMES.get(sep, sep)


def _sep_option(sep: str) -> str:
    return SEPARATOR_NAMES.get(sep) or f"'{sep}'"


def _other_separator(line: str, delimiter: str) -> str | None:
    """The separator a header line seems to use, when it is not ``delimiter``."""
    counts = {c: line.count(c) for c in ";\t|," if c != delimiter}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] and line.count(delimiter) == 0 else None


def _separator_hint(header: list[str], delimiter: str) -> str | None:
    if len(header) == 1 and (other := _other_separator(header[0], delimiter)):
        return f"the header looks {_shown_sep(other)}-separated: pass --sep {_sep_option(other)}"
    return None


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _head(path: Path) -> bytes:
    try:
        with _open_bytes(path) as fh:
            return fh.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return b""  # pandas says what is wrong with the file


def _encoding(given: str | None, head: bytes, source: str) -> str:
    """``given`` (checked), else UTF-8 (``utf-8-sig`` after a BOM) or UTF-16 after its BOM."""
    if given is not None:
        try:
            codecs.lookup(given)
        except LookupError:
            raise DataError(
                f"unknown encoding '{given}'", hint="e.g. --encoding utf-8, latin-1, cp1252"
            ) from None
        return given
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise DataError(
            "the file holds NUL bytes: not UTF-8 text, but UTF-16 without a byte-order mark "
            "or not text at all",
            source=source,
            hint="pass --encoding utf-16-le if it is UTF-16",
        )
    return "utf-8"


def _header(head: bytes, encoding: str, delimiter: str) -> list[str]:
    """The header's column names, as far as the first bytes of the file show them."""
    try:
        text = codecs.decode(head, encoding, errors="replace")
    except (LookupError, ValueError):
        return []
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    except csv.Error:
        return []
    return header[:-1] if len(head) >= _HEAD_BYTES else header


def _parse_error(exc: Exception, source: str, header: list[str], delimiter: str) -> DataError:
    text = _first_line(exc)
    shown = _shown_sep(delimiter)
    if m := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text):
        expected, line, saw = m.groups()
        return DataError(
            f"line {line} has {saw} fields where the header has {expected}",
            source=source,
            hint=_separator_hint(header, delimiter)
            or f"quote values that contain '{shown}', or fix that line",
        )
    if m := re.search(r"EOF inside string starting at row (\d+)", text):
        return DataError(
            "a quote is never closed",
            source=source,
            row=int(m.group(1)),
            hint='a value starts with " but no " ends it: double the quotes inside values',
        )
    return DataError(f"cannot read it as csv: {text}", source=source)


def _decode_error(path: Path, encoding: str, delimiter: str, header: list[str]) -> DataError:
    """Where the first byte that ``encoding`` cannot decode is: line, column, the byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line, byte, prefix = 1, None, b""
    try:
        with _open_bytes(path) as fh:
            while byte is None:
                chunk = fh.read(1 << 20)
                pending = decoder.getstate()[0]
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    data = pending + chunk
                    byte, before = data[exc.start], data[: exc.start]
                    line += before.count(b"\n")
                    prefix = before[before.rfind(b"\n") + 1 :]
                    break
                line += chunk.count(b"\n")
                if not chunk:
                    break
    except (OSError, EOFError, zlib.error):
        pass
    name = "UTF-8" if codecs.lookup(encoding).name.startswith("utf-8") else encoding
    where = f" (byte 0x{byte:02x} at line {line})" if byte is not None else ""
    column = None
    if byte is not None and line > 1 and header:  # the field the byte is in, by its position
        text = prefix.decode(encoding, errors="replace")
        with contextlib.suppress(csv.Error):
            fields = next(csv.reader([text], delimiter=delimiter), [])
            if 0 < len(fields) <= len(header):
                column = header[len(fields) - 1]
    hint = (
        "pass --encoding latin-1, or the file's encoding such as cp1252"
        if name == "UTF-8"
        else "pass the file's encoding with --encoding: utf-8, latin-1, cp1252 ..."
    )
    return DataError(f"not valid {name} text{where}", source=str(path), column=column, hint=hint)


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
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise DataError(f"column '{twice[0]}' appears more than once", source=name)
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


def _show(value: Any, width: int = 40) -> str:
    """A value for an error message: its repr, shortened (numpy scalars as plain Python)."""
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_ids(frame: pd.DataFrame, col: str, source: str, original: str | None) -> None:
    """Ids present and usable: whole numbers as int64 (exactly), anything else as strings."""
    values = frame[col]
    bad = values.isna()
    if bad.any():
        raise DataError("missing id", source=source, column=original, row=_row(bad))
    if pd.api.types.is_float_dtype(values):  # ints with decimals or NaN became floats
        numbers = values.to_numpy(float)
        checks = (
            (~np.isfinite(numbers), "ids must be finite", None),
            (numbers != np.round(numbers), "ids must be integers or strings", None),
            (
                np.abs(numbers) >= _EXACT,
                "id too large to read exactly in a column of decimal numbers:",
                "write the ids as whole numbers without '.0', or as text",
            ),
        )
        found = [
            (_row(pd.Series(mask)), message, hint) for mask, message, hint in checks if mask.any()
        ]
        if found:  # the first bad row, whatever is wrong with it
            row, message, hint = min(found, key=lambda f: f[0])
            got = "" if message.endswith(":") else f", got {_show(values.iloc[row - 1])}"
            raise DataError(
                message.rstrip(":") + got, source=source, column=original, row=row, hint=hint
            )
        frame[col] = values.astype(np.int64)
    elif pd.api.types.is_unsigned_integer_dtype(values):  # above int64: kept exactly, as text
        fits = (values < _INT64).all()
        frame[col] = values.astype(np.int64) if fits else values.astype(str)
    elif values.dtype == object:  # ints beyond 64 bits, or mixed types (frames, Parquet)
        kinds = {type(v) for v in values}
        bad = values.map(lambda v: isinstance(v, list | tuple | dict | set | np.ndarray))
        if bad.any():
            raise DataError(
                f"ids must be integers or strings, got {_show(values[bad].iloc[0])}",
                source=source,
                column=original,
                row=_row(bad),
            )
        whole = all(issubclass(k, int | np.integer) and not issubclass(k, bool) for k in kinds)
        if whole and all(-_INT64 <= int(v) < _INT64 for v in values):
            frame[col] = values.astype(np.int64)
        elif kinds != {str}:
            frame[col] = values.map(str)


def _numbers(
    values: pd.Series, source: str, column: str | None, limit: float | None = None
) -> pd.Series:
    """Numbers, finite and (with ``limit``) within +-limit; float32 unless ``limit`` is None.

    A DataError names the first bad row, whatever is wrong with it."""
    out = pd.to_numeric(values, errors="coerce")
    numbers = out.to_numpy(float)
    with np.errstate(invalid="ignore"):
        huge = np.abs(numbers) >= (np.finfo(np.float32).max if limit is None else limit)
    checks = (
        (out.isna() & values.notna(), "not a number"),
        (values.isna(), "missing value"),
        (np.isinf(numbers), "not a finite number"),
        (huge & np.isfinite(numbers), "number out of range"),
    )
    found = [
        (_row(pd.Series(np.asarray(mask))), message)
        for mask, message in checks
        if np.asarray(mask).any()
    ]
    if not found:
        return out.astype(np.float32) if limit is None else out
    row, message = min(found, key=lambda f: f[0])
    if message == "missing value":
        raise DataError(message, source=source, column=column, row=row)
    first = values.iloc[row - 1]
    comma = isinstance(first, str) and re.fullmatch(r"\s*[-+]?\d*,\d+\s*", first)
    raise DataError(
        f"{message}: {_show(first)}",
        source=source,
        column=column,
        row=row,
        hint="write decimals with a point" if comma and message == "not a number" else None,
    )


def _labels(values: pd.Series, source: str, column: str | None) -> pd.Series:
    out = _numbers(values.astype(float) if values.dtype == bool else values, source, column)
    bad = ~out.isin([0, 1])
    if bad.any():
        raise DataError(
            f"labels must be 0 or 1, got {_show(values[bad].iloc[0])}",
            source=source,
            column=column,
            row=_row(bad),
        )
    return out


def _timestamps(values: pd.Series, source: str, column: str | None) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        # validate only (float32 would round the seconds): finite, and whole seconds fit int64
        _numbers(values, source, column, limit=float(_INT64))
        return values.astype(np.int64)
    with warnings.catch_warnings():  # "could not infer format": bad values are reported below
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
    bad = parsed.isna()
    if bad.any():
        first = _show(values[bad].iloc[0])
        raise DataError(f"not a time: {first}", source=source, column=column, row=_row(bad))
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
            if not isinstance(flags, list) or not all(
                isinstance(v, int | float) and np.isfinite(v) for v in flags
            ):
                raise ValueError
        except (ValueError, SyntaxError, TypeError, OverflowError, RecursionError, MemoryError):
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


# columns of an items table, by what they become (the first names are the canonical ones)
TITLE_COLUMNS = (TITLE, "name")
TEXT_COLUMNS = (TEXT, "description", "abstract", "tags")  # joined into the item documents
TAG_COLUMNS = (GENRES, "category", "categories", "brand")  # tags: features and constraints


def _side_table(
    table: str | Path | pd.DataFrame,
    key: str,
    key_col: str | None,
    what: str,
    *,
    encoding: str | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    """An items or users table: its id column found like the interactions' own (``key_col``
    when the table has it), every id once; an items table's title, text and tag columns in the
    canonical ``title``, ``text`` and ``genres`` (see :func:`_item_columns`)."""
    if isinstance(table, pd.DataFrame):
        frame, source = table.copy(), what
    else:
        path = Path(table).expanduser()
        if not path.is_file():
            raise DataError(
                f"no such {what} table", source=str(table), hint="give a CSV or Parquet file"
            )
        frame, source = _read_table(path, _detect(path), encoding=encoding, sep=sep), str(table)
    col = _pick(frame, key, key_col if key_col in frame.columns else None, source)
    if col is None:
        flag = "--item-col" if key == ITEM else "--user-col"
        raise DataError(
            f"no {key} column in the {what} table",
            source=source,
            hint=f"columns are: {', '.join(map(str, frame.columns))}; name it with {flag}",
        )
    frame = frame.rename(columns={col: key})
    _check_ids(frame, key, source, col)
    twice = frame[key].duplicated()
    if twice.any():
        row = _row(twice)
        raise DataError(
            f"id {_show(frame[key].iloc[row - 1])} appears twice",
            source=source,
            column=col,
            row=row,
            hint="give each id one row",
        )
    if key == ITEM:
        frame = _item_columns(frame)
    return frame.reset_index(drop=True)


def _item_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``title`` from title or name; ``text`` joins the free-text columns (what the item
    documents hold, so search finds them); ``genres`` joins the tag columns, each a list or
    ``|``-separated (the ranker's tag feature and what include / exclude match)."""
    lower = {str(c).lower(): c for c in frame.columns}
    renames, drop = {}, []
    title = next((lower[n] for n in TITLE_COLUMNS if n in lower), None)
    if title is not None and title != TITLE:
        renames[title] = TITLE
    texts = [lower[n] for n in TEXT_COLUMNS if n in lower]
    if texts:
        joined = frame[texts].apply(
            lambda row: " ".join(str(v) for v in row if _present(v)), axis=1
        )
        drop += texts
    tags = [lower[n] for n in TAG_COLUMNS if n in lower]
    if tags:
        merged = [
            list(dict.fromkeys(t for col in row for t in _split_tags(col)))
            for row in zip(*(frame[c] for c in tags), strict=True)
        ]
        drop += tags
    frame = frame.drop(columns=drop).rename(columns=renames)
    if texts:
        frame[TEXT] = joined.to_numpy()
    if tags:
        frame[GENRES] = merged
    return frame


def _present(value: Any) -> bool:
    """A cell with something in it (not NaN / None / blank)."""
    if isinstance(value, list | tuple | np.ndarray):
        return len(value) > 0
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and bool(str(value).strip())
    )


def _not_in_tables(dataset: Dataset, items_from: str | None, users_from: str | None) -> None:
    """Count (``rows["items_not_in_table"]``, ``["users_not_in_table"]``) and warn once about
    interactions whose item or user the given table lacks: they are kept (the id is still a
    valid one, it just has no title or features)."""
    rows = dataset.meta.setdefault("rows", dict(dataset.rows))
    for what, frame, key, source in (
        ("items", dataset.items, ITEM, items_from),
        ("users", dataset.users, USER, users_from),
    ):
        if source is None or frame is None:
            continue
        missing = int((~dataset.interactions[key].isin(frame[key])).sum())
        rows[f"{what}_not_in_table"] = missing
        if missing:
            log.warning(
                "%s: %d interaction rows name %s not in this table; they are kept, "
                "without titles or features", source, missing, what,
            )  # fmt: skip


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
    except (pd.errors.ParserError, ValueError, IndexError) as exc:
        raise DataError(
            f"cannot read the {kind} files: {_first_line(exc)}", source=str(path)
        ) from None
    users = users.drop(columns=["zip"])
    users["occupation"] = users["occupation"].astype(str)
    dataset = from_frame(ratings, name=f"{kind}:{path}")
    dataset.items, dataset.users = items, users
    return dataset
