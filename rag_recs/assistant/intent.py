"""Understanding a question: which user, how many items, which constraints, or a follow-up,
read once into one :class:`Intent`.

Deterministic patterns cover the common forms in English, French, German, Spanish and Italian; a
question they cannot read goes to the LLM where one is configured (``assistant.extract``, which
checks what the LLM read against the question), and otherwise gets a helpful reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rag_recs.assistant.lexicon import (
    ARTICLES,
    GENRE_WORDS,
    WORDS_PATTERN,
    number_word,
    numbers_in,
    plain,
    spelled_length,
)
from rag_recs.assistant.nouns import counted_noun
from rag_recs.assistant.years import year_range

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
    "películas|peliculas|película|pelicula|artículos|articulos|libros|recomendaciones|"
    "bucher|series|serien|titres|titel|titulos|lectures|lecturas|choses|sachen|cosas|vorschlage|"
    "propositions|sugerencias|conseils|tipps|documentaires|documentales|"
    "libri|giochi|canzoni|articoli|titoli|consigli|suggerimenti|prodotti|brani|documentari|"
    "album|albums|alben"
)
_NUM = rf"(\d{{1,6}}|a couple of|couple of|a few|few|{WORDS_PATTERN}|an?)"
# nouns for the person a question is about, in English, French, German, Spanish, Italian (typos)
PERSON_NOUNS = (
    "user|usr|uesr|usre|ueser|useer|customer|custmer|costumer|client|clients|member|memeber|"
    "reader|viewer|veiwer|listener|subscriber|person|account|profile|player|gamer|shopper|"
    "joueur|joueuse|auditeur|auditrice|spieler|spielerin|h(?:ö|oe|o)rer(?:in)?|jugador|jugadora|"
    "oyente|"
    "utilisateur|utilisatrice|utilisateurs|lecteur|lectrice|membre|abonn[ée]e?|spectateur|"
    "spectatrice|compte|profil|"
    "benutzer|benutzerin|nutzer|nutzerin|kunde|kunden|kundin|mitglied|leser|leserin|zuschauer|"
    "zuschauerin|abonnent|abonnentin|konto|"
    "usuario|usuaria|cliente|lector|lectora|miembro|suscriptor|espectador|espectadora|socio|"
    "socia|cuenta|perfil|"
    "utente|lettore|lettrice|membro|abbonat[oa]|spettatore|spettatrice|ascoltatore|"
    "ascoltatrice|giocatore|giocatrice|profilo"
)
# people a question may name without an id: never the conversation's user by default
OTHER_PEOPLE = (
    "friend|wife|husband|son|daughter|mother|mom|mum|father|dad|brother|sister|colleague|boss|"
    "kid|kids|guy|girl|boy|neighbou?r|ami|amie|femme|mari|fils|fille|m[èe]re|p[èe]re|fr[èe]re|"
    "s(?:œ|oe)ur|coll[èe]gue|freund|freundin|frau|mann|sohn|tochter|mutter|vater|bruder|"
    "schwester|kollege|kollegin|amigo|amiga|esposa|esposo|hijo|hija|madre|padre|hermano|hermana|"
    "colega|jefe|amico|amica|moglie|marito|figlio|figlia|madre|padre|fratello|sorella|collega"
)
USER_RE = re.compile(
    r"\buser(?!s\b)(?:[\s_-]*id)?\s*(?:#|no\.?|number|:|=)?\s*([A-Za-z0-9][A-Za-z0-9_.@-]*)", re.I
)
# any other person noun, "uid:5" or "u=5": the id must hold a digit (a word is never an id here)
OTHER_USER_RE = re.compile(
    rf"(?:\b(?:{PERSON_NOUNS})(?:[\s_-]*id)?|\buid|\bu(?==)|(?<![\w#])(?=#)|\b(?:with|w/)\s+id)"
    r"\s*(?:#|n[o°º]\.?|nr\.?|number|num[eé]ro|n[uú]mero|nummer|:|=)?\s*"
    r"([A-Za-z0-9_.@-]*\d[A-Za-z0-9_.@-]*)",
    re.I,
)
PERSON_RE = re.compile(
    rf"\b(?:{PERSON_NOUNS}|{OTHER_PEOPLE}|uid|id)\b|#\s*\d|(?-i:\b[Ff]or\s+[A-Z][a-z]+)", re.I
)
# a number word (any of the four languages) after a person noun: "usuario nueve", "user one"
SPELLED_ID_RE = re.compile(
    rf"\b(?:{PERSON_NOUNS})(?:[\s_-]*id)?\s+(?:(?:number|nummer|num[eé]ro|n[uú]mero|no\.?|nr\.?"
    r"|n[°º])(?![^\W\d_])\s*)?",  # a prefix is a word of its own: "nove" is no "no"
    re.I,
)
SELF_RE = re.compile(r"\b(?:me|my|i|mine|myself|moi|mir|mich|m[ií])\b", re.I)
FOLLOW_UP_RE = re.compile(
    r"\b(?:more|another|others?|else|again|instead|also|too|same|them|they|their|"
    r"what about|how about|rather|encore|autres?|noch|mehr|andere|m[aá]s|otros?|otras?|"
    r"altri|altre|ancora|invece|anche)\b",
    re.I,
)
# on text made plain (no accents); ASCII: "ſ" is no "s" here
NUM_RE = re.compile(rf"(?<![\w-]){_NUM}(?![\w-])", re.I | re.ASCII)
NOUN_RE = re.compile(
    r"\s+(?:(?:new|more|other|unseen|good|different|great|nouveaux|nouvelles|autres|bons|bonnes|"
    r"neue|andere|weitere|gute|nuevas|nuevos|otras|otros|buenas|buenos|mas|de|d'|"
    r"nuovi|nuove|altri|altre|buoni|buone|di|"
    r"light[\s-]?hearted|feel[\s-]?good|family[\s-]?friendly|funny|uplifting|cheerful|dark|"
    r"scary|sad|romantic|exciting|relaxing|serious|quirky|classic|epic|cozy|cosy)\b\s*)*"
    r"(\w[\w'-]*)",
    re.I,
)
# a bare count that continues the conversation: "3 more", "2 autres", "noch 3"
MORE_RE = re.compile(
    r"\s+(?:more|others?|else|extra|again|autres|de plus|weitere|mehr|m[aá]s|otr[oa]s|altr[ie]|"
    r"in pi[uù])\b",
    re.I,
)
ITEM_BEFORE_RE = re.compile(rf"\b(?:{ITEM_NOUNS})\s*#?\s*$", re.I)  # "item 42"
YEAR_RE = re.compile(
    r"\b(?:from|in|since|before|after|of|de|des|du|en|aus|von|seit|vor|nach|del|desde|dal|nel|"
    r"dopo|prima)\s+"
    r"(?:the\s+|l'|los\s+|den\s+)?(19\d\d|20\d\d)\b",
    re.I,
)
TOP_RE = re.compile(r"\b(?:top[\s-]*|[nk]\s*=\s*)(\d{1,6})\b", re.I)
WHY_RE = re.compile(
    r"\bwhy\b.*?(?:#\s*(\d{1,6})|\b(?:number|no\.?|item)\s*(\d{1,6})|\b("
    + "|".join(ORDINALS)
    + r")\b)",
    re.I | re.ASCII,
)
NEGATIONS = (
    "not", "no", "except", "without", "excluding", "avoid", "but not", "nothing", "non",
    "sans", "pas", "sauf", "ohne", "kein", "keine", "keinen", "nicht", "au(?:ss|ß)er", "sin",
    "ni", "nada", "excepto", "menos", "senza", "tranne", "eccetto", "niente",
)  # fmt: skip


# a negation, then at most two words that are no conjunction ("pas de films d'horreur")
NEGATED = {
    n: re.compile(
        rf"\b{n}\s+(?:(?!(?:but|mais|aber|pero|sino|ma|and|et|und|y|e|or|ou|oder|o)\b)[\w']+\s+)"
        r"{0,2}"
        r"(?:\w+')?$"
    )
    for n in NEGATIONS
}
MORE_BEFORE_RE = re.compile(r"\b(?:noch|encore|otros|otras|altri|altre|another|more)\s+$", re.I)


@dataclass
class Intent:
    """What a question asks for: the patterns fill it, and the LLM's reading, where one is
    needed, fills the same object (:func:`rag_recs.assistant.extract.read_with_llm`)."""

    kind: Literal["recommend", "why", "unknown"] = "recommend"
    user: str | None = None
    k: int | None = None  # None: the assistant's default (``AssistantConfig.default_k``)
    include: list[str] = field(default_factory=list)  # genres / topics the items must have
    exclude: list[str] = field(default_factory=list)  # genres / topics they must not have
    like: list[str] = field(default_factory=list)  # free text: "something like X"
    taste: str | None = None  # a mood or quality asked for: "light-hearted", "dark"
    years: tuple[int, int] | None = None  # inclusive: "from the 90s" is (1990, 1999)
    position: int | None = None  # for "why": 1-based position in the last answer, -1 = last
    similar_users_first: bool = False
    # no readable user, but the question refers to a person: answer for nobody rather than guess
    names_person: bool = False
    # no person named, but it continues the conversation ("3 more", "what about comedies?")
    follow_up: bool = False


def _number(text: str) -> int:
    text = text.lower()
    if text.isdigit():
        return int(text)
    return NUMBER_WORDS[text] if text in NUMBER_WORDS else number_word(text) or 0


def genre_forms(genre: str) -> set[str]:
    """Ways a question may name a genre (plain, lower case): 'Comedy' -> comedy, comedies,
    comedie, komodie, comedia ...; 'Sci-Fi' -> sci-fi, scifi, science-fiction ..."""
    g = plain(genre)
    forms = {g, g + "s", g.replace("-", ""), g.replace("-", " "), g.replace("'s", "")}
    if g.endswith("y"):
        forms.add(g[:-1] + "ies")
    forms.update(GENRE_WORDS.get(g, ()))
    return {f for f in forms if len(f) > 2}


# moods and qualities a question may ask for; they are searched in the item documents
TASTE_RE = re.compile(
    r"\b(light[\s-]?hearted|feel[\s-]?good|family[\s-]?friendly|funny|uplifting|cheerful|"
    r"wholesome|heart[\s-]?warming|dark|gritty|scary|creepy|sad|moving|romantic|exciting|"
    r"thrilling|relaxing|serious|quirky|thought[\s-]?provoking|classic|epic|cozy|cosy)\b",
    re.I,
)
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
    user_at = (0, 0)  # where the user's id is written (digits or number words)
    if user:
        intent.user = user.group(1).rstrip(".,;:!?")
        user_at = user.span()
        glued = text[user.start(1) - 1].isalpha()  # "userone" is an id, not "user one"
        spelled = None if glued else number_word(text[user.start(1) :])
        if spelled is not None:
            intent.user = str(spelled)
            user_at = (user.start(), user.start(1) + spelled_length(text[user.start(1) :]))
    elif person := SPELLED_ID_RE.search(text):
        spelled = number_word(text[person.end() :])
        intent.user = None if spelled is None else str(spelled)
        intent.names_person = spelled is None
        user_at = (person.start(), person.end() + spelled_length(text[person.end() :]))
    elif PERSON_RE.search(text):
        intent.names_person = True
    else:
        intent.follow_up = bool(FOLLOW_UP_RE.search(text) or SELF_RE.search(text))
    # counts and genres are read on the text without accents ("comédies" as "comedies")
    folded = plain(text)
    if len(folded) != len(text):  # "ß" -> "ss": positions would shift, so read it as written
        folded = text
    genre_words = {form: g for g in genres for form in genre_forms(g)}
    counted: tuple[int, int] | None = None  # where the count was read
    top = TOP_RE.search(text)
    if top:
        intent.k, counted = int(top.group(1)), top.span(1)
    for match in NUM_RE.finditer(folded):  # a number followed by an item noun or a genre
        after = NOUN_RE.match(folded, match.end())
        noun = after.group(1).lower() if after else ""
        more = intent.follow_up and MORE_RE.match(folded, match.end())
        # with one user named, any plural noun of things counts ("3 games", "2 giochi")
        named = intent.user is not None and counted_noun(noun) and not _article(match.group(1))
        if re.fullmatch(ITEM_NOUNS, noun) or noun in genre_words or more or named:
            if user_at[0] <= match.start() < user_at[1]:
                continue  # the digits of "user 78 items" belong to the user
            intent.k, counted = _number(match.group(1)), match.span(1)
            break
    for form, genre in sorted(genre_words.items(), key=lambda kv: -len(kv[0])):
        for m in re.finditer(rf"(?<![\w-]){re.escape(form)}(?![\w-])", folded.lower()):
            before = folded.lower()[max(0, m.start() - 24) : m.start()]
            negated = any(NEGATED.get(n).search(before) for n in NEGATIONS)
            target = intent.exclude if negated else intent.include
            if genre not in target:  # asked for and excluded: both kept, so it is reported
                target.append(genre)
    if intent.user is None and not intent.names_person:
        _numbers_nobody_owns(intent, text, counted)
    like = LIKE_QUOTED.search(text) or LIKE_PLAIN.search(text)
    if like and like.group(1).strip(" .,;!?"):
        intent.like.append(like.group(1).strip(" .,;!?"))
    if (taste := TASTE_RE.search(text)) and not any(taste.group(1) in x for x in intent.like):
        intent.taste = taste.group(1).lower()
    intent.years = year_range(text)
    intent.similar_users_first = bool(re.search(r"similar\s+users?", lower))
    if (
        intent.user is None
        and intent.k is None
        and not (intent.include or intent.like or intent.follow_up or intent.names_person)
    ):
        intent.kind = "unknown"
    return intent


def _article(word: str) -> bool:
    """ "a", "un", "eine": a number only before a known noun of things ("qu'a regardé")."""
    return word.lower() in ARTICLES


def _numbers_nobody_owns(intent: Intent, text: str, counted: tuple[int, int] | None) -> None:
    """A number that is neither the count nor a year may name a person ("what about 12?"), so
    the question is no follow-up; a lone bare one after "me" is the count ("give me 2")."""
    years = {m.start(1) for m in YEAR_RE.finditer(text)}
    loose = [
        (value, start, end)
        for value, start, end in numbers_in(text, ids_only=True)
        if start not in years
        and not (counted and counted[0] <= start < counted[1])
        and not ITEM_BEFORE_RE.search(text, 0, start)  # "item 99999" is an item
    ]
    if not loose:
        return
    count = len(loose) == 1 and loose[0][0] <= MAX_K
    if (
        intent.k is None
        and count
        and (SELF_RE.search(text) or MORE_BEFORE_RE.search(text, 0, loose[0][1]))
    ):
        intent.k = loose[0][0]
        return
    intent.follow_up, intent.names_person = False, True
