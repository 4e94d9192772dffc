"""Fill the expected facts of the phrasing set's data questions (tests/data/phrasings.jsonl)
from the MovieLens-100K files, with pandas and plain sets only: an independent reference for
the assistant's facts module (nothing of rag_recs is imported).

    RAG_RECS_ML100K=/path/ml-100k python benchmarks/phrasing_facts.py
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd

SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "phrasings.jsonl"
GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
LIKED = 4  # a rating at or above this is a like
TOP = 5


def load(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(root / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    raw = pd.read_csv(root / "u.item", sep="|", header=None, encoding="latin-1")
    items = pd.DataFrame({"item": raw[0], "title": raw[1]})
    items["genres"] = [[g for g, f in zip(GENRES, row, strict=True) if f] for row in
                       raw.iloc[:, 5:24].to_numpy(bool)]  # fmt: skip
    return ratings, items.set_index("item")


def expected(case: dict, ratings: pd.DataFrame, items: pd.DataFrame) -> dict:
    """The facts a data question asks for, computed here from the raw files."""
    kind, item = case["fact"], case.get("item")
    user = int(case["user"]) if case["user"] is not None else None
    mine = ratings[ratings.user == user]
    if kind == "history":
        return {"count": len(mine), "liked": int((mine.rating >= LIKED).sum())}
    if kind == "favourites":
        counts = Counter(g for i in mine.item for g in items.genres[i])
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        return {"genres": [[g, c] for g, c in top]}
    if kind == "similar_users":
        seen = {u: set(g) for u, g in ratings.groupby("user").item}
        own = seen[user]
        rows = [
            (len(own & s) / len(own | s), str(u), u, len(own & s))
            for u, s in seen.items()
            if u != user and own & s
        ]
        rows.sort(key=lambda r: (-r[0], r[1]))
        return {"users": [[u, round(j, 4), n] for j, _, u, n in rows[:TOP]]}
    if kind == "seen":
        row = mine[mine.item == item]
        out = {"item_id": item, "seen": bool(len(row))}
        if len(row):
            out["liked"] = bool(row.rating.iloc[0] >= LIKED)
        return out
    if kind == "liked_count":
        rows = ratings[ratings.item == item]
        return {"item_id": item, "liked": int((rows.rating >= LIKED).sum()), "had": len(rows)}
    if kind == "recent":
        liked = mine[mine.rating >= LIKED].sort_values(["ts", "item"])
        return {"item_id": int(liked.item.iloc[-1])}
    if kind == "item":
        return {
            "item_id": item,
            "title": items.title[item],
            "genres": items.genres[item],
            "had": int((ratings.item == item).sum()),
        }
    raise ValueError(f"unknown fact kind {kind!r}")


def main() -> None:
    root = Path(os.environ["RAG_RECS_ML100K"])
    ratings, items = load(root)
    cases = [json.loads(line) for line in SET.read_text("utf-8").splitlines() if line.strip()]
    for case in cases:
        if case.get("fact"):
            case["facts"] = expected(case, ratings, items)
    SET.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), "utf-8")
    print(f"{sum(bool(c.get('fact')) for c in cases)} data questions filled in {SET}")


if __name__ == "__main__":
    main()
