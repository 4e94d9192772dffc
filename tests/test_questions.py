"""Reading data questions, pronouns, and counts in any domain's nouns in the five languages."""

from __future__ import annotations

import pytest

from rag_recs.assistant.intent import parse_question
from rag_recs.assistant.nouns import counted_noun, default_noun, plural, singular
from rag_recs.assistant.questions import read_fact
from rag_recs.data.loaders import ML100K_GENRES


def fact_of(question: str):
    intent = parse_question(question, ML100K_GENRES)
    return intent, read_fact(question, intent.user, asks_count=intent.k is not None)


@pytest.mark.parametrize(
    ("question", "kind", "user", "item"),
    [
        ("what has user 12 watched?", "history", "12", None),
        ("who is most like user 12?", "similar_users", "12", None),
        ("which users are most similar to user 3?", "similar_users", "3", None),
        ("has user 12 seen Fargo?", "seen", "12", "Fargo"),
        ("did user 44 play #6393?", "seen", "44", "#6393"),
        ("how many people liked Fargo?", "liked_count", None, "Fargo"),
        ("how many users liked the movie Fargo?", "liked_count", None, "Fargo"),
        ("what did user 12 like most recently?", "recent", "12", None),
        ("what are user 5's favourite genres?", "favourites", "5", None),
        ("what is Fargo?", "item", None, "Fargo"),
        ("Qu'a regardé l'utilisateur 12 ?", "history", "12", None),
        ("Quels sont les genres préférés de l'utilisateur 12 ?", "favourites", "12", None),
        ("L'utilisateur 12 a-t-il vu Fargo ?", "seen", "12", "Fargo"),
        ("Combien de personnes ont aimé Fargo ?", "liked_count", None, "Fargo"),
        ("Was hat Nutzer 12 gesehen?", "history", "12", None),
        ("Wer ist Nutzer 12 am ähnlichsten?", "similar_users", "12", None),
        ("Hat Nutzer 12 Fargo gesehen?", "seen", "12", "Fargo"),
        ("¿Qué ha visto el usuario 12?", "history", "12", None),
        ("¿Quién se parece más al usuario 12?", "similar_users", "12", None),
        ("¿Cuántas personas han valorado Fargo?", "liked_count", None, "Fargo"),
        ("Cosa ha visto l'utente 12?", "history", "12", None),
        ("Quali sono i generi preferiti dell'utente 12?", "favourites", "12", None),
        ("L'utente 12 ha visto Fargo?", "seen", "12", "Fargo"),
        ("Qual è l'ultimo film che è piaciuto all'utente 12?", "recent", "12", None),
    ],
)
def test_data_questions_are_read(question, kind, user, item):
    _, fact = fact_of(question)
    assert fact is not None, question
    assert (fact.kind, fact.user, fact.item_text) == (kind, user, item)


@pytest.mark.parametrize(
    "question",
    [
        "Suggest 2 articles to user 78 that they have not seen, find similar users first",
        "Suggest 3 movies to user 12",
        "what should user 12 watch next?",
        "what is a good movie for user 12?",
        "3 comedies for user 5",
        "Suggerisci 2 film all'utente 42",
    ],
)
def test_recommendation_questions_are_no_data_questions(question):
    assert fact_of(question)[1] is None


@pytest.mark.parametrize(
    ("question", "kind", "user_pronoun", "item_pronoun"),
    [
        ("what about her favourite genres?", "favourites", True, False),
        ("who is most like her?", "similar_users", True, False),
        ("what did they like most recently?", "recent", True, False),
        ("what has he watched?", "history", True, False),
        ("has she seen it?", "seen", True, True),
        ("how many people liked it?", "liked_count", False, True),
        ("what is it?", "item", False, True),
    ],
)
def test_pronouns_point_back(question, kind, user_pronoun, item_pronoun):
    intent, fact = fact_of(question)
    assert intent.user is None
    assert (fact.kind, fact.user_pronoun, fact.item_pronoun) == (kind, user_pronoun, item_pronoun)


@pytest.mark.parametrize(
    ("question", "user", "k"),
    [
        ("3 games for user 5", "5", 3),
        ("Recommend 4 podcasts to user 9", "9", 4),
        ("give user 5 two courses", "5", 2),
        ("user 12 who is 25 years old needs 3 recipes", "12", 3),
        ("Propose 3 jeux au client 8", "8", 3),
        ("Trouve deux recettes pour l'utilisateur 6", "6", 2),
        ("Empfiehl Nutzer 7 drei Spiele", "7", 3),
        ("4 Rezepte für Nutzer 11", "11", 4),
        ("Recomienda 2 canciones al usuario 3", "3", 2),
        ("cinco cursos para el usuario 14", "14", 5),
        ("Suggerisci 2 film all'utente 42", "42", 2),
        ("Consiglia tre giochi all'utente 12", "12", 3),
        ("6 ricette per l'utente 8", "8", 6),
        ("usuario nueve quiere 2 podcasts", "9", 2),
        ("user one hundred and five needs two thrillers", "105", 2),
    ],
)
def test_counts_with_nouns_the_patterns_never_saw(question, user, k):
    intent = parse_question(question, ML100K_GENRES)
    assert (intent.user, intent.k) == (user, k)


def test_a_count_needs_a_named_user_and_a_plural_noun():
    assert parse_question("3 games please", ML100K_GENRES).k is None  # nobody named
    assert parse_question("Qu'a regardé l'utilisateur 12 ?", ML100K_GENRES).k is None
    assert not counted_noun("years") and not counted_noun("the") and counted_noun("giochi")


def test_item_nouns(small_data):
    assert default_noun(small_data) == "items"
    assert (plural("game"), plural("movies"), plural("story")) == ("games", "movies", "stories")
    assert (singular("movies"), singular("stories"), singular("series")) == (
        "movie",
        "story",
        "series",
    )
