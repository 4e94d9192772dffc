"""Hostile input, fuzzed: the loaders, the question parser and the TOML settings.

Property-based (hypothesis, derandomized: the same examples every run) for the library, and a
handful of fixed hostile files for the console script (each run is an interpreter start-up).
The rules: a loader returns a Dataset or raises one DataError line naming the file (and the
column and row where they apply); ``parse_question`` never raises, never invents a user id and
returns k as an int >= 0 or None; a bad settings file raises a ValueError, nothing stranger;
the CLI exits 2 with one ``error:`` line on stderr, no traceback, and writes nothing.

``python tests/test_fuzz.py`` runs it all and prints the table of bad inputs tried.
"""

from __future__ import annotations

import atexit
import codecs
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag_recs.assistant.intent import (
    ITEM_NOUNS,
    NUMBER_WORDS,
    ORDINALS,
    PERSON_NOUNS,
    Intent,
    parse_question,
)
from rag_recs.assistant.lexicon import numbers_in
from rag_recs.config import Settings
from rag_recs.data.loaders import ML100K_GENRES, load_dataset
from rag_recs.data.schema import Dataset
from rag_recs.errors import DataError, one_line

REPO = Path(__file__).resolve().parents[1]


def fuzz(n: int) -> settings:
    """Deterministic and quick: fixed examples, no deadline, nothing saved between runs."""
    return settings(
        derandomize=True,
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


# what each property saw, by kind of input: outcome counts and one sample message
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
SAMPLE: dict[str, str] = {}
MESSAGES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


def note(kind: str, message: str, full: str) -> None:
    """Count ``message`` under its shape (quoted values and numbers blanked) for the table."""
    SAMPLE.setdefault(kind, full)
    MESSAGES[kind][re.sub(r"'[^']*'|0x[0-9a-f]+|\d+", "_", message)[:60]] += 1


SCRATCH = Path(tempfile.mkdtemp(prefix="rag-recs-fuzz-"))  # one file per property, rewritten
atexit.register(shutil.rmtree, SCRATCH, True)


def attempt(kind: str, path: Path, **options) -> Dataset | DataError:
    """Load ``path``: a Dataset, or the DataError, checked to be one line naming the file.

    Anything else raised fails the test (and is counted as such)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # repeated (user, item) rows warn, by design
            dataset = load_dataset(path, **options)
    except DataError as exc:
        text = str(exc)
        TALLY[kind]["DataError"] += 1
        note(kind, exc.message, text)
        assert "\n" not in text and "\r" not in text, text
        assert text.isprintable(), text
        assert str(path) in text or exc.source is None, text  # option errors have no file
        return exc
    except Exception:
        TALLY[kind]["other exception"] += 1
        raise
    TALLY[kind]["loaded"] += 1
    return dataset


def write(name: str, data: bytes) -> Path:
    path = SCRATCH / name
    path.write_bytes(data)
    return path


# ---- loaders: bytes -----------------------------------------------------------------------

PREFIXES = [
    b"",
    codecs.BOM_UTF8,
    b"user_id,item_id,rating\n",
    codecs.BOM_UTF8 + b"user_id,item_id\n",
]


@fuzz(150)
@given(
    prefix=st.sampled_from(PREFIXES),
    body=st.binary(max_size=300),
    suffix=st.sampled_from([".csv", ".tsv", ".gz", ".parquet"]),
)
@example(prefix=b"", body=bytes(range(256)), suffix=".csv")
@example(prefix=b"user_id,item_id\n", body=b"1,\xe9\n", suffix=".csv")
def test_random_bytes_give_a_dataset_or_one_error_line(prefix, body, suffix):
    attempt("random bytes", write(f"bytes{suffix}", prefix + body))


ML100K = {
    "u.data": b"1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t1\t4\t891717742\n",
    "u.item": "1|Café (1995)|01-Jan-1995||http://x|".encode("latin-1") + b"|".join([b"0"] * 19),
    "u.user": b"1|24|M|technician|85711\n2|53|F|other|94043\n",
}
DAMAGE = [b"", b"\t", b"|", b"\n", b"nan", b"inf", b"1e400", b'"', b"\xe9", b"x", b"-1", b"::"]


@fuzz(60)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(sorted(ML100K)),
            st.floats(0, 1),
            st.integers(0, 3),
            st.sampled_from(DAMAGE),
        ),
        max_size=4,
    )
)
def test_damaged_movielens_gives_a_dataset_or_one_error_line(edits):
    files = dict(ML100K)
    for name, where, cut, insert in edits:  # replace `cut` bytes at a point with `insert`
        data = files[name]
        at = int(where * len(data))
        files[name] = data[:at] + insert + data[at + cut :]
    root = SCRATCH / "ml-100k"
    root.mkdir(exist_ok=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    attempt("damaged MovieLens 100K", root)


# ---- loaders: text that is almost a CSV ---------------------------------------------------

CELLS = [
    "1", "0", "-1", "7", "1.5", "2.0", "", " ", "nan", "NaN", "NA", "null", "inf", "-inf",
    "Infinity", "1e400", "1e18", str(10**18), str(-(10**18)), str(2**63), str(10**20),
    '"', '""', '"a,b"', '"é,ü"', "é", "ü,", ";", "\t", "|", "[1, 0, 3]", "[NaN]", "[",
    "2024-01-01", "99999-01-01", "True", "x y", "\\N", "#",
]  # fmt: skip
HEADERS = [
    "user_id", "item_id", "rating", "timestamp", "label", "user", "item", "score", "title",
    "genres", "", "user_id", "é,id", '"q"',
]  # fmt: skip


@st.composite
def almost_csv(draw) -> tuple[bytes, str]:
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    base = draw(st.sampled_from([[], ["user_id", "item_id"], ["user", "item", "rating"]]))
    header = base + draw(st.lists(st.sampled_from(HEADERS), min_size=1 - bool(base), max_size=3))
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(
                st.one_of(st.sampled_from(CELLS), st.text(max_size=6)),
                min_size=max(0, width - 1),
                max_size=width + 1,
            ),
            max_size=6,
        )
    )
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace"), encoding


@fuzz(200)
@given(case=almost_csv(), suffix=st.sampled_from([".csv", ".tsv"]))
def test_ragged_quoted_and_odd_csv_gives_a_dataset_or_one_error_line(case, suffix):
    data, _ = case
    result = attempt("ragged rows, stray quotes, odd cells", write(f"odd{suffix}", data))
    if isinstance(result, DataError) and result.column is not None:
        assert one_line(f"column '{result.column}'") in str(result)
    if isinstance(result, DataError) and result.row is not None:
        assert result.row >= 1 and f"row {result.row}" in str(result)


# ---- loaders: ids -------------------------------------------------------------------------

BIG = 10**18
text_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
    max_size=8,
).map(lambda s: "u" + s)  # a letter first: never read as a number or a missing value


@fuzz(80)
@given(
    users=st.lists(text_ids, min_size=1, max_size=6),
    items=st.lists(st.integers(-(2**63) + 1, 2**63 - 1), min_size=1, max_size=6),
    encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
)
@example(users=["ué,ü", 'u"', "u,,", "u\n"], items=[BIG, -BIG, 2**63 - 1], encoding="utf-8")
def test_unicode_ids_with_commas_and_ids_of_1e18_come_back_exactly(users, items, encoding):
    n = min(len(users), len(items))
    frame = pd.DataFrame({"user_id": users[:n], "item_id": items[:n], "rating": [3.0] * n})
    path = SCRATCH / "ids.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    result = attempt("unicode ids with commas, ids of 1e18", path)
    assert isinstance(result, Dataset), result
    inter = result.interactions
    kept = frame.drop_duplicates(["user_id", "item_id"], keep="last")
    assert sorted(zip(inter["user_id"], inter["item_id"], strict=True)) == sorted(
        zip(kept["user_id"], kept["item_id"], strict=True)
    )
    assert pd.api.types.is_integer_dtype(inter["item_id"])


@fuzz(60)
@given(
    ids=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=5),
    decimal=st.booleans(),
)
@example(ids=[BIG + 1], decimal=True)
def test_huge_ids_are_exact_or_refused(ids, decimal):
    """Never a silently rounded id: int64 exactly, text beyond it, an error among decimals."""
    text = "user_id,item_id\n" + "".join(f"{u},{n}\n" for n, u in enumerate(ids))
    if decimal:
        text += "2.0,99\n"
    result = attempt("ids beyond 2^53 / 2^63", write("huge.csv", text.encode()))
    if isinstance(result, DataError):
        assert decimal and "user_id" in str(result)
        return
    got = [str(v) for v in result.interactions.sort_values("item_id")["user_id"]]
    written = [str(i) for i in ids]
    # ints when every id fits int64 ('2.0' then reads as 2), else the text as written
    assert got in ([*written, "2"], [*written, "2.0"]) if decimal else got == written


# ---- loaders: NaN, inf, empty, one row ----------------------------------------------------

BAD_NUMBERS = ["nan", "NaN", "", "inf", "-inf", "Infinity", "1e400", "1e39", "x"]


@fuzz(80)
@given(
    values=st.lists(
        st.one_of(st.floats(-5, 5, allow_nan=False).map(repr), st.sampled_from(BAD_NUMBERS)),
        min_size=1,
        max_size=8,
    ),
    column=st.sampled_from(["rating", "timestamp", "label"]),
)
def test_nan_and_inf_name_the_column_and_the_first_bad_row(values, column):
    others = {"rating": "3", "timestamp": "5", "label": "1", "user_id": "1"}
    header = ["user_id", "item_id", "rating", "timestamp", "label"]
    lines = [",".join(header)]
    for n, value in enumerate(values):
        row = {**others, "item_id": str(n), column: value}
        lines.append(",".join(row[c] for c in header))
    result = attempt("NaN and inf", write("nan.csv", ("\n".join(lines) + "\n").encode()))
    bad = [n for n, v in enumerate(values, 1) if v in BAD_NUMBERS]
    if isinstance(result, Dataset):
        if column == "label":  # every finite value that is not 0/1 is refused too
            assert set(result.interactions["label"]) <= {0.0, 1.0}
        assert not bad, values
        return
    assert f"column '{column}'" in str(result), result
    if bad and result.row is not None:
        assert result.row <= bad[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"user_id,item_id\n", "no rows"),
        (b"user_id,item_id,rating\n", "no rows"),
        (b"user_id,item_id\n1,2\n", None),
        (codecs.BOM_UTF8 + b"user_id,item_id\n1,2\n", None),
    ],
)
def test_zero_and_one_rows(text, expected):
    result = attempt("0 and 1 rows", write("rows.csv", text))
    if expected is None:
        assert isinstance(result, Dataset) and len(result.interactions) == 1
        assert list(result.interactions.columns) == ["user_id", "item_id"]  # no BOM left
    else:
        assert isinstance(result, DataError) and expected in str(result)


# ---- loaders: encodings and separators ----------------------------------------------------

latin_titles = st.text(alphabet=st.sampled_from("abc éèüßñçÆØ¿"), min_size=1, max_size=8).filter(
    lambda s: any(ord(c) > 127 for c in s) and s.strip() == s
)


@fuzz(40)
@given(titles=st.lists(latin_titles, min_size=1, max_size=4))
def test_latin1_says_how_to_read_it_and_then_reads(titles):
    lines = ["user_id,item_id,title", *(f"{n},{n},{t}" for n, t in enumerate(titles))]
    path = write("latin.csv", ("\n".join(lines) + "\n").encode("latin-1"))
    result = attempt("latin-1 without --encoding", path)
    assert isinstance(result, DataError)
    assert "--encoding latin-1" in str(result) and "UTF-8" in str(result)
    assert result.column == "title"
    loaded = attempt("latin-1 with --encoding latin-1", path, encoding="latin-1")
    assert isinstance(loaded, Dataset)
    assert loaded.interactions["title"].tolist() == titles


@fuzz(40)
@given(
    sep=st.sampled_from([";", "\t", "|"]),
    extra=st.lists(st.sampled_from(["rating", "ts", "genre", "x"]), unique=True, max_size=3),
    n=st.integers(1, 4),
)
def test_another_separator_is_named_with_the_fix(sep, extra, n):
    header = ["user_id", "item_id", *extra]
    lines = [sep.join(header), *(sep.join(["1", str(i), *["2"] * len(extra)]) for i in range(n))]
    path = write("sep.csv", ("\n".join(lines) + "\n").encode())
    result = attempt("another separator", path)
    assert isinstance(result, DataError)
    shown = {"\t": "tab"}.get(sep, sep)
    assert f"looks {shown}-separated" in str(result) and "--sep" in str(result)
    loaded = attempt("another separator, with --sep", path, sep={"\t": "tab"}.get(sep, sep))
    assert isinstance(loaded, Dataset) and len(loaded.interactions) == n


@pytest.mark.parametrize(
    ("options", "part"),
    [({"encoding": "klingon"}, "unknown encoding"), ({"sep": ";;"}, "separator")],
)
def test_bad_encoding_or_separator_options(options, part):
    result = attempt(
        "bad --encoding / --sep", write("ok.csv", b"user_id,item_id\n1,2\n"), **options
    )
    assert isinstance(result, DataError) and part in str(result)


# ---- the question parser ------------------------------------------------------------------

WORDS = [
    *NUMBER_WORDS, *ORDINALS, *ITEM_NOUNS.split("|")[:12], *PERSON_NOUNS.split("|")[:10],
    "why", "why #", "#", "top", "k=", "n =", "user", "user-id", "uid:", "u=", "for", "me",
    "and", "hundred", "seventy-eight", "twenty", "not", "but not", "like \"x\"", "similar users",
    "comedies", "Sci-Fi", "no.", "number", "item", "@", ".", ",", "!?", "0", "00", "78",
    str(BIG), "9" * 7, "ſ", "K", "ı", "é", "\n", "\t", "٣", "²", "🙂",
]  # fmt: skip
questions = st.one_of(
    st.text(max_size=60),
    st.lists(
        st.one_of(st.sampled_from(WORDS), st.integers(0, 10**7).map(str), st.text(max_size=4)),
        max_size=12,
    ).flatmap(
        lambda parts: st.lists(
            st.sampled_from([" ", " ", "", "-", "_", ":", "\n"]),
            min_size=len(parts),
            max_size=len(parts),
        ).map(lambda seps: "".join(p + s for p, s in zip(parts, seps, strict=True)))
    ),
)


def spelled_values(text: str) -> set[str]:
    """The numbers a question spells out in words ('seventy-eight', 'douze', 'zwölf')."""
    return {str(value) for value, _, _ in numbers_in(" ".join(text.split()))}


def check_intent(question: str, intent: Intent) -> None:
    assert intent.kind in ("recommend", "why", "unknown")
    assert intent.k is None or (type(intent.k) is int and intent.k >= 0), intent.k
    assert intent.position is None or type(intent.position) is int
    if intent.user is not None:
        assert isinstance(intent.user, str) and intent.user
        assert intent.user in question or intent.user in spelled_values(question), (
            question,
            intent.user,
        )


@fuzz(500)
@given(question=questions)
@example(question="Suggest 2 articles to user-id 78")
@example(question="user seventy-eight: 3 comedies, but not horror")
@example(question="why #" + "9" * 30)
def test_the_question_parser_never_raises_nor_invents_a_user(question):
    try:
        intent = parse_question(question, ML100K_GENRES)
    except Exception:
        TALLY["questions"]["other exception"] += 1
        raise
    check_intent(question, intent)
    TALLY["questions"]["parsed"] += 1


@pytest.mark.parametrize(
    "question",
    ["why the laſt one?", "ſix movies for user 5", "why the fıfth?", "recommend for user and me"],
)
def test_letters_that_only_look_ascii_and_a_lone_and(question):
    """Found by fuzzing: 'ſ', 'ı' matched s and i under re.I (a KeyError on the ASCII word
    tables), and 'user and' was read as the spelled number 0."""
    intent = parse_question(question, ML100K_GENRES)
    check_intent(question, intent)
    assert intent.user != "0"


def test_a_huge_why_number_is_no_crash():
    """Found by fuzzing: int() of thousands of digits raised ValueError."""
    intent = parse_question("why #" + "1" * 5000)
    assert intent.kind == "why" and intent.position is not None


# ---- TOML settings ------------------------------------------------------------------------

TOML_KEYS = ["data", "workspace", "llm", "embeddings", "chroma_url", "junk"]
RANKER_KEYS = ["dim", "hidden", "dropout", "lr", "epochs", "objective", "device", "seed", "x"]
TOML_VALUES = [
    "1", "0", "-1", "99999999999999999999999", "1e400", "nan", "inf", "-inf", "1.5", "true",
    '"x"', "'x'", '"""a\nb"""', "[]", "[1, 2]", "[-1]", '["a", 1]', "{}", "{a = 1}",
    "1979-05-27", "0x10", '"auto"', '"cuda"', '"\\u0000"', "", "=", "[", '"', "1 2",
]  # fmt: skip


@st.composite
def toml_documents(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["top", "top", "ranker", "ranker", "assistant", "junk"]))
        if kind == "top":
            lines.append(
                f"{draw(st.sampled_from(TOML_KEYS))} = {draw(st.sampled_from(TOML_VALUES))}"
            )
        elif kind == "junk":
            lines.append(draw(st.text(max_size=12)))
        else:
            keys = RANKER_KEYS if kind == "ranker" else ["k", "x"]
            lines.append(f"[{kind}]")
            lines.append(f"{draw(st.sampled_from(keys))} = {draw(st.sampled_from(TOML_VALUES))}")
    text = "\n".join(lines) + "\n"
    prefix = draw(st.sampled_from([b"", codecs.BOM_UTF8, b"\xff"]))
    return prefix + text.encode("utf-8", errors="replace")


@contextlib.contextmanager
def config_file(data: bytes) -> Iterator[Path]:
    path = SCRATCH / "rag-recs.toml"
    path.write_bytes(data)
    before = os.environ.get("RAG_RECS_CONFIG")
    os.environ["RAG_RECS_CONFIG"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("RAG_RECS_CONFIG", None)
        else:
            os.environ["RAG_RECS_CONFIG"] = before


@fuzz(150)
@given(data=st.one_of(toml_documents(), st.binary(max_size=80)))
@example(data=b"data = \n")
@example(data=b"[ranker]\ndim = 0\n")
def test_a_bad_settings_file_raises_a_value_error_and_nothing_stranger(data):
    """TOMLDecodeError, pydantic's ValidationError and UnicodeDecodeError are ValueErrors."""
    with config_file(data):
        try:
            Settings()
        except ValueError as exc:
            TALLY["settings TOML"]["ValueError"] += 1
            first = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            note("settings TOML", first.split(" (at line")[0], first)
            return
        except Exception:
            TALLY["settings TOML"]["other exception"] += 1
            raise
    TALLY["settings TOML"]["read"] += 1


def test_deeply_nested_toml_is_a_settings_error():
    from rag_recs.config import SettingsError

    with config_file(b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"), pytest.raises(SettingsError):
        Settings()


@pytest.mark.parametrize("text", [b"[ranker]\ndim = 0\n", b"[ranker]\nlr = inf\n", b"x = = 1\n"])
def test_settings_errors_name_the_file_on_one_line(text):
    from rag_recs.errors import RagRecsError

    with config_file(text) as path, pytest.raises(RagRecsError) as info:
        Settings()
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# ---- the console script: a handful of fixed hostile files --------------------------------

LATIN = "user_id,item_id,title\n1,1,Café\n2,1,Naïve\n".encode("latin-1")
HOSTILE: dict[str, tuple[bytes, list[str], list[str]]] = {
    # kind: (file bytes, extra CLI arguments, parts the one error line must hold)
    "random bytes": (bytes(range(256)) * 2, [], ["NUL bytes"]),
    "invalid UTF-8 (latin-1)": (LATIN, [], ["column 'title'", "UTF-8", "--encoding latin-1"]),
    "latin-1 + --encoding, NaN rating": (
        "user_id,item_id,title,rating\n1,1,Café,4\n2,1,Naïve,nan\n".encode("latin-1"),
        ["--encoding", "latin-1"],
        ["column 'rating'", "row 2", "missing value"],
    ),
    "UTF-8 BOM, inf rating": (
        codecs.BOM_UTF8 + b"user_id,item_id,rating\n1,1,4\n1,2,inf\n",
        [],
        ["column 'rating'", "row 2", "not a finite number"],
    ),
    "ragged row": (b"user_id,item_id\n1,2\n3,4,5,6\n", [], ["line 3", "4 fields"]),
    "stray quote": (b'user_id,item_id\n1,2\n3,"4\n5,6\n', [], ["row 2", "quote"]),
    "inf id": (b"user_id,item_id\n1,2\ninf,3\n", [], ["column 'user_id'", "row 2", "finite"]),
    "id 1e18+1 among decimals": (
        b"user_id,item_id\n1000000000000000001,2\n2.5,3\n",
        [],
        ["column 'user_id'", "row 1", "too large"],
    ),
    "0 rows": (b"user_id,item_id,rating\n", [], ["no rows"]),
    ";-separated": (b"user_id;item_id;rating\n1;2;3\n", [], ["looks ;-separated", "--sep ';'"]),
    "tab-separated .csv": (b"user_id\titem_id\n1\t2\n", [], ["looks tab-separated", "--sep tab"]),
    ";-separated + --sep, ids with commas, bad rating": (
        'user_id;item_id;rating\n"a,b";1;4\n"é,ü";2;great\n'.encode(),
        ["--sep", ";"],
        ["column 'rating'", "row 2", "'great'"],
    ),
    "duplicate column": (b"user_id,item_id,user_id\n1,2,3\n", [], ["'user_id' appears twice"]),
    "unknown --encoding": (b"user_id,item_id\n1,2\n", ["--encoding", "klingon"], ["klingon"]),
}
# the assistant's commands load through another path: one of them, to see it is the same
ASK = ("ask: ;-separated", b"user_id;item_id\n1;2\n", ["looks ;-separated"])


def run_hostile_files(root: Path, with_ask: bool = True) -> list[dict]:
    """Every HOSTILE file through ``rag-recs train`` (and one through ``ask``), in parallel.

    Each run gets an empty workspace and working directory; returns a row per run."""
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", COLUMNS="300")
    env.pop("RAG_RECS_DEBUG", None)
    cases = [
        (kind, data, ["train", *extra], parts) for kind, (data, extra, parts) in HOSTILE.items()
    ]
    if with_ask:
        kind, data, parts = ASK
        cases.append((kind, data, ["ask", "3 items for user 1", "--llm", "none"], parts))
    procs = []
    for n, (kind, data, args, parts) in enumerate(cases):
        here = root / f"case{n}"
        (here / "ws").mkdir(parents=True)
        (here / "cwd").mkdir()
        data_path = here / "data.csv"
        data_path.write_bytes(data)
        command = [sys.executable, "-m", "rag_recs.cli.main", *args[:1], "--data", str(data_path)]
        command += [*args[1:], "--workspace", str(here / "ws"), "--json"]
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=here / "cwd",
            env={**env, "RAG_RECS_WORKSPACE": str(here / "ws")},
        )
        procs.append((kind, parts, here, data_path, proc))
    rows = []
    for kind, parts, here, data_path, proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        lines = [line for line in stderr.splitlines() if line.strip()]
        rows.append(
            {
                "kind": kind,
                "code": proc.returncode,
                "lines": lines,
                "stdout": stdout,
                "parts": parts,
                "path": str(data_path),
                "tracebacks": (stderr + stdout).count("Traceback"),
                "written": sorted(
                    str(p.relative_to(here)) for p in here.rglob("*") if p.parent != here
                ),
            }
        )
    return rows


@pytest.fixture(scope="module")
def hostile_runs(tmp_path_factory) -> list[dict]:
    return run_hostile_files(tmp_path_factory.mktemp("hostile"))


def test_hostile_files_exit_2_with_one_line_naming_the_file_and_write_nothing(hostile_runs):
    for row in hostile_runs:
        assert row["tracebacks"] == 0, row
        assert row["code"] == 2, row
        assert row["stdout"] == "", row
        assert len(row["lines"]) == 1, row
        line = row["lines"][0]
        assert line.startswith("error: "), row
        if row["kind"] != "unknown --encoding":  # an option error: no file to name
            assert row["path"] in line, row
        for part in row["parts"]:
            assert part in line, (part, line)
        assert row["written"] == [], row  # no workspace files, nothing in the working dir
    print("\n" + table(hostile_runs))


# ---- the table --------------------------------------------------------------------------


def table(cli_rows: list[dict]) -> str:
    """Markdown: the library properties' tallies, then the console-script runs."""
    out = [
        "| kind (library, hypothesis) | tried | loaded | DataError / ValueError | other "
        "exceptions | commonest messages (count) | sample message |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, counts in sorted(TALLY.items()):
        ok = counts["loaded"] + counts["parsed"] + counts["read"] + counts["skipped"]
        errors = counts["DataError"] + counts["ValueError"]
        tried = ok + errors + counts["other exception"]
        sample = SAMPLE.get(kind, "").replace(str(SCRATCH) + "/", "").replace("|", "\\|")
        common = "; ".join(f"{m} ({n})" for m, n in MESSAGES[kind].most_common(3))
        common = common.replace("|", "\\|")
        out.append(
            f"| {kind} | {tried} | {ok} | {errors} | {counts['other exception']} | {common} "
            f"| {sample} |"
        )
    out += [
        "",
        "| kind (CLI `train --data FILE`) | count | exit code | stderr (one line) | tracebacks "
        "| files written |",
        "|---|---|---|---|---|---|",
    ]
    for row in cli_rows:
        line = " / ".join(row["lines"]).replace(row["path"], "FILE").replace("|", "\\|")
        out.append(
            f"| {row['kind']} | 1 | {row['code']} | {line} | {row['tracebacks']} "
            f"| {len(row['written'])} |"
        )
    total = sum(r["tracebacks"] for r in cli_rows) + sum(
        c["other exception"] for c in TALLY.values()
    )
    out.append(f"\ntracebacks / unexpected exceptions in total: {total}")
    return "\n".join(out)


if __name__ == "__main__":  # python tests/test_fuzz.py: every test here, then the table
    sys.exit(
        pytest.main(
            [
                __file__,
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "-W",
                "ignore::pytest.PytestAssertRewriteWarning",
            ]
        )
    )
