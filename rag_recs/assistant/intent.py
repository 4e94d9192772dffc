"""Understanding a question: which user, how many items, which constraints, or a follow-up.

Deterministic patterns cover the common forms; anything they cannot read is handed to the
LLM (structured output) by the assistant, and an unreadable question gets a helpful reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_K = 5
MAX_K = 100
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "couple of": 2, "a few": 3, "few": 3,
}  # fmt: skip
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}  # fmt: skip
ITEM_NOUNS = (
    "articles|article|items|item|movies|movie|films|film|books|book|recommendations|"
    "suggestions|things|titles|picks|songs|shows|posts|stories|reads|ones|"
    "filme|artikel|bücher|buecher|empfehlungen|livres|livre|séries|recommandations|"
    "películas|peliculas|película|pelicula|artículos|articulos|libros|recomendaciones"
)
_NUM = (
    r"(\d{1,6}|a couple of|couple of|a few|few|one|two|three|four|five|six|seven|eight|nine|ten"
    r"|an?)"
)
# nouns for the person a question is about, in English, French, German and Spanish (and typos)
PERSON_NOUNS = (
    "user|usr|uesr|customer|client|clients|member|reader|viewer|listener|subscriber|person|"
    "utilisateur|utilisatrice|lecteur|lectrice|membre|abonn[ée]e?|"
    "benutzer|benutzerin|nutzer|nutzerin|kunde|kundin|mitglied|leser|leserin|"
    "usuario|usuaria|cliente|lector|lectora|miembro|suscriptor"
)
USER_RE = re.compile(
    r"\buser(?!s\b)(?:[\s_-]*id)?\s*(?:#|no\.?|number|:|=)?\s*([A-Za-z0-9][A-Za-z0-9_.@-]*)", re.I
)
# any other person noun, "uid:5" or "u=5": the id must hold a digit (a word is never an id here)
OTHER_USER_RE = re.compile(
    rf"(?:\b(?:{PERSON_NOUNS})(?:[\s_-]*id)?|\buid|\bu(?==)|(?<![\w#])(?=#))"
    r"\s*(?:#|n[o°º]\.?|nr\.?|number|num[eé]ro|nummer|:|=)?\s*([A-Za-z0-9_.@-]*\d[A-Za-z0-9_.@-]*)",
    re.I,
)
PERSON_RE = re.compile(rf"\b(?:{PERSON_NOUNS}|uid|id)\b|#\s*\d|\bfor\s+[A-Z][a-z]+", re.I)
SELF_RE = re.compile(r"\b(?:me|my|i|mine|myself|moi|mir|mich|m[ií])\b", re.I)
FOLLOW_UP_RE = re.compile(
    r"\b(?:more|another|others?|else|again|instead|also|too|same|them|they|their|"
    r"what about|how about|rather|encore|autres?|noch|mehr|andere|m[aá]s|otros?|otras?)\b",
    re.I,
)
NUM_RE = re.compile(rf"\b{_NUM}\b", re.I | re.ASCII)  # ASCII: "ſ" is no "s" here
NOUN_RE = re.compile(r"\s+(?:(?:new|more|other|unseen|good|different|great)\s+)*(\w[\w'-]*)", re.I)
TOP_RE = re.compile(r"\b(?:top[\s-]*|[nk]\s*=\s*)(\d{1,6})\b", re.I)
WHY_RE = re.compile(
    r"\bwhy\b.*?(?:#\s*(\d{1,6})|\b(?:number|no\.?|item)\s*(\d{1,6})|\b("
    + "|".join(ORDINALS)
    + r")\b)",
    re.I | re.ASCII,
)
NEGATIONS = ("not", "no", "except", "without", "excluding", "avoid", "but not", "nothing", "non")


@dataclass
class Intent:
    """What a question asks for."""

    kind: Literal["recommend", "why", "unknown"] = "recommend"
    user: str | None = None
    k: int | None = None
    include: list[str] = field(default_factory=list)  # genres / topics the items must have
    exclude: list[str] = field(default_factory=list)  # genres / topics they must not have
    like: list[str] = field(default_factory=list)  # free text: "something like X"
    position: int | None = None  # for "why": 1-based position in the last answer, -1 = last
    similar_users_first: bool = False
    # no readable user, but the question refers to a person: answer for nobody rather than guess
    names_person: bool = False
    # no person named, but it continues the conversation ("3 more", "what about comedies?")
    follow_up: bool = False

    @property
    def k_or_default(self) -> int:
        return self.k if self.k is not None else DEFAULT_K


def _number(text: str) -> int:
    text = text.lower()
    return int(text) if text.isdigit() else NUMBER_WORDS[text]


_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
_UNITS += "fifteen sixteen seventeen eighteen nineteen"
UNIT_WORDS = {w: n for n, w in enumerate(_UNITS.split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
TENS_WORDS = {w: 10 * (n + 2) for n, w in enumerate(_TENS.split())}
_WORDS = f"{'|'.join(UNIT_WORDS)}|{'|'.join(TENS_WORDS)}|hundred"
# a number word first ("and" alone is no number), then more, "and" allowed between them
SPELLED_RE = re.compile(rf"((?:{_WORDS})(?:[\s-]+(?:{_WORDS}|and))*)\b", re.I | re.ASCII)


def _spelled_number(text: str) -> int | None:
    """'seventy-eight ...' -> 78 (English, below 1000); None when ``text`` starts otherwise."""
    match = SPELLED_RE.match(text)
    if not match:
        return None
    total = current = 0
    for word in re.split(r"[\s-]+", match.group(1).lower()):
        if word in UNIT_WORDS:
            current += UNIT_WORDS[word]
        elif word in TENS_WORDS:
            current += TENS_WORDS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
    total += current
    return total


def genre_forms(genre: str) -> set[str]:
    """Ways a question may name a genre: 'Comedy' -> comedy, comedies; 'Sci-Fi' -> sci-fi, scifi."""
    g = genre.lower()
    forms = {g, g + "s", g.replace("-", ""), g.replace("-", " "), g.replace("'s", "")}
    if g.endswith("y"):
        forms.add(g[:-1] + "ies")
    return {f for f in forms if len(f) > 2}


# "something like X" / "similar to X": quoted anywhere, or unquoted after a noun of things (so
# "I would like 3 movies" is no request), up to punctuation or the next part of the question
LIKE_QUOTED = re.compile(r"\b(?:like|similar to)\s+[\"“'‘]([^\"”'’]+)[\"”'’]", re.I)
LIKE_PLAIN = re.compile(
    r"\b(?:something|anything|stuff|ones?|movies?|films?|items?|articles?|books?|titles?)\s+"
    r"(?:like|similar to)\s+(.+?)"
    r"(?=\s*(?:[,;!?]|\.(?:\s|$)|\bfor\s+(?:the\s+)?(?:user|customer|client|member|reader|viewer)"
    r"|\bto\s+(?:user|customer|client|member|reader|viewer)|\bbut\b|\band\s+(?:give|explain)|$))",
    re.I,
)


def parse_question(question: str, genres: Iterable[str] = ()) -> Intent:
    """Read user, k, constraints or a follow-up from ``question`` (no LLM involved)."""
    text = " ".join(question.split())
    lower = text.lower()
    why = WHY_RE.search(text)
    if why is None and re.match(r"\s*why\b", lower) and not USER_RE.search(text):
        return Intent(kind="why")  # a plain "why?": explain every item of the last answer
    if why:
        number = why.group(1) or why.group(2)
        position = int(number) if number else ORDINALS[why.group(3).lower()]
        user = USER_RE.search(text)
        return Intent(kind="why", position=position, user=user.group(1) if user else None)
    intent = Intent()
    user = USER_RE.search(text)
    if user is None or not any(c.isdigit() for c in user.group(1)):
        other = OTHER_USER_RE.search(text)
        user = other or user
    if user:
        intent.user = user.group(1).rstrip(".,;:!?")
        glued = text[user.start(1) - 1].isalpha()  # "userone" is an id, not "user one"
        spelled = None if glued else _spelled_number(text[user.start(1) :])
        if spelled is not None:
            intent.user = str(spelled)
    elif person := re.search(rf"\b(?:{PERSON_NOUNS})\s+", text, re.I):
        spelled = _spelled_number(text[person.end() :])
        intent.user = None if spelled is None else str(spelled)
        intent.names_person = spelled is None
    elif PERSON_RE.search(text):
        intent.names_person = True
    else:
        intent.follow_up = bool(FOLLOW_UP_RE.search(text) or SELF_RE.search(text))
    genre_words = {form: g for g in genres for form in genre_forms(g)}
    top = TOP_RE.search(text)
    if top:
        intent.k = int(top.group(1))
    for match in NUM_RE.finditer(text):  # a number followed by an item noun or a genre
        after = NOUN_RE.match(text, match.end())
        noun = after.group(1).lower() if after else ""
        if re.fullmatch(ITEM_NOUNS, noun) or noun in genre_words:
            if user and user.start() <= match.start() < user.end():
                continue  # the digits of "user 78 items" belong to the user
            intent.k = _number(match.group(1))
            break
    for form, genre in sorted(genre_words.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", lower):
            before = lower[max(0, m.start() - 14) : m.start()]
            negated = any(re.search(rf"\b{n}\s+(?:\w+\s+)?$", before) for n in NEGATIONS)
            target = intent.exclude if negated else intent.include
            if genre not in target:  # asked for and excluded: both kept, so it is reported
                target.append(genre)
    like = LIKE_QUOTED.search(text) or LIKE_PLAIN.search(text)
    if like and like.group(1).strip(" .,;!?"):
        intent.like.append(like.group(1).strip(" .,;!?"))
    intent.similar_users_first = bool(re.search(r"similar\s+users?", lower))
    if (
        intent.user is None
        and intent.k is None
        and not (intent.include or intent.like or intent.follow_up or intent.names_person)
    ):
        intent.kind = "unknown"
    return intent
