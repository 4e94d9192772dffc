"""Reading a question about the data ("what has user 12 watched?", "how many people liked
Fargo?", "what about her favourite genres?"): which fact, about whom or which item, and whether
a pronoun points back to the conversation's user or its last item.

Patterns in English, French, German, Spanish and Italian; a question that asks for
recommendations (a verb such as "suggest", or a count of items) is never a data question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rag_recs.assistant.lexicon import plain

FactKind = Literal[
    "history", "favourites", "similar_users", "seen", "liked_count", "recent", "item"
]
_VERBS = (
    r"(?:seen|watched|viewed|read|played|heard|listened to|bought|purchased|rated|liked|had|"
    r"tried|visited|ordered|streamed|vu|regarde|lu|joue|ecoute|achete|aime|note|gesehen|"
    r"angeschaut|gelesen|gespielt|gehort|gekauft|bewertet|gemocht|visto|leido|jugado|"
    r"escuchado|comprado|valorado|letto|giocato|ascoltato|comprato|apprezzato)"
)
_PERSON = (
    r"(?:(?:the\s+)?(?:user|customer|client|member|reader|viewer|listener|player|person)\s*#?\s*"
    r"[\w.@-]*\d[\w.@-]*|#\s*\d+|l'utilisateur\s*\S+|l'utilisatrice\s*\S+|(?:der\s+|die\s+)?"
    r"(?:nutzer|nutzerin|benutzer|benutzerin|kunde|kundin)\s*\S+|(?:el\s+|la\s+)?(?:usuario|"
    r"usuaria|cliente)\s*\S+|l'utente\s*\S+|(?:il\s+)?(?:cliente|utente)\s*\S+|she|he|they|"
    r"her|him|them|elle|il|ils|sie|er|ella|el|ellos|lei|lui|loro)"
)
RECOMMEND_RE = re.compile(
    r"\b(?:suggest|recommend|propose|give|should|next|suggere|suggerer|conseill|recommand|"
    r"propos|empfiehl|empfehl|vorschlag|schlag|gib|geben|recomiend|recomend|sugier|suger|"
    r"propon|da(?:me|le)|consigli|suggerisc|raccomand|proponi|dai)",
    re.I,
)
PATTERNS: list[tuple[FactKind, re.Pattern[str]]] = [
    (
        "similar_users",
        re.compile(
            r"\bwho(?:'s| is| are)?\s+(?:the\s+)?(?:most\s+)?(?:like|similar to|closest to)\b|"
            r"\b(?:users?|people|persons?|members?)\s+(?:(?:are|is)\s+)?"
            r"(?:(?:most|the most|closest)\s+)?"
            r"(?:similar|like|closest)\s+(?:to\s+)?(?!first\b)\S|"
            r"\bmost similar (?:users?|people)\b(?!\s+first)|\bnearest neighbou?rs?\b|"
            r"\bqui\s+(?:ressemble|est)\s+le plus\b|\butilisat\w+\s+(?:les\s+plus\s+)?"
            r"(?:similaires|proches)\b|\bwer\s+(?:ist|ahnelt)\b.*\bam\s+ahnlichsten\b|"
            r"\bahnlichste[nr]?\s+(?:nutzer|benutzer|kunden)\b|\bquien\s+se\s+parece\b|"
            r"\busuarios\s+(?:mas\s+)?(?:similares|parecidos)\b|\bchi\s+(?:somiglia|assomiglia)"
            r"\b|\butenti\s+(?:piu\s+)?simili\b",
            re.I,
        ),
    ),
    (
        "favourites",
        re.compile(
            r"\bfavou?rite\s+(?:genres?|tags?|categor(?:y|ies)|topics?|brands?|kinds?|types?)|"
            r"\bwhich\s+(?:genres?|tags?|categor(?:y|ies)|topics?|brands?)\b|"
            r"\bwhat\s+(?:genres?|tags?|categor(?:y|ies)|topics?|brands?|kinds?)\b|"
            r"\b(?:genres?|categories|themes?)\s+(?:prefere|favori)|\blieblings\w+|"
            r"\bbevorzugten?\s+(?:genres?|kategorien|themen)\b|\b(?:generos?|categorias|temas)\s+"
            r"(?:favorit|preferid)|\b(?:generi|genere|categorie|argomenti)\s+(?:preferit|"
            r"favorit)",
            re.I,
        ),
    ),
    (
        "recent",
        re.compile(
            r"\b(?:most\s+recent(?:ly)?|latest|last)\b.*\b(?:like|liked|loved|favou?rite)|"
            r"\b(?:like|liked|loved|enjoyed)\b.*\b(?:most\s+recent(?:ly)?|latest|last)\b|"
            r"\b(?:dernier|derniere)\b.*\baime|\baime\w*\b.*\b(?:dernier|recemment)\b|"
            r"\bzuletzt\b.*\b(?:gemocht|gefallen|gut)|\b(?:gemocht|gefallen)\b.*\bzuletzt\b|"
            r"\b(?:ultim[oa]|mas\s+reciente(?:mente)?)\b.*\bgust|\bgust\w*\b.*\b(?:ultim[oa]|mas\s+"
            r"reciente(?:mente)?)\b|\b(?:ultim[oa]|piu\s+di\s+recente)\b.*\b(?:piaciut|"
            r"apprezzat)|\b(?:piaciut\w*|apprezzat\w*)\b.*\b(?:ultim[oa]|piu\s+di\s+recente)\b",
            re.I,
        ),
    ),
    (
        "liked_count",
        re.compile(
            r"\bhow\s+many\s+(?:people|users|persons|viewers|readers|customers|players|"
            r"listeners|members)\s+(?:have\s+|had\s+)?" + _VERBS + r"\s+(?P<item>.+)$|"
            r"\bcombien\s+de\s+(?:personnes|utilisateurs)\s+ont\s+" + _VERBS + r"\s+(?P<item2>.+)$|"
            r"\bwie\s+viele\s+(?:leute|menschen|nutzer|personen|benutzer)\s+(?:haben|mochten)\s+"
            r"(?P<item3>.+?)(?:\s+" + _VERBS + r")?\s*$|"
            r"\bcuant[oa]s\s+(?:personas|usuarios)\s+(?:han\s+)?" + _VERBS + r"\s+(?P<item4>.+)$|"
            r"\bquante\s+persone\s+hanno\s+" + _VERBS + r"\s+(?P<item5>.+)$|"
            r"\bquanti\s+utenti\s+hanno\s+" + _VERBS + r"\s+(?P<item6>.+)$",
            re.I,
        ),
    ),
    (
        "history",
        re.compile(
            r"\bwhat\s+(?:has|have|did)\s+" + _PERSON + r"\s+(?:already\s+)?"
            r"(?:seen|watched|read|played|listened to|heard|bought|rated|had|watch|see|play|"
            r"buy|rate|listen to)\b|\bhistory\b|\b(?:historique|verlauf|historial|cronologia|"
            r"storico)\b|\bqu'a\s+" + _VERBS + r"\b|\bwas\s+hat\s+.*\b" + _VERBS + r"\s*\??$|"
            r"\bque\s+ha\s+" + _VERBS + r"\b|\bcosa\s+ha\s+" + _VERBS + r"\b",
            re.I,
        ),
    ),
    (
        "seen",
        re.compile(
            r"\b(?:has|have|did|had)\s+" + _PERSON + r"\s+(?:ever\s+|already\s+)?"
            r"(?:see|seen|watch|watched|read|play|played|hear|heard|listen to|listened to|buy|"
            r"bought|rate|rated|have|had|try|tried|order|ordered)\s+(?P<item>.+)$|"
            r"\b"
            + _PERSON
            + r"\s+(?:a-t-(?:il|elle)\s+|a\s+(?:deja\s+)?)"
            + _VERBS
            + r"\s+(?P<item2>.+)$|\bhat\s+"
            + _PERSON
            + r"\s+(?P<item3>.+?)\s+"
            + _VERBS
            + r"\s*$|\bha\s+"
            + _VERBS
            + r"\s+"
            + _PERSON
            + r"\s+(?P<item4>.+)$|\b"
            + _PERSON
            + r"\s+ha\s+(?:gia\s+)?"
            + _VERBS
            + r"\s+(?P<item5>.+)$",
            re.I,
        ),
    ),
    (
        "item",
        re.compile(
            r"^\s*(?:what(?:'s|\s+is)|tell\s+me\s+about|describe|qu'est-ce\s+que|"
            r"c'est\s+quoi|was\s+ist|que\s+es|cos'e|che\s+cos'e)\s+(?P<item>.+?)\s*$",
            re.I,
        ),
    ),
]
USER_PRONOUN_RE = re.compile(
    r"\b(?:she|he|they|her|hers|him|his|them|their|elle|lui|ses|son|sa|leurs?|sie|er|ihr|ihre|"
    r"ihren|sein|seine|seinen|ella|el|ellos|su|sus|lei|suoi|sue|loro)\b",
    re.I,
)
ITEM_PRONOUN_RE = re.compile(
    r"^(?:it|this|that|this one|that one|the same one|ca|cela|es|das|lo|la|esto|eso|questo|"
    r"quello)$",
    re.I,
)
_THE_NOUN = re.compile(
    r"^(?:the\s+|le\s+|la\s+|l'|der\s+|die\s+|das\s+|el\s+|il\s+|lo\s+)?"
    r"(?:(?:movie|film|book|game|song|album|article|item|product|title|show)\s+)?",
    re.I,
)


@dataclass
class FactQuestion:
    """A question about the data: which fact, the user it names (None: see ``user_pronoun``),
    the text naming an item, and whether a pronoun stands for the item."""

    kind: FactKind
    user: str | None = None
    item_text: str | None = None
    user_pronoun: bool = False  # "her", "his", "their": the conversation's user
    item_pronoun: bool = False  # "it": the conversation's last item


def read_fact(
    question: str,
    user: str | None,
    *,
    asks_count: bool = False,
    names_item: Callable[[str], bool] | None = None,
) -> FactQuestion | None:
    """The data question ``question`` asks, or None when it asks for recommendations.

    ``user`` is the user the question names (read by the question patterns), ``asks_count``
    whether they read a count of items ("3 movies": a recommendation). "What is X?" is a data
    question only when ``names_item(X)`` (where given) finds an item: "what's new?" is not."""
    text = " ".join(question.split()).strip(" ?!.¿¡")
    folded = plain(text)
    if len(folded) != len(text):  # "ß" -> "ss" shifts positions; read as written
        folded = text.lower()
    if asks_count or RECOMMEND_RE.search(folded):
        return None
    for kind, pattern in PATTERNS:
        match = pattern.search(folded)
        if match is None:
            continue
        item_text = next((g for g in match.groupdict().values() if g), None)
        if item_text is not None:
            item_text = _item_words(text[match.start() :], folded[match.start() :], item_text)
        found = FactQuestion(kind, user, item_text)
        if kind in ("seen", "liked_count", "item"):
            if item_text is None:
                continue
            found.item_pronoun = bool(ITEM_PRONOUN_RE.match(item_text))
        if kind == "item" and (
            user is not None or names_item and not found.item_pronoun and not names_item(item_text)
        ):
            continue  # "what is a good movie for user 12?" is a recommendation
        if user is None and kind not in ("liked_count", "item"):
            found.user_pronoun = bool(USER_PRONOUN_RE.search(folded))
        return found
    return None


def _item_words(text: str, folded: str, found: str) -> str:
    """The item as written in ``text`` (accents and case kept), without the question mark, a
    leading article or a noun of things ("the movie Fargo" -> "Fargo")."""
    at = folded.rfind(found)
    words = text[at : at + len(found)] if at >= 0 and len(folded) == len(text) else found
    words = words.strip().rstrip("?!.").strip()
    return _THE_NOUN.sub("", words, count=1).strip() or words
