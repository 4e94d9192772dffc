"""The words for items: the noun answers and prompts use ("movies", "games", "items"), and
whether a word after a number is a plural noun of things, so "3 games for user 5" reads 3 as
the count in any domain's words."""

from __future__ import annotations

import re

from rag_recs.data.schema import Dataset

DEFAULT_NOUN = "items"
# words after a number that are no things to count: units of time and measure, people, and the
# short function words of the five languages that a plural ending would not tell apart
NOT_COUNTED = frozenset(
    """
    years year days weeks months hours minutes seconds times stars points percent ratings votes
    decades users people persons friends members customers clients readers viewers listeners
    ans annees jours semaines mois heures minutes fois etoiles utilisateurs personnes
    jahre jahren tage tagen wochen monate monaten stunden minuten mal sterne nutzer benutzer leute
    anos dias semanas meses horas minutos veces estrellas usuarios personas
    anni giorni settimane mesi ore minuti volte stelle utenti persone
    the per des les une und oder der die das den dem des ein eine einer einen fur von mit aus bei
    nach para por con sin los las una unos unas del dal alle agli dei delle degli che nei sui
    more plus mehr mas piu other others autres andere otros otras altri altre and are were
    """.split()  # noqa: SIM905 - a word list reads better as text
)
PLURAL_END_RE = re.compile(r"(?:s|x|i|e|en|er|n)$")


def counted_noun(word: str) -> bool:
    """True when ``word`` (lower case, without accents) reads as a plural noun of things:
    "games", "jeux", "spiele", "juegos", "giochi"; not a unit ("years"), not people."""
    return (
        len(word) >= 3
        and word.isalpha()
        and word not in NOT_COUNTED
        and bool(PLURAL_END_RE.search(word))
    )


def default_noun(dataset: Dataset) -> str:
    """The data's word for its items: "movies" for MovieLens (``ml-100k:``/``ml-1m:``), else
    "items"."""
    return "movies" if dataset.name.startswith(("ml-100k:", "ml-1m:")) else DEFAULT_NOUN


def singular(noun: str) -> str:
    """ "movies" -> "movie", "games" -> "game", "series" -> "series" (English plurals)."""
    if noun in ("movies", "series", "species"):
        return "movie" if noun == "movies" else noun
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith("s") and not noun.endswith(("ss", "series")):
        return noun[:-1]
    return noun


def plural(noun: str) -> str:
    """ "game" -> "games", "movies" stays (a plural given is kept)."""
    if noun.endswith(("s", "x")):
        return noun
    if noun.endswith("y") and len(noun) > 2 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"
