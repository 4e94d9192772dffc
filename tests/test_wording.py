"""An LLM may word a fact, but only with the fact's own numbers and titles."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag_recs.assistant.facts import Fact
from rag_recs.assistant.wording import grounded, word_fact

FACT = Fact(
    "liked_count",
    "437 of the 508 users who had 'Fargo (1996)' liked it.",
    {"liked": 437, "had": 508, "title": "Fargo (1996)"},
    item=100,
)
TITLES = ["Fargo (1996)", "Star Wars (1977)", "Heat (1995)"]


@pytest.mark.parametrize(
    ("reply", "by"),
    [
        ("Fargo (1996) was liked by 437 of its 508 viewers.", "llm"),
        ("'Fargo (1996)': 437 of its 508 viewers liked it.", "llm"),
        ("'Fargo (1996)' was liked by 437 people.", "template"),  # leaves out the 508
        ("Fargo (1996) was liked by 440 of its 508 viewers.", "template"),  # an invented count
        ("Fargo (1996) was liked by 86% of its viewers.", "template"),  # a share it computed
        ("437 people liked it, more than Star Wars (1977).", "template"),  # another title
        ("437 liked 'Fargo 2', out of 508.", "template"),  # a title not in the facts
        ("", "template"),
    ],
)
def test_an_llm_wording_is_kept_only_with_the_facts_numbers_and_titles(reply, by):
    llm = FakeListChatModel(responses=[reply])
    text, who = word_fact(llm, "how many people liked Fargo?", FACT, TITLES)
    assert who == by
    assert text == (reply if by == "llm" else FACT.text)


def test_a_failing_llm_leaves_the_template():
    class Broken(FakeListChatModel):
        def _call(self, *args, **kwargs):
            raise RuntimeError("server gone")

    assert word_fact(Broken(responses=["x"]), "q", FACT, TITLES) == (FACT.text, "template")


def test_numbers_inside_a_fact_title_are_the_titles():
    fact = Fact("item", "'2001: A Space Odyssey (1968)' (item 135); 259 users had it.",
                {"title": "2001: A Space Odyssey (1968)", "had": 259}, item=135)  # fmt: skip
    assert grounded("2001: A Space Odyssey (1968) is item 135; 259 users had it.", fact)
    assert not grounded("2001: A Space Odyssey (1968) is loved by 2002 users.", fact)


def test_a_wording_that_drops_the_answer_is_refused():
    fact = Fact(
        "similar_users",
        "Most like user 78, by the overlap of their histories with all 943 users: user 5 "
        "(Jaccard 0.31, 40 movies in common).",
        {"users": [{"user_id": 5, "jaccard": 0.31, "shared": 40}]},
        user=78,
    )
    assert not grounded("The answer is user 78.", fact)
    assert grounded(
        "User 5 is most like user 78 (Jaccard 0.31, 40 movies in common, of 943).", fact
    )
