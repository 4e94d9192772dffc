"""Loading: every supported source, and a clear DataError for every kind of bad input."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import seen_sets

from rag_recs.data.loaders import ML100K_GENRES, load_dataset, load_movielens
from rag_recs.data.schema import GENRES, ITEM, LABEL, RATING, TIME, TITLE, USER
from rag_recs.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def assert_names(exc: DataError, *parts: str) -> None:
    """The error's one line mentions every part (file, column, row ...)."""
    text = str(exc)
    assert "\n" not in text
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"


# ---- good sources ---------------------------------------------------------------------------


def test_csv_int_ids_keep_their_type(tmp_path):
    path = write(
        tmp_path / "ratings.csv",
        "user_id,item_id,rating,timestamp\n1,10,4,100\n1,11,3,200\n2,10,5,150\n",
    )
    data = load_dataset(path)
    inter = data.interactions
    assert list(inter.columns) == [USER, ITEM, RATING, TIME]
    assert pd.api.types.is_integer_dtype(inter[USER])
    assert pd.api.types.is_integer_dtype(inter[ITEM])
    assert inter[[USER, ITEM]].to_numpy().tolist() == [[1, 10], [1, 11], [2, 10]]
    assert inter[RATING].tolist() == [4.0, 3.0, 5.0]
    assert inter[TIME].tolist() == [100, 200, 150]
    assert list(data.catalog) == [10, 11]
    assert seen_sets(data) == {1: {10, 11}, 2: {10}}
    assert data.has_users and data.has_time


def test_csv_string_ids_keep_their_type(tmp_path):
    path = write(tmp_path / "s.csv", "user_id,item_id,rating\nalice,x1,3\nbob,x2,4\nalice,x2,5\n")
    inter = load_dataset(path).interactions
    assert inter[USER].tolist() == ["alice", "bob", "alice"]
    assert inter[ITEM].tolist() == ["x1", "x2", "x2"]
    assert all(isinstance(v, str) for v in [*inter[USER], *inter[ITEM]])


def test_parquet_with_alias_column_names(tmp_path):
    frame = pd.DataFrame(
        {
            "userId": [3, 3, 4],
            "movie_id": [7, 8, 7],
            "score": [1.0, 2.5, 5.0],
            "ts": [10, 20, 30],
            "device": ["ios", "web", "ios"],
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    inter = load_dataset(path).interactions
    assert list(inter.columns) == [USER, ITEM, RATING, TIME, "device"]
    assert inter[USER].tolist() == [3, 3, 4]
    assert inter[ITEM].tolist() == [7, 8, 7]
    assert inter[RATING].tolist() == [1.0, 2.5, 5.0]
    assert inter["device"].tolist() == ["ios", "web", "ios"]


def test_dataframe_is_copied_not_changed():
    frame = pd.DataFrame({"user": ["a", "b"], "item": [1, 2], "rating": ["4", "5"]})
    before = frame.copy()
    data = load_dataset(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert data.name == "DataFrame"
    assert data.interactions[RATING].tolist() == [4.0, 5.0]
    assert data.interactions[USER].tolist() == ["a", "b"]


def test_column_overrides(tmp_path):
    path = write(
        tmp_path / "log.csv",
        "reader,article,stars,when,score\nr1,5,2,2024-01-01,9\nr2,6,4,2024-01-02,9\n",
    )
    data = load_dataset(
        path, user_col="reader", item_col="article", rating_col="stars", time_col="when"
    )
    inter = data.interactions
    # "score" is a default rating alias, but the explicit --rating-col wins; it stays a feature
    assert list(inter.columns) == [USER, ITEM, RATING, TIME, "score"]
    assert inter[USER].tolist() == ["r1", "r2"]
    assert inter[ITEM].tolist() == [5, 6]
    assert inter[RATING].tolist() == [2.0, 4.0]
    assert inter[TIME].tolist() == [1704067200, 1704153600]  # ISO dates -> epoch seconds


def test_column_override_next_to_a_canonical_name(tmp_path):
    path = write(tmp_path / "log.csv", "reader,item_id,user_id\nr1,5,zz\nr2,6,zz\n")
    data = load_dataset(path, user_col="reader")
    assert data.interactions[USER].tolist() == ["r1", "r2"]
    assert data.interactions["user_id_original"].tolist() == ["zz", "zz"]


def test_large_timestamps_are_kept_exactly(tmp_path):
    # float32 holds only 24 bits: 1_700_000_123 would come back as 1_700_000_128
    path = write(tmp_path / "t.csv", "user_id,item_id,timestamp\n1,1,1700000123\n1,2,1700000125\n")
    assert load_dataset(path).interactions[TIME].tolist() == [1_700_000_123, 1_700_000_125]


def test_notebook_one_hot_list_csv(tmp_path):
    path = write(
        tmp_path / "onehot.csv",
        'user_id,item_id\n1,"[1, 0, 3, 0]"\n2,"[0, 2, 0, 0, 0]"\n3,"[0, 0, 3, 4, 0]"\n',
    )
    data = load_dataset(path)
    pairs = data.interactions[[USER, ITEM]].to_numpy().tolist()
    assert pairs == [[1, 1], [1, 3], [2, 2], [3, 3], [3, 4]]
    # item 5 was never interacted with but is in the catalog (the lists are 5 wide)
    assert list(data.catalog) == [1, 2, 3, 4, 5]
    assert data.items[ITEM].tolist() == [1, 2, 3, 4, 5]


def test_generic_ctr_table(tmp_path):
    path = write(tmp_path / "ctr.csv", "ad,site,price,clicked\n1,a,0.5,1\n2,b,1.5,0\n1,b,2.0,0\n")
    data = load_dataset(path, label_col="clicked")
    assert not data.has_users
    assert data.meta.get("generic") is True
    assert list(data.interactions.columns) == ["ad", "site", "price", LABEL]
    assert data.interactions[LABEL].tolist() == [1.0, 0.0, 0.0]


def _write_ml100k(root: Path) -> Path:
    root.mkdir()
    # u.data: user item rating timestamp, tab-separated, no header
    rows = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (2, 1, 4, 891717742), (3, 3, 1, 878887116)]
    write(root / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))

    def item_line(item: int, title: str, flags: list[int]) -> str:
        url = f"http://us.imdb.com/M/title-exact?{item}"
        return "|".join([str(item), title, "01-Jan-1995", "", url, *map(str, flags)]) + "\n"

    flags = np.zeros((4, 19), int)
    flags[0, [3, 4, 5]] = 1  # Animation, Children's, Comedy
    flags[1, [1, 2, 16]] = 1  # Action, Adventure, Thriller
    flags[2, 0] = 1  # unknown
    titles = ["Toy Story (1995)", "GoldenEye (1995)", "Café au lait (1993)", "Never Rated (1990)"]
    text = "".join(item_line(i + 1, t, list(flags[i])) for i, t in enumerate(titles))
    write(root / "u.item", text, encoding="latin-1")
    write(root / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    return root


def test_movielens_100k_layout(tmp_path):
    root = _write_ml100k(tmp_path / "ml-100k")
    data = load_dataset(root)
    assert data.name.startswith("ml-100k")
    assert len(data.interactions) == 4
    assert list(data.interactions.columns) == [USER, ITEM, RATING, TIME]
    assert data.interactions[TIME].tolist()[0] == 881250949
    # the never-rated movie 4 is in the catalog
    assert sorted(data.catalog) == [1, 2, 3, 4]
    assert data.title(3) == "Café au lait (1993)"  # latin-1 decoded
    genres = dict(zip(data.items[ITEM], data.items[GENRES], strict=True))
    assert genres == {
        1: ["Animation", "Children's", "Comedy"],
        2: ["Action", "Adventure", "Thriller"],
        3: ["unknown"],
        4: [],
    }
    assert len(ML100K_GENRES) == 19
    assert list(data.users.columns) == [USER, "age", "gender", "occupation"]
    assert data.users["age"].tolist() == [24, 53, 23]
    assert data.users["occupation"].tolist() == ["technician", "other", "writer"]


def test_movielens_1m_layout(tmp_path):
    root = tmp_path / "ml-1m"
    root.mkdir()
    write(
        root / "ratings.dat",
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        encoding="latin-1",
    )
    write(
        root / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "2::Amélie (2001)::Comedy|Romance\n",
        encoding="latin-1",
    )
    write(root / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n", encoding="latin-1")
    data = load_movielens(root)
    assert data.name.startswith("ml-1m")
    assert data.interactions[[USER, ITEM]].to_numpy().tolist() == [[1, 1193], [1, 661], [2, 1193]]
    assert data.interactions[RATING].tolist() == [5.0, 3.0, 4.0]
    assert sorted(data.catalog) == [2, 661, 1193]
    assert data.title(2) == "Amélie (2001)"
    genres = dict(zip(data.items[ITEM], data.items[GENRES], strict=True))
    assert genres[661] == ["Animation", "Children's", "Musical"]
    assert genres[2] == ["Comedy", "Romance"]
    assert list(data.users.columns) == [USER, "gender", "age", "occupation"]
    assert data.users["occupation"].tolist() == ["10", "16"]
    assert load_dataset(root).fingerprint == data.fingerprint  # auto-detected the same


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RAG_RECS_ML100K"), reason="set RAG_RECS_ML100K=dir")
def test_real_movielens_100k():
    data = load_dataset(os.environ["RAG_RECS_ML100K"])
    inter = data.interactions
    assert len(inter) == 100_000
    assert inter[USER].nunique() == 943
    assert inter[ITEM].nunique() == 1682
    assert len(data.catalog) == 1682
    assert set(inter[RATING].unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.title(1) == "Toy Story (1995)"
    genres = dict(zip(data.items[ITEM], data.items[GENRES], strict=True))
    assert genres[1] == ["Animation", "Children's", "Comedy"]
    assert all(isinstance(g, list) for g in data.items[GENRES])
    assert len(data.users) == 943
    assert {"age", "gender", "occupation"} <= set(data.users.columns)
    assert set(data.users["gender"]) == {"M", "F"}


# ---- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "no such file")


def test_explicit_column_that_does_not_exist(tmp_path):
    path = write(tmp_path / "r.csv", "user_id,item_id\n1,2\n")
    with pytest.raises(DataError) as info:
        load_dataset(path, user_col="customer")
    assert_names(info.value, str(path), "'customer'", "not found", "user_id, item_id")


def test_no_recognisable_user_column(tmp_path):
    path = write(tmp_path / "r.csv", "person,item_id,rating\n1,2,3\n")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "no user id column", "person", "--user-col")


def test_header_only(tmp_path):
    path = write(tmp_path / "empty.csv", "user_id,item_id,rating\n")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "no rows")


def test_zero_byte_file(tmp_path):
    path = write(tmp_path / "zero.csv", "")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "empty")


@pytest.mark.parametrize(
    ("text", "kwargs", "column", "row"),
    [
        ("user_id,item_id\n1,2\n2,3\n,4\n", {}, "user_id", 3),
        ("user_id,item_id\nu1,a\nu2,\n", {}, "item_id", 2),
        ("reader,item_id\nr1,a\n,b\n", {"user_col": "reader"}, "reader", 2),
    ],
)
def test_missing_ids(tmp_path, text, kwargs, column, row):
    path = write(tmp_path / "ids.csv", text)
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)
    assert_names(info.value, str(path), f"column '{column}'", f"row {row}", "missing id")
    assert info.value.row == row


def test_fractional_ids(tmp_path):
    path = write(tmp_path / "ids.csv", "user_id,item_id\n1,2\n1.5,3\n")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "column 'user_id'", "row 2", "integers or strings")


def test_unparseable_item_list(tmp_path):
    path = write(tmp_path / "onehot.csv", 'user_id,item_id\n1,"[1, 0, 3]"\n2,"[0, 2, x]"\n')
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "column 'item_id'", "row 2", "item list")


@pytest.mark.parametrize(
    ("text", "kwargs", "column"),
    [
        ("user_id,item_id,rating\n1,2,3\n1,3,4\n2,2,five\n", {}, "rating"),
        ("user_id,item_id,stars\n1,2,3\n1,3,4\n2,2,five\n", {"rating_col": "stars"}, "stars"),
    ],
)
def test_non_numeric_ratings(tmp_path, text, kwargs, column):
    path = write(tmp_path / "r.csv", text)
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)
    assert_names(info.value, str(path), f"column '{column}'", "row 3", "'five'")


def test_labels_not_zero_one(tmp_path):
    path = write(tmp_path / "ctr.csv", "ad,site,clicked\n1,a,1\n2,b,0\n3,c,2\n")
    with pytest.raises(DataError) as info:
        load_dataset(path, label_col="clicked")
    assert_names(info.value, str(path), "column 'clicked'", "row 3", "0 or 1")


def test_labels_not_zero_one_in_auto_detected_label_column(tmp_path):
    path = write(tmp_path / "ctr.csv", "user_id,item_id,label\n1,2,1\n1,3,yes\n")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "column 'label'", "row 2")


def test_unknown_extension_and_non_movielens_directory(tmp_path):
    path = write(tmp_path / "data.xlsx", "x")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert_names(info.value, str(path), "'.xlsx'")
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path)
    assert_names(info.value, str(tmp_path), "MovieLens")
    with pytest.raises(DataError, match=re.escape("unknown format 'xml'")):
        load_dataset(path, format="xml")


def test_duplicates_warn_once_and_keep_the_latest(tmp_path):
    # the latest by timestamp (t=30) is in the middle of the file, not at its end
    path = write(
        tmp_path / "dups.csv",
        "user_id,item_id,rating,timestamp\n1,2,1,10\n1,2,5,30\n2,2,3,5\n1,2,2,20\n1,4,4,1\n",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1
    assert "2 repeated" in messages[0] and str(path) in messages[0]
    inter = data.interactions
    assert inter[[USER, ITEM, RATING, TIME]].to_numpy().tolist() == [
        [1, 2, 5, 30],
        [2, 2, 3, 5],
        [1, 4, 4, 1],
    ]


def test_duplicates_without_timestamps_keep_the_last_in_file(tmp_path):
    path = write(tmp_path / "dups.csv", "user_id,item_id,rating\n1,2,1\n1,2,4\n1,3,2\n")
    with pytest.warns(UserWarning, match="1 repeated"):
        data = load_dataset(path)
    assert data.interactions[[ITEM, RATING]].to_numpy().tolist() == [[2, 4.0], [3, 2.0]]


def test_titles_fall_back_to_ids(small_data):
    assert small_data.title(1) != "item 1"
    assert small_data.title(10_000) == "item 10000"
    assert TITLE in small_data.items.columns
