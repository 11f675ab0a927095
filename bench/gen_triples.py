"""A seeded generator of realistic synthetic fact triples for benchmarks, streamed to JSONL."""
from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --- vocabularies -------------------------------------------------------------------------------
# Real-sounding parts from many languages, so that names look like the open-world entities of
# Wikidata rather than "Entity 17", and so that embeddings of different names differ as they do
# in real data. Tuples: these are constants, never mutated.

FEMALE = (
    "Mariela", "Ingrid", "Amara", "Yuki", "Sofia", "Leila", "Nadia", "Chiara", "Freya", "Priya", "Ayesha",
    "Elena", "Mei", "Olga", "Fatima", "Camille", "Astrid", "Zanele", "Isabel", "Hana", "Lucia", "Nkechi",
    "Rosa", "Anneke", "Sakura", "Teresa", "Malin", "Dalia", "Irene", "Noor", "Valentina", "Ewa", "Greta",
    "Adaeze", "Beatriz", "Ji-woo", "Katarina", "Lena", "Mirela", "Paloma", "Rania", "Saoirse", "Tamar",
    "Ulla", "Vesna", "Wanjiru", "Ximena", "Yara", "Zofia", "Aiko", "Bronwen", "Clara", "Dagny", "Esther",
    "Farida", "Gabriela", "Helga", "Ines", "Jovana", "Kalinda",
)
MALE = (
    "Tomasz", "Kwame", "Hiroshi", "Lars", "Mateo", "Dmitri", "Arjun", "Emeka", "Luca", "Rafael", "Sven",
    "Omar", "Javier", "Kenji", "Pieter", "Aleksander", "Bruno", "Chidi", "Dario", "Einar", "Farid",
    "Gustavo", "Henrik", "Ivan", "Joaquim", "Kofi", "Leandro", "Marek", "Nikolai", "Oskar", "Pavel",
    "Quentin", "Rashid", "Stefan", "Tariq", "Ugo", "Viktor", "Wei", "Yusuf", "Zoltan", "Anders", "Bastien",
    "Cyrus", "Dmitar", "Emil", "Florin", "Goran", "Hamza", "Ilya", "Jasper", "Kaito", "Lorenzo", "Milan",
    "Nuno", "Olav", "Pietro", "Ruben", "Soren", "Tobias", "Vikram",
)
SURNAMES = (
    "Okonkwo", "Halvorsen", "Nakamura", "Kowalski", "Fernandes", "Lindqvist", "Moreau", "Castellanos",
    "Petrov", "Adeyemi", "Rossi", "Vasquez", "Novak", "Haddad", "Bergstrom", "Tanaka", "Mensah", "Ivanova",
    "Dubois", "Kaur", "Oyelaran", "Schreiber", "Sato", "Alvarez", "Brennan", "Chaudhry", "Dimitriou",
    "Eriksen", "Fitzgerald", "Gallo", "Horvath", "Ibrahim", "Jankowski", "Kiplagat", "Lombardi",
    "Mbeki", "Nieminen", "Oliveira", "Pavlovic", "Quispe", "Rahman", "Szabo", "Takahashi", "Umarov",
    "Varga", "Wojcik", "Xiong", "Yilmaz", "Zielinski", "Abernathy", "Bakker", "Costa", "Draganov",
    "Esposito", "Fischer", "Grünwald", "Hoffmann", "Ishikawa", "Jensen", "Kovalenko", "Laurent",
)
# Syllables that compose further surnames and every place name ("Vetr" + "ov" + "o").
STEM_HEAD = (
    "Vetr", "Kal", "Mir", "Ost", "Bel", "Dun", "Ash", "Tor", "Brav", "Cor", "Dal", "Elm", "Fal", "Gor",
    "Hal", "Ilv", "Jar", "Kest", "Lin", "Mar", "Nor", "Orv", "Pel", "Quar", "Ros", "Sar", "Tal", "Ulm",
    "Var", "Wen", "Yar", "Zel", "Alb", "Bran", "Cald", "Dren", "Esk", "Fen", "Glen", "Hart", "Isen", "Kor",
    "Lud", "Mosk", "Nev", "Ober", "Prav", "Rad", "Sol", "Trav", "Uvar", "Vol", "Wil", "Zar", "Amb", "Bor",
    "Cas", "Dor", "Lev", "Mont",
)
STEM_MID = ("", "a", "el", "en", "or", "is", "an", "et", "im", "ov")
STEM_TAIL = (
    "ovo", "mund", "ava", "ford", "haven", "burg", "ville", "ton", "grad", "ia", "stad", "mere", "dale",
    "wick", "holm", "sk", "ino", "era", "ak", "ez", "enko", "ow", "ice", "heim", "by", "port", "field",
    "more", "ona", "ara", "ach", "um", "is", "oss", "ey", "ant",
)
# Endings that make a composed stem read as a surname rather than a town ("Kalenko", "Dorberg").
SURNAME_TAIL = ("son", "ova", "ski", "ez", "enko", "berg", "mann", "ian", "elli", "ado", "ovic", "sen",
                "ard", "ier", "escu", "oglu", "idis", "ström", "ak", "ula", "ewicz", "ani", "oro", "ley")
PLACE_FORMS = ("Port {}", "New {}", "{} Falls", "{} Springs", "Saint {}")
WATER_FORMS = ("Lake {}", "{} River", "Bay of {}", "{} Sound", "Gulf of {}")
VENUE_FORMS = ("{} Stadium", "{} Arena", "Stadion {}", "{} Park")
REGION_FORMS = ("{} Province", "{} County", "Region of {}", "{} Oblast", "{} Prefecture")
FIELDS = (
    "Chemistry", "Physics", "Mathematics", "Medicine", "Economics", "Linguistics", "Marine Biology",
    "Astronomy", "Geology", "Philosophy", "Computer Science", "History", "Sociology", "Botany",
    "Neuroscience", "Architecture", "Music", "Law", "Agriculture", "Materials Science",
)
COMPANY_WORDS = (
    "Dynamics", "Holdings", "Industries", "Systems", "Labs", "Logistics", "Energy", "Foods", "Pharma",
    "Motors", "Textiles", "Mining", "Robotics", "Media", "Airlines", "Shipping", "Capital", "Telecom",
)
MASCOTS = ("Falcons", "Wolves", "Mariners", "Rovers", "Lions", "Comets", "Harriers", "Titans", "Otters", "Ravens")
ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Last", "Northern", "Broken", "Golden", "Distant", "Burning", "Pale",
    "Forgotten", "Endless", "Quiet", "Winter", "Hollow", "Bright", "Salt", "Iron", "Glass", "Velvet",
    "Shattered", "Wandering", "Secret", "Lonely", "Restless", "Midnight", "Amber", "Fallen", "Wild", "Long",
)
NOUNS = (
    "Harbor", "Garden", "River", "Orchard", "Mirror", "Lantern", "Kingdom", "Season", "Letter", "Shore",
    "Bridge", "Tide", "Empire", "Meadow", "Storm", "Voyage", "Archive", "Citadel", "Horizon", "Forest",
    "Island", "Machine", "Promise", "Republic", "Signal", "Summer", "Tower", "Valley", "Weaver", "Witness",
    "Cartographer", "Daughter", "Exile", "Ferryman", "Glacier", "Hunter", "Inheritance", "Journey",
)
WORK_FORMS = ("The {a} {n}", "{n} of the {m}", "The {n}'s {m}", "{a} {n}s", "A {n} in {place}")

# (label, aliases) of real countries; objects are drawn from them with Zipf-like frequencies.
COUNTRIES = (
    ("United States of America", ("USA", "United States", "the US")), ("India", ()), ("China", ("PRC",)),
    ("Germany", ("Federal Republic of Germany",)), ("United Kingdom", ("UK", "Britain")), ("France", ()),
    ("Japan", ()), ("Brazil", ()), ("Italy", ()), ("Canada", ()), ("Russia", ("Russian Federation",)),
    ("Spain", ()), ("Mexico", ()), ("Australia", ()), ("Nigeria", ()), ("South Korea", ("Republic of Korea",)),
    ("Netherlands", ("Holland",)), ("Sweden", ()), ("Poland", ()), ("Turkey", ("Türkiye",)), ("Egypt", ()),
    ("Argentina", ()), ("Norway", ()), ("Kenya", ()), ("Indonesia", ()), ("South Africa", ()), ("Ghana", ()),
    ("Portugal", ()), ("Greece", ()), ("Finland", ()), ("Ireland", ()), ("Chile", ()), ("Peru", ()),
    ("Vietnam", ()), ("Pakistan", ()), ("Iran", ()), ("Austria", ()), ("Switzerland", ()), ("Belgium", ()),
    ("Denmark", ()), ("Hungary", ()), ("Czech Republic", ("Czechia",)), ("Romania", ()), ("Ukraine", ()),
    ("Colombia", ()), ("Morocco", ()), ("Ethiopia", ()), ("Thailand", ()), ("Philippines", ()),
    ("New Zealand", ()), ("Iceland", ()), ("Estonia", ()), ("Serbia", ()), ("Bulgaria", ()), ("Senegal", ()),
)
LANGUAGES = (
    "English", "Spanish", "French", "German", "Mandarin Chinese", "Hindi", "Arabic", "Portuguese",
    "Russian", "Japanese", "Italian", "Korean", "Dutch", "Swedish", "Polish", "Turkish", "Yoruba",
    "Swahili", "Greek", "Finnish", "Norwegian", "Hungarian", "Czech", "Romanian", "Ukrainian", "Vietnamese",
    "Persian", "Bengali", "Tamil", "Zulu", "Amharic", "Icelandic", "Estonian", "Serbian", "Bulgarian",
    "Irish", "Catalan", "Basque", "Welsh", "Tagalog",
)
OCCUPATIONS = (
    "politician", "actor", "physician", "lawyer", "journalist", "engineer", "painter", "novelist", "poet",
    "composer", "architect", "chemist", "physicist", "mathematician", "economist", "diplomat", "singer",
    "film director", "photographer", "historian", "philosopher", "sculptor", "entrepreneur", "banker",
    "association football player", "tennis player", "cyclist", "chess player", "astronomer", "biologist",
    "linguist", "translator", "television presenter", "screenwriter", "pianist", "violinist", "judge",
    "military officer", "civil servant", "art historian",
)
RELIGIONS = ("Catholicism", "Islam", "Buddhism", "Hinduism", "Judaism", "Lutheranism", "Eastern Orthodoxy",
             "Anglicanism", "Sikhism", "Shinto", "Taoism", "Jainism")
SPORTS = ("association football", "tennis", "basketball", "cricket", "cycling", "chess", "ice hockey", "rugby union",
          "volleyball", "athletics", "swimming", "handball", "baseball", "golf", "fencing", "rowing")
INSTRUMENTS = ("piano", "violin", "cello", "guitar", "flute", "clarinet", "trumpet", "drums", "saxophone",
               "harp", "oboe", "double bass", "accordion", "organ", "viola", "bassoon")
INDUSTRIES = ("banking", "automotive industry", "pharmaceutical industry", "software industry", "mining",
              "telecommunications", "aerospace", "retail", "shipbuilding", "food industry", "textile industry",
              "energy industry", "publishing", "insurance", "logistics", "biotechnology")
LITERARY_GENRES = ("novel", "short story", "poetry", "science fiction", "crime fiction", "historical novel",
                   "fantasy", "memoir", "satire", "children's literature")
FILM_GENRES = ("drama film", "comedy film", "documentary film", "thriller film", "animated film",
               "science fiction film", "horror film", "war film", "romance film", "musical film")
MUSIC_GENRES = ("jazz", "rock music", "pop music", "classical music", "folk music", "hip hop music",
                "electronic music", "blues", "heavy metal", "bossa nova")
CONTINENTS = ("Europe", "Asia", "Africa", "North America", "South America", "Oceania", "Antarctica")
PARTY_ADJECTIVES = ("Progressive", "Liberal", "Conservative", "Democratic", "Social", "Green", "National",
                    "Agrarian", "Pirate", "Christian", "Reform", "Labour", "Civic", "Radical", "Unity")
PARTY_NOUNS = ("Party", "Alliance", "Union", "Movement", "Front", "League", "Coalition", "Congress")


# --- entity spaces ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Space:
    """Unique names for the indices 0, 1, 2, ... of one kind of entity.

    An index goes through a seeded affine permutation of the space's capacity, then through a
    split into name parts, so that consecutive indices get unrelated names and no name repeats.
    Past the capacity, `overflow` varies the name per block of indices (a middle initial, a
    year), never repeating either. Nothing is remembered, so a million names cost no memory.
    """

    capacity: int
    scale: int  # the permutation's multiplier, coprime with capacity
    shift: int
    compose: Callable[[int], str]
    overflow: Callable[[str, int], str]

    def name(self, index: int) -> str:
        block, offset = divmod(index, self.capacity)
        name = self.compose((offset * self.scale + self.shift) % self.capacity)
        return name if block == 0 else self.overflow(name, block)


def _space(rng: random.Random, shape: tuple[int, Callable[[int], str]],
           overflow: Callable[[str, int], str] | None = None) -> _Space:
    capacity, compose = shape
    scale = rng.randrange(1, capacity) if capacity > 1 else 1
    while math.gcd(scale, capacity) != 1:
        scale = rng.randrange(1, capacity)
    return _Space(capacity, scale, rng.randrange(capacity), compose, overflow or _numbered)


def _numbered(name: str, block: int) -> str:
    return f"{name} {_roman(block + 1)}"


def _segments(*parts: tuple[int, Callable[[int], str]]) -> tuple[int, Callable[[int], str]]:
    """One index space made of several name forms of their own sizes, end to end."""
    def compose(i: int) -> str:
        for size, form in parts:
            if i < size:
                return form(i)
            i -= size
        raise IndexError(i)
    return sum(size for size, _ in parts), compose


def _roman(n: int) -> str:
    out = []
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)


def _split(i: int, *radices: int) -> list[int]:
    parts = []
    for radix in radices:
        i, part = divmod(i, radix)
        parts.append(part)
    return parts


_STEMS = len(STEM_HEAD) * len(STEM_MID) * len(STEM_TAIL)
_FIRST = FEMALE + MALE


def _stem(i: int) -> str:
    head, mid, tail = _split(i, len(STEM_HEAD), len(STEM_MID), len(STEM_TAIL))
    return STEM_HEAD[head] + STEM_MID[mid] + STEM_TAIL[tail]


def _surname(i: int) -> str:
    # The real-sounding list first, then composed ones ("Kalenko", "Dorberg").
    if i < len(SURNAMES):
        return SURNAMES[i]
    head, mid, tail = _split(i - len(SURNAMES), len(STEM_HEAD), len(STEM_MID), len(SURNAME_TAIL))
    return STEM_HEAD[head] + STEM_MID[mid] + SURNAME_TAIL[tail]


_SURNAME_COUNT = len(SURNAMES) + len(STEM_HEAD) * len(STEM_MID) * len(SURNAME_TAIL)


def _person(i: int) -> str:
    first, last = _split(i, len(_FIRST), _SURNAME_COUNT)
    return f"{_FIRST[first]} {_surname(last)}"


def _middle_initial(name: str, block: int) -> str:
    if block > 26:
        return _numbered(name, block - 26)
    first, last = name.split(" ", 1)
    return f"{first} {chr(ord('A') + block - 1)}. {last}"


def _formed(forms: Sequence[str]) -> tuple[int, Callable[[int], str]]:
    return _segments(*((_STEMS, lambda i, form=form: form.format(_stem(i))) for form in forms))


def _pairs(form: str, first: Sequence[str], second: Sequence[str]) -> tuple[int, Callable[[int], str]]:
    def compose(i: int) -> str:
        a, b = _split(i, len(first), len(second))
        return form.format(first[a], second[b])
    return len(first) * len(second), compose


_STEM_SPACE = (_STEMS, _stem)
_SURNAME_SPACE = (_SURNAME_COUNT, _surname)


def _formed_on(form: str, space: tuple[int, Callable[[int], str]]) -> tuple[int, Callable[[int], str]]:
    size, compose = space
    return size, lambda i: form.format(compose(i))


# Most towns have a plain name; "Port X" and "X Springs" are the minority they are on maps.
_CITY = _segments(_STEM_SPACE, *(_formed_on(form, (2000, _stem)) for form in PLACE_FORMS))
_UNIVERSITY = _segments(_formed_on("University of {}", _STEM_SPACE), _formed_on("{} Institute of Technology", _STEM_SPACE),
                        _formed_on("{} State University", _STEM_SPACE), _formed_on("{} University", _SURNAME_SPACE))
_COMPANY = (len(COMPANY_WORDS) * _SURNAME_COUNT,
            lambda i: "{} {}".format(_surname(i // len(COMPANY_WORDS)), COMPANY_WORDS[i % len(COMPANY_WORDS)]))
_INSTITUTE = (len(FIELDS) * _SURNAME_COUNT,
              lambda i: "{} Institute of {}".format(_surname(i // len(FIELDS)), FIELDS[i % len(FIELDS)]))
_TEAM = _segments(_formed_on("FC {}", _STEM_SPACE),
                  (len(MASCOTS) * _STEMS, lambda i: f"{_stem(i // len(MASCOTS))} {MASCOTS[i % len(MASCOTS)]}"))
_PUBLISHER = _segments(_formed_on("{} Press", _STEM_SPACE), _formed_on("{} Publishing House", _STEM_SPACE),
                       _pairs("{} & {}", SURNAMES, SURNAMES))
# Short titles only; past them a work is told apart by its year, as Wikidata's labels are.
_WORK = _segments(_pairs("The {} {}", ADJECTIVES, NOUNS), _pairs("{} of the {}", NOUNS, NOUNS),
                  _pairs("The {}'s {}", NOUNS, NOUNS), _pairs("{} {}s", ADJECTIVES, NOUNS))


def _work_year(title: str, block: int) -> str:
    return f"{title} ({2024 - block})" if block < 150 else _numbered(title, block - 149)


def _party(i: int) -> str:
    adjective, noun, second = _split(i, len(PARTY_ADJECTIVES), len(PARTY_NOUNS), len(PARTY_ADJECTIVES))
    if second == adjective:
        return f"{PARTY_ADJECTIVES[adjective]} {PARTY_NOUNS[noun]}"
    return f"{PARTY_ADJECTIVES[adjective]} {PARTY_ADJECTIVES[second]} {PARTY_NOUNS[noun]}"


_PARTY = (len(PARTY_ADJECTIVES) ** 2 * len(PARTY_NOUNS), _party)
_AWARD = _segments(_pairs("{} Prize for {}", SURNAMES, FIELDS), _pairs("{} Medal in {}", SURNAMES, FIELDS))
_POSITION = _segments(_formed_on("Mayor of {}", _STEM_SPACE), _formed_on("Governor of {} Province", _STEM_SPACE),
                      _formed_on("Bishop of {}", _STEM_SPACE))


# --- relations ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Relation:
    """A Wikidata property with its label, cloze template and the kind of its objects."""

    id: str
    label: str
    template: str
    object_kind: str
    rate: float  # chance that a subject of an applicable kind has this relation


_R = Relation
RELATIONS: dict[str, tuple[Relation, ...]] = {
    "person": (
        _R("P27", "country of citizenship", "{} is a citizen of", "country", 0.8),
        _R("P106", "occupation", "The occupation of {} is", "occupation", 0.6),
        _R("P19", "place of birth", "{} was born in", "city", 0.5),
        _R("P20", "place of death", "{} died in", "city", 0.12),
        _R("P551", "residence", "{} lives in", "city", 0.15),
        _R("P69", "educated at", "{} was educated at", "university", 0.3),
        _R("P108", "employer", "{} works for", "employer", 0.25),
        _R("P26", "spouse", "{} is married to", "person", 0.15),
        _R("P22", "father", "The father of {} is", "father", 0.08),
        _R("P25", "mother", "The mother of {} is", "mother", 0.08),
        _R("P1412", "languages spoken, written or signed", "{} speaks", "language", 0.2),
        _R("P103", "native language", "The mother tongue of {} is", "language", 0.15),
        _R("P140", "religion or worldview", "{} is affiliated with the religion of", "religion", 0.06),
        _R("P102", "member of political party", "{} is a member of the", "party", 0.08),
        _R("P166", "award received", "{} received the", "award", 0.1),
        _R("P1303", "instrument", "{} plays the", "instrument", 0.05),
        _R("P641", "sport", "{} plays", "sport", 0.06),
        _R("P54", "member of sports team", "{} plays for", "team", 0.05),
        _R("P101", "field of work", "{} works in the field of", "field", 0.1),
        _R("P800", "notable work", "{} is known for", "work", 0.05),
        _R("P39", "position held", "{} holds the position of", "position", 0.04),
        _R("P184", "doctoral advisor", "The doctoral advisor of {} was", "person", 0.03),
    ),
    "city": (
        _R("P17", "country", "{} is located in the country of", "country", 0.95),
        _R("P131", "located in the administrative territorial entity", "{} is located in", "region", 0.8),
        _R("P206", "located in or next to body of water", "{} is located next to", "water", 0.4),
        _R("P190", "twinned administrative body", "{} is twinned with", "city", 0.3),
        _R("P6", "head of government", "The head of government of {} is", "person", 0.4),
        _R("P30", "continent", "{} is located on the continent of", "continent", 0.4),
        _R("P37", "official language", "The official language of {} is", "language", 0.3),
    ),
    "company": (
        _R("P159", "headquarters location", "The headquarters of {} is in", "city", 0.9),
        _R("P17", "country", "{} is located in the country of", "country", 0.6),
        _R("P112", "founded by", "{} was founded by", "person", 0.5),
        _R("P169", "chief executive officer", "The chief executive officer of {} is", "person", 0.5),
        _R("P452", "industry", "{} operates in the industry of", "industry", 0.7),
        _R("P127", "owned by", "{} is owned by", "company", 0.25),
        _R("P571", "inception", "{} was founded in the year", "year", 0.3),
    ),
    "organization": (  # universities, institutes, publishers
        _R("P159", "headquarters location", "The headquarters of {} is in", "city", 0.9),
        _R("P17", "country", "{} is located in the country of", "country", 0.8),
        _R("P112", "founded by", "{} was founded by", "person", 0.4),
        _R("P488", "chairperson", "The chairperson of {} is", "person", 0.5),
        _R("P571", "inception", "{} was founded in the year", "year", 0.6),
        _R("P101", "field of work", "{} works in the field of", "field", 0.5),
    ),
    "team": (
        _R("P115", "home venue", "The home venue of {} is", "venue", 0.8),
        _R("P641", "sport", "{} plays", "sport", 0.9),
        _R("P286", "head coach", "The head coach of {} is", "person", 0.7),
        _R("P17", "country", "{} is located in the country of", "country", 0.6),
        _R("P571", "inception", "{} was founded in the year", "year", 0.4),
    ),
    "book": (
        _R("P50", "author", "{} was written by", "person", 0.95),
        _R("P123", "publisher", "{} was published by", "publisher", 0.5),
        _R("P407", "language of work or name", "{} is written in", "language", 0.6),
        _R("P136", "genre", "The genre of {} is", "literary genre", 0.6),
        _R("P577", "publication date", "{} was published in the year", "year", 0.6),
        _R("P495", "country of origin", "{} originated in", "country", 0.5),
    ),
    "film": (
        _R("P57", "director", "{} was directed by", "person", 0.95),
        _R("P86", "composer", "The music of {} was composed by", "person", 0.5),
        _R("P161", "cast member", "{} stars", "person", 0.7),
        _R("P136", "genre", "The genre of {} is", "film genre", 0.7),
        _R("P495", "country of origin", "{} originated in", "country", 0.6),
        _R("P577", "publication date", "{} was released in the year", "year", 0.6),
    ),
    "album": (
        _R("P175", "performer", "{} was performed by", "person", 0.95),
        _R("P264", "record label", "{} was released by", "company", 0.6),
        _R("P136", "genre", "The genre of {} is", "music genre", 0.8),
        _R("P577", "publication date", "{} was released in the year", "year", 0.7),
    ),
}

# Share of subjects of each kind. People dominate real knowledge bases, as here.
SUBJECT_KINDS: tuple[tuple[str, float], ...] = (
    ("person", 0.55), ("city", 0.12), ("company", 0.08), ("organization", 0.07), ("team", 0.03),
    ("book", 0.07), ("film", 0.05), ("album", 0.03),
)


def relation_count() -> int:
    """The number of distinct relations (Wikidata ids) that generate() uses."""
    return len({r.id for relations in RELATIONS.values() for r in relations})


# --- the generator ------------------------------------------------------------------------------

class _Zipf:
    """Draws from a fixed pool with probability falling as 1/rank**s, as real object counts do."""

    def __init__(self, pool: Sequence[Any], s: float = 1.0) -> None:
        self.pool = pool
        self.cum: list[float] = []
        total = 0.0
        for rank in range(len(pool)):
            total += 1.0 / (rank + 1) ** s
            self.cum.append(total)

    def draw(self, rng: random.Random) -> Any:
        return self.pool[bisect.bisect_left(self.cum, rng.random() * self.cum[-1])]


def generate(n: int = 100_000, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield `n` facts as dicts {subject, relation, relation_id, object, template[, object_aliases]}.

    The same (n, seed) gives the same facts. Each subject has about four facts, on distinct
    relations, so no (subject, relation) repeats and importing the facts supersedes nothing.
    Objects that are people, cities, companies, universities or works are drawn mostly from
    the entities that are also subjects, so the facts form a graph with multi-hop paths.
    Memory does not grow with n.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    rng = random.Random(seed)
    spaces = {
        "person": _space(rng, (len(_FIRST) * _SURNAME_COUNT, _person), _middle_initial),
        "city": _space(rng, _CITY),
        "water": _space(rng, _formed(WATER_FORMS)),
        "region": _space(rng, _formed(REGION_FORMS)),
        "venue": _space(rng, _formed(VENUE_FORMS)),
        "university": _space(rng, _UNIVERSITY),
        "company": _space(rng, _COMPANY),
        "institute": _space(rng, _INSTITUTE),
        "team": _space(rng, _TEAM),
        "publisher": _space(rng, _PUBLISHER),
        "work": _space(rng, _WORK, _work_year),
        "party": _space(rng, _PARTY),
        "award": _space(rng, _AWARD),
        "position": _space(rng, _POSITION),
    }
    # The space each subject kind names its subjects from; works share one space of titles, and
    # "organization" subjects alternate between universities, institutes and publishers.
    subject_space = {"person": "person", "city": "city", "company": "company", "team": "team",
                     "book": "work", "film": "work", "album": "work"}
    pools = {
        "country": _Zipf(COUNTRIES, 1.1), "language": _Zipf(LANGUAGES), "occupation": _Zipf(OCCUPATIONS, 0.8),
        "religion": _Zipf(RELIGIONS), "sport": _Zipf(SPORTS), "instrument": _Zipf(INSTRUMENTS),
        "industry": _Zipf(INDUSTRIES, 0.7), "field": _Zipf(FIELDS, 0.6), "continent": _Zipf(CONTINENTS, 0.8),
        "literary genre": _Zipf(LITERARY_GENRES), "film genre": _Zipf(FILM_GENRES),
        "music genre": _Zipf(MUSIC_GENRES),
    }
    kinds = [kind for kind, _ in SUBJECT_KINDS]
    kind_cum = list(_cumulative([share for _, share in SUBJECT_KINDS]))
    counters = dict.fromkeys(list(spaces) + ["organization"], 0)
    # How many subjects of each space the run will have, roughly: object indices are drawn below
    # about 1.5 times that, so that two objects in three are subjects too (multi-hop paths).
    subjects = max(1, n // 4)
    expected = {space: 1 for space in spaces}
    for kind, share in SUBJECT_KINDS:
        target = subject_space.get(kind, "university")
        expected[target] += int(subjects * share)
    expected["university"] = expected["institute"] = expected["publisher"] = max(
        1, int(subjects * dict(SUBJECT_KINDS)["organization"] / 3))

    def entity(space: str, skew: float = 1.0) -> str:
        # u**skew with skew > 1 favours low indices: a few hub entities get many facts.
        limit = max(50, int(expected[space] * 1.5))
        return spaces[space].name(int(limit * rng.random() ** skew))

    def parent(child: str, first_names: Sequence[str]) -> str:
        # Parents share the child's surname, as they mostly do in the data this imitates.
        return f"{rng.choice(first_names)} {child.rsplit(' ', 1)[-1]}"

    def obj(relation: Relation, subject: str) -> tuple[str, tuple[str, ...]]:
        kind = relation.object_kind
        if kind == "country":
            return pools["country"].draw(rng)
        if kind in pools:
            return pools[kind].draw(rng), ()
        if kind == "year":
            return str(int(2024 - 180 * rng.random() ** 1.5)), ()
        if kind == "father":
            return parent(subject, MALE), ()
        if kind == "mother":
            return parent(subject, FEMALE), ()
        if kind == "employer":
            kind = ("company", "company", "university", "institute")[rng.randrange(4)]
        if kind in ("city", "person", "company"):
            return entity(kind, 2.0 if kind == "city" else 1.0), ()
        return entity(kind, 1.5), ()

    emitted = 0
    while emitted < n:
        kind = kinds[bisect.bisect_left(kind_cum, rng.random() * kind_cum[-1])]
        space = subject_space.get(kind) or ("university", "institute", "publisher")[counters["organization"] % 3]
        counters["organization"] += kind == "organization"
        subject = spaces[space].name(counters[space])
        counters[space] += 1
        relations = [r for r in RELATIONS[kind] if rng.random() < r.rate] or [RELATIONS[kind][0]]
        for relation in relations:
            value, aliases = obj(relation, subject)
            if value == subject:
                continue  # nobody is their own spouse or twin town
            fact: dict[str, Any] = {"subject": subject, "relation": relation.label, "relation_id": relation.id,
                                    "object": value, "template": relation.template}
            if aliases:
                fact["object_aliases"] = list(aliases)
            yield fact
            emitted += 1
            if emitted == n:
                return


def _cumulative(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write `--n` facts generated with `--seed` to `--out` as JSON Lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="number of facts (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    subjects: set[str] = set()
    count = 0
    with open(args.out, "w", encoding="utf-8", buffering=1 << 20) as stream:
        for fact in generate(args.n, args.seed):
            stream.write(json.dumps(fact, ensure_ascii=False))
            stream.write("\n")
            count += 1
            if count <= 200_000:  # a bounded sample for the summary, not the whole run
                subjects.add(fact["subject"])
    elapsed = time.perf_counter() - start
    print(f"wrote {count} facts ({relation_count()} relations, about "
          f"{min(count, 200_000) / max(1, len(subjects)):.1f} facts per subject) to {args.out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
