"""Words a question may use in English, French, German, Spanish or Italian: numbers up to 99
and genre or topic names, so the patterns (and the check of what an LLM read) need no LLM to know
them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator


def plain(text: str) -> str:
    """Lower case without accents ("Zwölf" -> "zwolf", "ß" -> "ss"), for matching words."""
    text = text.lower().replace("ß", "ss")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
_UNITS += "fifteen sixteen seventeen eighteen nineteen"
UNIT_WORDS = {w: n for n, w in enumerate(_UNITS.split())}
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
TENS_WORDS = {w: 10 * (n + 2) for n, w in enumerate(_TENS.split())}
_WORDS = f"{'|'.join(UNIT_WORDS)}|{'|'.join(TENS_WORDS)}|hundred"
# a number word first ("and" alone is no number), then more, "and" allowed between them
SPELLED_RE = re.compile(rf"((?:{_WORDS})(?:[\s-]+(?:{_WORDS}|and))*)\b", re.I | re.ASCII)


def spelled_number(text: str) -> int | None:
    """'seventy-eight ...' -> 78 (English, below 1000); None when ``text`` starts otherwise."""
    match = SPELLED_RE.match(text)
    if not match:
        return None
    current = 0
    for word in re.split(r"[\s-]+", match.group(1).lower()):
        if word in UNIT_WORDS:
            current += UNIT_WORDS[word]
        elif word in TENS_WORDS:
            current += TENS_WORDS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
    return current


def _english() -> dict[str, int]:
    words = dict(UNIT_WORDS)
    for ten, value in TENS_WORDS.items():
        words[ten] = value
        words.update({f"{ten}-{u}": value + n for u, n in UNIT_WORDS.items() if 0 < n < 10})
    return words


def _french() -> dict[str, int]:
    units = "zero un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze "
    units += "quinze seize dix-sept dix-huit dix-neuf"
    base = {w: n for n, w in enumerate(units.split())}
    names = {v: k for k, v in base.items()}
    words = dict(base)
    tens = {20: "vingt", 30: "trente", 40: "quarante", 50: "cinquante", 60: "soixante"}
    for value in range(20, 100):
        if value < 70:
            ten, unit = tens[value - value % 10], value % 10
            word = ten if unit == 0 else f"{ten}{' et ' if unit == 1 else '-'}{names[unit]}"
        elif value < 80:  # soixante-dix, soixante et onze, soixante-douze ...
            unit = value - 60
            word = f"soixante{' et ' if unit == 11 else '-'}{names[unit]}"
        else:  # quatre-vingts, quatre-vingt-un, quatre-vingt-dix ...
            unit = value - 80
            word = "quatre-vingts" if unit == 0 else f"quatre-vingt-{names[unit]}"
        words[word] = value
        words[word.replace(" et ", "-et-")] = value  # the 1990 spelling
    for value, word in {70: "septante", 80: "huitante", 90: "nonante"}.items():  # BE / CH
        words[word] = value
        words.update({f"{word}-{names[u]}": value + u for u in range(2, 10)})
        words[f"{word} et un"] = value + 1
    words["une"] = 1
    return words


def _german() -> dict[str, int]:
    units = "null eins zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn "
    units += "vierzehn funfzehn sechzehn siebzehn achtzehn neunzehn"
    words = {w: n for n, w in enumerate(units.split())}
    tens = ["zwanzig", "dreissig", "vierzig", "funfzig", "sechzig", "siebzig", "achtzig", "neunzig"]
    for t, ten in enumerate(tens, 2):
        words[ten] = 10 * t
        for u in range(1, 10):  # einundzwanzig, zweiundzwanzig ...
            unit = "ein" if u == 1 else [w for w, n in words.items() if n == u][0]
            words[f"{unit}und{ten}"] = 10 * t + u
    words.update({"ein": 1, "eine": 1, "einen": 1, "zwo": 2})
    return words


def _spanish() -> dict[str, int]:
    units = "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce "
    units += "quince dieciseis diecisiete dieciocho diecinueve veinte veintiuno veintidos "
    units += "veintitres veinticuatro veinticinco veintiseis veintisiete veintiocho veintinueve"
    words = {w: n for n, w in enumerate(units.split())}
    tens = ["treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]
    names = {v: k for k, v in words.items() if v < 10}
    for t, ten in enumerate(tens, 3):
        words[ten] = 10 * t
        words.update({f"{ten} y {names[u]}": 10 * t + u for u in range(1, 10)})
    words.update({"un": 1, "una": 1, "veintiun": 21})
    return words


def _italian() -> dict[str, int]:
    units = "zero uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici "
    units += "quattordici quindici sedici diciassette diciotto diciannove"
    words = {w: n for n, w in enumerate(units.split())}
    tens = ["venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta", "ottanta"]
    tens.append("novanta")
    names = {v: k for k, v in words.items() if v < 10}
    for t, ten in enumerate(tens, 2):
        words[ten] = 10 * t
        for u in range(1, 10):  # ventuno, ventotto: the ten's last vowel goes before 1 and 8
            stem = ten[:-1] if u in (1, 8) else ten
            words[f"{stem}{names[u]}"] = 10 * t + u
    words["un"], words["una"] = 1, 1
    return words


def _key(words: str) -> str:
    """One spelling of a number word: parts joined by "-" ("vingt et un" -> "vingt-et-un")."""
    return re.sub(r"[-\s]+", "-", words.lower())


WORD_VALUES: dict[str, int] = {}
"""Number words (plain, parts joined by "-") of every language -> value, 0 to 99."""
# English wins a clash ("six")
for _table in (_italian(), _spanish(), _german(), _french(), _english()):
    WORD_VALUES.update({_key(w): n for w, n in _table.items()})
ARTICLES = frozenset({"a", "an", "un", "une", "ein", "eine", "einen", "una"})
"""Words that are a number only as a count ("un film")."""
NOT_IDS = ARTICLES | {"one", "once", "elf", "neuf", "null", "due", "sei", "otto"}
"""Number words never taken as a person's id: articles, and words that mostly mean something
else ("once more", "films neufs", "due to")."""

WORDS_PATTERN = "|".join(
    w.replace("-", r"[-\s]+") for w in sorted(WORD_VALUES, key=len, reverse=True)
)
"""Any number word of :data:`WORD_VALUES`, longest first, as a regular-expression alternation."""
NUMBER_WORD_RE = re.compile(rf"(?<![\w-])({WORDS_PATTERN})(?![\w-])", re.I)
"""A number word in text already made :func:`plain` (hyphens or spaces between parts)."""


def number_word(text: str) -> int | None:
    """The value of the number word that ``text`` starts with ("douze films" -> 12), else None;
    English ones above 99 too ("one hundred and five")."""
    folded = plain(text)
    match = NUMBER_WORD_RE.match(folded)
    if match is None:
        return None
    english = spelled_number(folded)
    return english if english is not None else WORD_VALUES[_key(match.group(1))]


def spelled_length(text: str) -> int:
    """How many characters of ``text`` the number words it starts with take (0 for none):
    "one hundred and five needs ..." -> 20."""
    folded = plain(text)
    if len(folded) != len(text):
        folded = text.lower()
    ends = [m.end(1) for m in (SPELLED_RE.match(folded), NUMBER_WORD_RE.match(folded)) if m]
    return max(ends, default=0)


def numbers_in(text: str, ids_only: bool = False) -> Iterator[tuple[int, int, int]]:
    """Every number written in ``text`` as (value, start, end): digits and number words of the
    five languages. ``ids_only`` leaves out the words in :data:`NOT_IDS` ("un", "once" ...)."""
    folded = plain(text)
    if len(folded) != len(text):  # "ß" -> "ss": positions would shift; compare as written
        folded = text.lower()
    for match in re.finditer(r"(?<![\w.])\d+(?!\w)", text):
        yield int(match.group()), match.start(), match.end()
    for match in NUMBER_WORD_RE.finditer(folded):
        word = _key(match.group(1))
        if ids_only and word in NOT_IDS:
            continue
        english = spelled_number(folded[match.start() :])
        value = english if english is not None else WORD_VALUES[word]
        yield value, match.start(), match.end()


# genre / topic names in French, German, Spanish and Italian (plain forms), by the data's name
GENRE_WORDS: dict[str, tuple[str, ...]] = {
    # MovieLens genres
    "action": ("actionfilm", "actionfilme", "accion", "azione"),
    "adventure": (
        "aventure",
        "aventures",
        "abenteuer",
        "abenteuerfilm",
        "aventura",
        "aventuras",
        "avventura",
        "avventure",
    ),
    "animation": (
        "dessin anime",
        "dessins animes",
        "animationsfilm",
        "animacion",
        "animada",
        "animazione",
        "cartoni animati",
    ),
    "children's": ("enfants", "kinderfilm", "kinderfilme", "infantil", "infantiles", "bambini"),
    "comedy": (
        "comedie",
        "comedies",
        "komodie",
        "komodien",
        "comedia",
        "comedias",
        "commedia",
        "commedie",
    ),
    "crime": (
        "policier",
        "policiers",
        "krimi",
        "krimis",
        "policiaca",
        "policiacas",
        "crimen",
        "poliziesco",
        "polizieschi",
    ),
    "documentary": (
        "documentaire",
        "documentaires",
        "dokumentarfilm",
        "doku",
        "documental",
        "documentario",
        "documentari",
    ),
    "drama": ("drame", "drames", "dramen", "dramas", "dramma", "drammi"),
    "fantasy": ("fantastique", "fantasia", "fantastico"),
    "film-noir": ("film noir", "films noirs", "cine negro"),
    "horror": ("horreur", "horrorfilm", "horrorfilme", "terror", "miedo", "orrore"),
    "musical": ("comedie musicale", "comedies musicales", "musicales"),
    "mystery": ("mystere", "mysteres", "misterio", "mistero", "gialli"),
    "romance": (
        "romantique",
        "romantiques",
        "liebesfilm",
        "liebesfilme",
        "romantica",
        "romantici",
        "romantiche",
    ),
    "sci-fi": (
        "science-fiction",
        "science fiction",
        "ciencia ficcion",
        "ciencia-ficcion",
        "fantascienza",
    ),
    "thriller": ("thrillers", "suspense"),
    "war": ("guerre", "kriegsfilm", "kriegsfilme", "guerra", "film di guerra"),
    "western": ("westerns",),
    # topics of the generated data
    "technology": ("technologie", "technik", "tecnologia"),
    "science": ("wissenschaft", "ciencia", "ciencias", "scienza"),
    "health": ("sante", "gesundheit", "salud", "salute"),
    "sports": ("sport", "deportes", "deporte"),
    "politics": ("politique", "politik", "politica"),
    "business": ("affaires", "wirtschaft", "negocios", "economia"),
    "travel": ("voyage", "voyages", "reisen", "viajes", "viaggi", "viaggio"),
    "food": ("cuisine", "essen", "comida", "cocina", "cibo", "cucina"),
    "culture": ("kultur", "cultura"),
    "climate": ("climat", "klima", "clima"),
    "education": ("bildung", "educacion", "istruzione"),
    "finance": ("finanzen", "finanzas", "finanza"),
}
