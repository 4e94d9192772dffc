"""The assistant's public stages: context -> candidates -> LLM proposal (the retrieval chain) ->
validation -> rerank -> reasons, and the constraints they apply (years, tastes, fragments)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag_recs.assistant import Assistant, AssistantConfig
from rag_recs.assistant.years import describe, title_year, year_range
from rag_recs.data.schema import GENRES, ITEM, RATING, TITLE, USER, Dataset
from rag_recs.ranker import DeepFMRanker

USER_ID = 78


class ChainNames(BaseCallbackHandler):
    """Names of the chains a call ran through."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(self, serialized, inputs, **kwargs):
        self.names.append(kwargs.get("name") or (serialized or {}).get("name", ""))


@pytest.fixture(scope="module")
def make(small_data: Dataset, small_ranker: DeepFMRanker):
    def build(llm=None, **config) -> Assistant:
        return Assistant(small_data, small_ranker, llm=llm, config=AssistantConfig(**config))

    return build


def test_the_stages_run_in_order_through_the_retrieval_chain(make, small_data):
    assistant = make()
    context = assistant.pipeline.context(USER_ID)
    texts = context.texts(assistant.dataset.title)
    assert texts[0].startswith(f"User {USER_ID} liked: ")
    assert texts[1].startswith("Most similar users: ")
    neighbors = context.neighbors
    assert neighbors and neighbors == assistant.pipeline.similar_users(USER_ID)
    for text in texts[2:]:  # what similar users liked that the user has not seen
        assert text.startswith("User ") and " also liked: " in text
    assert set(context.also_liked) <= {n.user_id for n in neighbors}

    recorder = ChainNames()
    first = assistant.recommend(USER_ID, 3).items[0].item_id
    reply = json.dumps({"items": [{"item_id": first, "reason": "a sensible pick"}]})
    traced = make(FakeListChatModel(responses=[reply]))
    traced.pipeline.chain = traced.pipeline.chain.with_config(callbacks=[recorder])
    answer = traced.recommend(USER_ID, 3)
    assert len(answer.items) == 3 and answer.similar_users == neighbors
    assert "rag_recs_recommend" in recorder.names and "candidates" in recorder.names


@pytest.mark.parametrize("proposer", ["llm", "random"])
def test_without_an_llm_the_steps_run_directly_with_the_chains_result(make, proposer):
    """No LLM: the steps are called in turn, no chain built; the chain, once asked for, runs
    them instead and answers the same."""
    direct = make(proposer=proposer, order="proposal", seed=5)
    answer = direct.recommend(USER_ID, 4)
    assert direct.pipeline._chain is None  # never built
    recorder = ChainNames()
    chained = make(proposer=proposer, order="proposal", seed=5)
    chained.pipeline.chain = chained.pipeline.chain.with_config(callbacks=[recorder])
    again = chained.recommend(USER_ID, 4)
    assert "rag_recs_recommend" in recorder.names
    assert [(i.item_id, i.source) for i in again.items] == [
        (i.item_id, i.source) for i in answer.items
    ]
    assert again.similar_users == answer.similar_users and again.proposed == answer.proposed
    assert {"neighbors", "ranker"} <= set(answer.timings) and set(answer.timings) == set(
        again.timings
    )


def test_a_ranked_pool_proposes_its_first_k_and_can_never_repeat(make):
    """The LLM's ranking (here: every item of the pool, scored) proposes exactly k items."""
    assistant = make(order="proposal")
    answer = assistant.recommend(USER_ID, 4)
    assert answer.proposed == 0  # no LLM: nothing proposed, the ranker answers
    shuffled = make(proposer="random", order="proposal", seed=3)
    first = shuffled.recommend(USER_ID, 4)
    assert first.proposed == 4 and not [r for r in first.rejected if r.reason == "duplicate"]
    again = make(proposer="random", order="proposal", seed=3).recommend(USER_ID, 4)
    assert [i.item_id for i in first.items] == [i.item_id for i in again.items]  # seeded
    assert {i.source for i in first.items} == {"llm"}  # the proposals, in their order


def test_a_fragment_is_no_reason(make):
    plain = make().recommend(USER_ID, 2)
    first, second = (i.item_id for i in plain.items)
    title = plain.items[0].title
    reply = json.dumps(
        {
            "items": [
                {"item_id": first, "reason": f"The {title}"},
                {"item_id": second, "reason": "People who read what you read enjoyed this."},
            ]
        }
    )
    answer = make(FakeListChatModel(responses=[reply])).recommend(USER_ID, 2)
    by_id = {i.item_id: i for i in answer.items}
    assert by_id[first].reason == by_id[first].evidence.sentence()
    assert by_id[first].reason_by == "evidence"
    assert by_id[second].reason.startswith("People who read what you read enjoyed this.")
    assert by_id[second].reason_by == "llm"


@pytest.fixture(scope="module")
def dated(ranker_config) -> Assistant:
    """Twelve films from 1975 to 2008, three of them from the 1990s; user 1 saw two."""
    years = [1975, 1982, 1988, 1991, 1994, 1999, 2001, 2003, 2005, 2006, 2007, 2008]
    items = pd.DataFrame(
        {
            ITEM: range(1, 13),
            TITLE: [f"Film {i} ({y})" for i, y in enumerate(years, 1)],
            GENRES: [["Comedy"]] * 12,
        }
    )
    rows = [(u, i, 4.0) for u in range(1, 30) for i in range(1, 13) if (u * 7 + i) % 3 == 0]
    rows += [(1, 4, 5.0)]
    data = Dataset(pd.DataFrame(rows, columns=[USER, ITEM, RATING]), items=items, name="dated")
    return Assistant(data, DeepFMRanker(ranker_config()).fit(data))


def test_years_from_titles_hold_or_are_said_to_be_impossible(dated, make):
    answer = dated.ask("2 films from the 90s for user 1")
    assert answer.items and all(1990 <= title_year(i.title) <= 1999 for i in answer.items)
    assert not answer.items[0].title.startswith("Film 4 ")  # seen by user 1
    assert dated.ask("films before 1950 for user 1").message.startswith("No unseen item")
    undated = make().ask(f"2 items from the 90s for user {USER_ID}")
    assert len(undated.items) == 2
    assert any("from 1990 to 1999" in n and "could not be applied" in n for n in undated.notes)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("3 movies from the 90s for user 5", (1990, 1999)),
        ("films for user 1995", None),  # an id is no year
        ("released in 1994", (1994, 1994)),
        ("anything before 1980", (0, 1979)),
        ("after 2000 please", (2001, 9999)),
        ("between 1995 and 1990", (1990, 1995)),
        ("some '80s comedies", (1980, 1989)),
    ],
)
def test_year_ranges_in_questions(text, years):
    assert year_range(text) == years


def test_year_descriptions():
    assert describe((1990, 1999)) == "from 1990 to 1999"
    assert describe((0, 1979)) == "before 1980"
    assert describe((2001, 9999)) == "from 2001 on"


def test_a_taste_without_a_store_is_said_not_dropped(make):
    answer = make().ask(f"something light-hearted for user {USER_ID}")
    assert answer.items
    assert any("light-hearted" in n and "could not be applied" in n for n in answer.notes)


def test_the_llm_words_stream_while_it_writes(make):
    plain = make().recommend(USER_ID, 2)
    reply = json.dumps({"items": [{"item_id": i.item_id, "reason": "fits"} for i in plain.items]})
    assistant = make(FakeListChatModel(responses=[reply]))
    pieces: list[str] = []
    assistant.stream_to = pieces.append
    answer = assistant.recommend(USER_ID, 2)
    assert len(pieces) > 3 and "".join(pieces).strip() == reply  # token by token, then a newline
    assert [i.item_id for i in answer.items] == [i.item_id for i in plain.items]
    assert {i.source for i in answer.items} == {"llm"}
