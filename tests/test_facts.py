"""Data questions and reasons tied to the user's history: every figure recomputed here from the
interactions table with pandas and plain sets, independently of the index and sparse matrix."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from rag_recs.assistant.facts import Facts
from rag_recs.assistant.finder import ItemFinder
from rag_recs.assistant.links import HistoryLinks, name, unseen_rank
from rag_recs.assistant.validate import Catalog
from rag_recs.data.attributes import item_attributes
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.data.sparse import InteractionMatrix
from rag_recs.data.synthetic import generate_catalog


def parts(dataset: Dataset):
    index = InteractionIndex.from_dataset(dataset)
    catalog = Catalog(dataset.catalog, {i: dataset.title(i) for i in dataset.catalog})
    finder = ItemFinder(dataset, catalog, index)
    return index, InteractionMatrix(index), item_attributes(dataset), finder


@pytest.fixture(scope="module")
def facts(small_data: Dataset) -> Facts:
    index, matrix, attributes, finder = parts(small_data)
    return Facts(small_data, index, matrix, attributes, finder, noun="articles")


@pytest.fixture(scope="module")
def table(small_data: Dataset) -> pd.DataFrame:
    return small_data.interactions


def users_of(table: pd.DataFrame) -> dict:
    return {i: set(g) for i, g in table.groupby("item_id")["user_id"]}


def items_of(table: pd.DataFrame) -> dict:
    return {u: set(g) for u, g in table.groupby("user_id")["item_id"]}


# ---- facts -------------------------------------------------------------------------------------
@pytest.mark.parametrize("user", [1, 17, 90])
def test_history_counts_and_latest(facts, table, user):
    mine = table[table.user_id == user].sort_values(["timestamp", "item_id"])
    fact = facts.history(user)
    assert fact.values["count"] == len(mine)
    assert fact.values["liked"] == int((mine.rating >= 4).sum())
    latest = list(mine.item_id[::-1][:10])
    assert [x["item_id"] for x in fact.values["latest"]] == latest
    assert f"{len(mine)} articles" in fact.text


@pytest.mark.parametrize("user", [2, 33])
def test_favourite_genres_are_the_most_frequent_over_everything_had(facts, table, small_data, user):
    genres = dict(zip(small_data.items.item_id, small_data.items.genres, strict=True))
    counts = Counter(g for i in table[table.user_id == user].item_id for g in genres[i])
    top = facts.favourites(user).values["favourites"]["genres"]
    assert [(x["value"], x["count"]) for x in top] == sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])
    )[:5]


@pytest.mark.parametrize("user", [4, 120])
def test_similar_users_are_exact_jaccard_over_all_users(facts, table, user):
    seen = items_of(table)
    mine = seen[user]
    exact = sorted(
        ((len(mine & s) / len(mine | s), o, len(mine & s)) for o, s in seen.items() if o != user),
        key=lambda t: (-t[0], t[1]),
    )[:5]
    got = facts.similar_users(user).values["users"]
    assert [(u["user_id"], u["shared"]) for u in got] == [(o, n) for _, o, n in exact]
    assert [u["jaccard"] for u in got] == [round(j, 4) for j, _, _ in exact]


def test_has_seen_by_title_and_by_id(facts, table, small_data):
    row = table.iloc[5]
    user, item = int(row.user_id), int(row.item_id)
    title = small_data.title(item)
    assert facts.find_item(title) == item
    assert facts.find_item(f"item {item}") == item and facts.find_item(f"#{item}") == item
    fact = facts.has_seen(user, item)
    assert fact.values["seen"] is True and fact.values["liked"] == bool(row.rating >= 4)
    unseen = next(
        i for i in small_data.catalog if i not in set(table[table.user_id == user].item_id)
    )
    assert facts.has_seen(user, unseen).values["seen"] is False
    assert facts.has_seen(user, unseen).text.startswith("No:")


@pytest.mark.parametrize("item", [1, 7, 42])
def test_how_many_liked_an_item(facts, table, item):
    rows = table[table.item_id == item]
    fact = facts.liked_count(item)
    assert fact.values == {
        "liked": int((rows.rating >= 4).sum()),
        "had": len(rows),
        "title": fact.values["title"],
    }
    assert f"{fact.values['liked']} of the {len(rows)} users" in fact.text


def test_most_recent_like(facts, table):
    user = 8
    liked = table[(table.user_id == user) & (table.rating >= 4)]
    last = liked.sort_values(["timestamp", "item_id"]).item_id.iloc[-1]
    assert facts.recent(user).values["item_id"] == last


def test_what_an_item_is(facts, small_data, table):
    item = 9
    fact = facts.describe(item)
    genres = small_data.items.set_index("item_id").genres[item]
    assert fact.values["features"] == {"genres": list(genres)}
    assert fact.values["had"] == int((table.item_id == item).sum())
    assert small_data.title(item) in fact.text


# ---- links -------------------------------------------------------------------------------------
def lift_check(link, table, item, user):
    """Recompute a co-occurrence link's counts, lift and choice from the table."""
    holders = users_of(table)
    history = items_of(table)[user]
    n = table.user_id.nunique()
    assert link.history_item in history
    assert link.both == len(holders[link.history_item] & holders[item])
    assert link.anchor_users == len(holders[link.history_item])
    assert link.item_users == len(holders[item]) and link.n_users == n
    assert link.lift == pytest.approx(link.both / link.anchor_users / (len(holders[item]) / n))
    # no history item with at least as many people in common has a higher lift
    floor = 2 if any(len(holders[h] & holders[item]) >= 2 for h in history) else 1
    for h in history:
        both = len(holders[h] & holders[item])
        if both >= floor:
            assert both / len(holders[h]) <= link.both / link.anchor_users + 1e-12
    assert f"{link.both} of the {link.anchor_users} people" in link.text
    assert f"{link.lift:.1f} times" in link.text


@pytest.mark.parametrize("user", [3, 50, 111])
def test_every_link_number_is_recomputed(small_data, table, small_ranker, user):
    index, matrix, attributes, _ = parts(small_data)
    links = HistoryLinks(small_data, index, matrix, attributes)
    seen = items_of(table)[user]
    for item in [i for i, _ in small_ranker.top_k(user, 5)]:
        found = links.links(user, item)
        assert found, item
        assert found == sorted(found, key=lambda x: x.order)  # strongest first
        for link in found:
            assert link.history_item in seen  # names something the user did
            assert name(small_data, link.history_item) in link.text
            if link.kind == "co-occurrence":
                lift_check(link, table, item, user)
            if link.kind == "feature":
                genres = dict(zip(small_data.items.item_id, small_data.items.genres, strict=True))
                having = [h for h in seen if link.feature in genres[h]]
                assert link.feature in genres[item]
                assert link.share == len(having) and link.history_size == len(seen)
                assert link.history_item in having


def test_ids_only_items_are_named_by_id_and_linked_by_co_occurrence():
    data = generate_catalog(400, 300, 6000, titles=False, text=False, seed=3)
    table = data.interactions
    index, matrix, attributes, _ = parts(data)
    assert attributes == {}
    links = HistoryLinks(data, index, matrix, attributes)
    user = int(table.user_id.value_counts().index[0])
    seen = items_of(table)[user]
    item = next(i for i in table.item_id.value_counts().index if i not in seen)
    link = links.links(user, item)[0]
    assert link.kind == "co-occurrence"
    assert f"#{link.history_item}" in link.text
    lift_check(link, table, item, user)


def test_a_cold_user_gets_the_asked_constraint_or_popularity(small_data):
    cold = Dataset(small_data.interactions, small_data.items, pd.DataFrame({"user_id": [9999]}))
    index, matrix, attributes, _ = parts(cold)
    links = HistoryLinks(cold, index, matrix, attributes)
    table = small_data.interactions
    item = int(table.item_id.value_counts().index[2])
    found = links.links(9999, item)
    assert [x.kind for x in found] == ["popularity"]
    counts = table.item_id.value_counts()
    assert found[0].item_users == counts[item]
    assert found[0].share == int((counts > counts[item]).sum()) + 1
    genre = small_data.items.set_index("item_id").genres[item][0]
    asked = links.links(9999, item, asked=[genre])
    assert [x.kind for x in asked] == ["constraint", "popularity"]
    assert genre in asked[0].text


def test_the_ranker_number_is_a_rank_among_unseen_items(small_data, small_ranker):
    user = 12
    top = small_ranker.top_k(user, 3)
    ranks, unseen = unseen_rank(small_ranker, user, [i for i, _ in top])
    seen = set(small_data.interactions.query("user_id == @user").item_id)
    assert unseen == len(set(small_data.catalog) - seen)
    assert [ranks[i] for i, _ in top] == [1, 2, 3]


# ---- the conversation routes data questions to the facts ---------------------------------------
@pytest.fixture()
def chat(small_data, small_ranker):
    from rag_recs.assistant import Assistant

    return Assistant(small_data, small_ranker)


def test_a_data_question_is_answered_with_facts_and_no_items(chat, table):
    answer = chat.ask("how many people liked item 7?")
    rows = table[table.item_id == 7]
    data = answer.to_dict()
    assert data["kind"] == "fact" and data["items"] == []
    assert data["facts"]["liked"] == int((rows.rating >= 4).sum())
    assert data["facts"]["had"] == len(rows)
    assert answer.message == f"{data['facts']['liked']} of the {len(rows)} users who had " + (
        f"'{chat.dataset.title(7)}' liked it."
    )
    assert chat.ask("3 articles for user 5").to_dict()["kind"] == "recommend"


def test_pronouns_follow_the_conversation(chat, table):
    first = chat.ask("what has user 12 read?")
    assert first.facts["count"] == int((table.user_id == 12).sum())
    genres = chat.ask("what about her favourite topics?")
    assert genres.user == 12 and genres.kind == "fact"
    mine = table[table.user_id == 12].item_id
    assert genres.facts["count"] == len(mine)
    seen = chat.ask("has she read item 7?")
    assert seen.facts["seen"] == (7 in set(mine))
    liked = chat.ask("how many people liked it?")
    assert liked.facts["item"] == 7 and liked.facts["had"] == int((table.item_id == 7).sum())


def test_a_pronoun_without_a_conversation_is_asked_back(chat):
    answer = chat.ask("what are her favourite genres?")
    assert answer.facts is None and answer.user is None and "which user" in answer.message
    assert "which item" in chat.ask("how many people liked it?").message


def test_an_llm_wording_with_an_invented_number_gives_the_template(small_data, small_ranker):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from rag_recs.assistant import Assistant

    title = small_data.title(7)
    invented = FakeListChatModel(responses=[f"'{title}' was liked by 999 people."])
    answer = Assistant(small_data, small_ranker, llm=invented).ask("how many people liked item 7?")
    assert answer.message == answer_template(answer) and "999" not in answer.message
    assert answer.notes[-1].endswith("worded by the template")
    liked, had = answer.facts["liked"], answer.facts["had"]
    honest = FakeListChatModel(responses=[f"{liked} of the {had} readers of '{title}' liked it."])
    worded = Assistant(small_data, small_ranker, llm=honest).ask("how many people liked item 7?")
    assert worded.message == f"{liked} of the {had} readers of '{title}' liked it."
    assert worded.notes[-1].endswith("worded by the llm")


def answer_template(answer) -> str:
    facts = answer.facts
    return f"{facts['liked']} of the {facts['had']} users who had '{facts['title']}' liked it."
