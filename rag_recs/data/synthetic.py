"""A generated catalog of articles and readers with topic tastes: the project's own demo data.

Unlike uniform random data it has signal: readers favour a few topics, follow sessions within a
topic, and rate their favourite topics higher, so similar users and a trained ranker mean
something (a trained ranker beats popularity on it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rag_recs.data.schema import GENRES, ITEM, RATING, TEXT, TIME, TITLE, USER, Dataset

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "technology": (
        ["chips", "startups", "open source", "smartphones", "robots"],
        ["Inside", "The rise of"],
    ),
    "science": (
        ["black holes", "gene editing", "fossils", "particle physics", "bees"],
        ["Why", "New findings on"],
    ),
    "health": (
        ["sleep", "running", "vaccines", "gut bacteria", "stress"],
        ["What we know about", "A guide to"],
    ),
    "sports": (
        ["marathons", "football tactics", "tennis", "cycling", "the Olympics"],
        ["Behind", "The story of"],
    ),
    "politics": (
        ["elections", "city budgets", "trade deals", "voting reform", "parliament"],
        ["Explaining", "The fight over"],
    ),
    "business": (
        ["supply chains", "remote work", "retail", "small firms", "mergers"],
        ["How", "The future of"],
    ),
    "travel": (
        ["night trains", "islands", "mountain huts", "old towns", "road trips"],
        ["Discovering", "A week of"],
    ),
    "food": (
        ["sourdough", "street food", "fermentation", "coffee", "spices"],
        ["The art of", "Cooking with"],
    ),
    "culture": (
        ["jazz", "graphic novels", "museums", "indie games", "poetry"],
        ["Rethinking", "A short history of"],
    ),
    "climate": (
        ["heat waves", "solar power", "glaciers", "floods", "forests"],
        ["Facing", "The truth about"],
    ),
    "education": (
        ["homework", "online courses", "languages", "maths teaching", "libraries"],
        ["Reforming", "Lessons from"],
    ),
    "finance": (
        ["index funds", "inflation", "mortgages", "crypto", "pensions"],
        ["Understanding", "Money and"],
    ),
}
SUFFIXES = [
    "",
    " in 2025",
    ": a field report",
    ", explained",
    " for beginners",
    ": what comes next",
]


def generate(
    n_users: int = 1000,
    n_items: int = 360,
    mean_activity: float = 24.0,
    seed: int = 7,
) -> Dataset:
    """Generate articles (titles, topics, text) and users who read and rate them over time."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    item_topic = np.arange(n_items) % len(topics)
    rng.shuffle(item_topic)
    popularity = rng.lognormal(0.0, 1.0, n_items)
    titles, texts, genres = [], [], []
    counts: dict[str, int] = {}
    for i, t in enumerate(item_topic):
        name = topics[t]
        subjects, openers = TOPICS[name]
        subject = subjects[i % len(subjects)]
        title = f"{openers[(i // 5) % 2]} {subject}{SUFFIXES[(i // 10) % len(SUFFIXES)]}"
        counts[title] = counts.get(title, 0) + 1
        if counts[title] > 1:
            title += f" (part {counts[title]})"
        titles.append(title)
        second = topics[(t + 1 + i % 3) % len(topics)]
        genres.append([name, second] if i % 4 == 0 else [name])
        texts.append(f"An article on {subject} in {name}, for readers who follow {name}.")
    items = pd.DataFrame(
        {ITEM: np.arange(1, n_items + 1), TITLE: titles, GENRES: genres, TEXT: texts}
    )

    taste = rng.dirichlet(np.full(len(topics), 0.25), n_users)
    activity = np.clip(rng.lognormal(np.log(mean_activity) - 0.3, 0.75, n_users), 4, n_items // 2)
    by_topic = [np.flatnonzero(item_topic == t) for t in range(len(topics))]
    start = 1_700_000_000
    rows = []
    for u in range(n_users):
        n, seen, t = int(activity[u]), set(), start + int(rng.integers(0, 86_400 * 60))
        topic = rng.choice(len(topics), p=taste[u])
        while len(seen) < n:
            if rng.random() > 0.6:  # a new session: pick a topic by taste, else stay on topic
                topic = rng.choice(len(topics), p=taste[u])
                t += int(rng.integers(3_600, 86_400 * 3))
            pool = [i for i in by_topic[topic] if i not in seen]
            if not pool:
                topic = rng.choice(len(topics), p=taste[u])
                continue
            w = popularity[pool]
            item = int(rng.choice(pool, p=w / w.sum()))
            seen.add(item)
            t += int(rng.integers(60, 1_800))
            affinity = taste[u, topic] / taste[u].max()
            rating = int(np.clip(np.rint(1.5 + 3.5 * affinity + rng.normal(0, 0.7)), 1, 5))
            rows.append((u + 1, item + 1, rating, t))
    interactions = pd.DataFrame(rows, columns=[USER, ITEM, RATING, TIME])
    users = pd.DataFrame(
        {
            USER: np.arange(1, n_users + 1),
            "age_group": rng.choice(["18-24", "25-34", "35-49", "50+"], n_users),
            "region": rng.choice(["north", "south", "east", "west"], n_users),
        }
    )
    interactions[RATING] = interactions[RATING].astype(np.float32)
    return Dataset(interactions, items=items, users=users, name="synthetic")


def generate_catalog(
    n_users: int = 100_000,
    n_items: int = 50_000,
    n_interactions: int = 1_000_000,
    *,
    alpha: float = 0.9,
    titles: bool = True,
    text: bool = True,
    seed: int = 7,
) -> Dataset:
    """Generate a large catalog shaped like real implicit-feedback data, with array operations.

    Item popularity follows a power law (``alpha``: Zipf exponent over a random ranking), so a
    few items take much of the traffic and most sit in a long tail nobody or almost nobody
    touched. Users are sparse: activity is lognormal, most users have under 10 interactions, a
    few have hundreds. There is signal for a ranker: items fall in subjects (each topic's five
    subjects of ``TOPICS``), users favour a few subjects, and reads come in sessions within one
    subject. Interactions are ``user_id, item_id, timestamp`` (no ratings), each pair once.

    ``titles`` / ``text`` add an items table (title; ``genres`` = topic; subject-level text);
    with both off the data is ids only (``items`` is None), like a bare events file. Vectorised
    with numpy (no Python loop per interaction), so 10^6 interactions take seconds.
    """
    rng = np.random.default_rng(seed)
    subjects = [(topic, s) for topic, (subs, _) in TOPICS.items() for s in subs]
    n_subjects = len(subjects)
    item_subject = rng.integers(0, n_subjects, n_items)
    popularity = (rng.permutation(n_items) + 1.0) ** -alpha

    # users: lognormal activity scaled to the requested total, at least 2 (a history and a
    # held-out item), at most half the catalog
    raw = rng.lognormal(0.0, 1.0, n_users)
    activity = np.clip(np.rint(raw * n_interactions / raw.sum()), 2, max(2, n_items // 2))
    activity = activity.astype(np.int64)
    taste = rng.dirichlet(np.full(n_subjects, 0.1), n_users)

    # inverse CDFs as one increasing array each: user u's taste spans [u, u + 1), subject s's
    # items span (s, s + 1]; one searchsorted draws a subject or an item
    cum_taste = np.cumsum(taste, axis=1)
    cum_taste[:, -1] = 1.0
    taste_key = (cum_taste + np.arange(n_users)[:, None]).ravel()
    by_subject = np.argsort(item_subject, kind="stable")
    sorted_subject = item_subject[by_subject]
    starts = np.searchsorted(sorted_subject, np.arange(n_subjects))
    ends = np.searchsorted(sorted_subject, np.arange(n_subjects), side="right") - 1
    weights = popularity[by_subject]
    cum = np.cumsum(weights)
    base = np.concatenate(([0.0], cum))[starts]
    total = np.concatenate(([0.0], cum))[ends + 1] - base
    item_key = sorted_subject + (cum - base[sorted_subject]) / total[sorted_subject]

    def draw_subjects(users: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(taste_key, users + rng.random(len(users)), side="right")
        return np.clip(pos - users * n_subjects, 0, n_subjects - 1)

    def draw_items(subject: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(item_key, subject + rng.random(len(subject)), side="right")
        return by_subject[np.clip(pos, starts[subject], ends[subject])]

    # each read opens a new session (a subject drawn by taste) with probability 0.3
    n = int(activity.sum())
    users = np.repeat(np.arange(n_users), activity)
    first = np.zeros(n, bool)
    first[np.cumsum(activity) - activity] = True
    opens = (rng.random(n) < 0.3) | first
    subject = draw_subjects(users[opens])[np.cumsum(opens) - 1]
    items = draw_items(subject)
    # a repeated (user, item) pair is drawn again, first within its subject, then by taste
    for round_ in range(8):
        pair = users * n_items + items
        _, firsts = np.unique(pair, return_index=True)
        repeat = np.ones(n, bool)
        repeat[firsts] = False
        again = np.flatnonzero(repeat)
        if not again.size:
            break
        if round_ >= 4:
            subject[again] = draw_subjects(users[again])
        items[again] = draw_items(subject[again])
    keep = np.zeros(n, bool)
    keep[np.unique(users * n_items + items, return_index=True)[1]] = True

    gaps = rng.integers(30, 1_800, n) + np.where(opens, rng.integers(3_600, 86_400 * 5, n), 0)
    clock = np.cumsum(gaps)
    at_start = np.concatenate(([0], clock))[np.cumsum(activity) - activity]
    began = 1_600_000_000 + rng.integers(0, 86_400 * 365, n_users)
    times = began[users] + clock - at_start[users]
    interactions = pd.DataFrame(
        {USER: users[keep] + 1, ITEM: items[keep] + 1, TIME: times[keep].astype(np.int64)}
    )
    if not (titles or text):
        return Dataset(interactions, name="catalog")
    columns: dict = {ITEM: np.arange(1, n_items + 1)}
    if titles:
        columns[TITLE] = [
            f"{TOPICS[subjects[s][0]][1][i % 2]} {subjects[s][1]} no. {i + 1}"
            for i, s in enumerate(item_subject.tolist())
        ]
    columns[GENRES] = [[subjects[s][0]] for s in item_subject.tolist()]
    if text:
        columns[TEXT] = [
            f"A piece on {subjects[s][1]} in {subjects[s][0]}." for s in item_subject.tolist()
        ]
    return Dataset(interactions, items=pd.DataFrame(columns), name="catalog")
