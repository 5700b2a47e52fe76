"""The synthetic generator's vocabulary: names, jobs, places, pets, hobbies, tastes, events and the stock phrases of
both styles (written for this project; no external data). The words are data, in ``vocabulary.json`` beside this
module (shipped as package data); this module owns their types and loads them once (:func:`vocabulary`).

Each concept that a question asks about carries synonyms, so the question can name it differently from the turn
that states it.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "City",
    "Course",
    "Hobby",
    "Job",
    "Occasion",
    "Preference",
    "Race",
    "Relative",
    "Species",
    "Vocabulary",
    "read_data",
    "vocabulary",
]

T = TypeVar("T")

DATA_FILE = "vocabulary.json"
"""The words, in this package: one key per :class:`Vocabulary` field; a record is an object of its fields."""


class Job(NamedTuple):
    """An occupation: its title, the industry it belongs to, where it is done and a detail of the work."""

    title: str
    sector: str
    workplace: str
    detail: str


class City(NamedTuple):
    """A place, the kind of region it is in (``state``, ``country``...) and that region."""

    name: str
    region_kind: str
    region: str
    feature: str


class Relative(NamedTuple):
    """A person related to a persona: the word the persona uses, a paraphrase for questions, and the
    person's gender where the word fixes it (``True``: female, ``None``: either)."""

    word: str
    paraphrase: str
    female: bool | None = None


class Race(NamedTuple):
    """A race, paraphrases of it, and the range of plausible finishing times in minutes."""

    name: str
    paraphrases: tuple[str, ...]
    fastest: int
    slowest: int


class Course(NamedTuple):
    """Something a persona signs up to learn, and a paraphrase of what it teaches."""

    name: str
    paraphrase: str


class Occasion(NamedTuple):
    """An occasion for a gift, as said and as paraphrased."""

    word: str
    paraphrase: str


class Species(NamedTuple):
    """A pet animal: the word, the word for a young one, paraphrases, breeds and a photo caption."""

    word: str
    young: str
    paraphrases: tuple[str, ...]
    breeds: tuple[str, ...]
    caption: str
    anecdote: str


class Hobby(NamedTuple):
    """A pastime: its name (the answer), first-person lines mentioning it, its trait and a paraphrase."""

    name: str
    lines: tuple[str, ...]
    trait: str
    paraphrase: str


class Preference(NamedTuple):
    """A taste that can change: what it is about, paraphrases, options and statement templates."""

    topic: str
    paraphrases: tuple[str, ...]
    options: tuple[str, ...]
    first: tuple[str, ...]
    change: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Every word list the generator draws from, in the order the data file holds them."""

    female_names: tuple[str, ...]
    male_names: tuple[str, ...]
    pet_names: tuple[str, ...]
    jobs: tuple[Job, ...]
    home_cities: tuple[City, ...]
    destinations: tuple[City, ...]
    companions: tuple[Relative, ...]
    partners_for_female: tuple[Relative, ...]
    partners_for_male: tuple[Relative, ...]
    others: tuple[tuple[str, bool | None], ...]
    """Third people whose events are distractors, with their gender where the word fixes it (``True``: female)."""
    trip_lengths: tuple[str, ...]
    trip_words: tuple[str, ...]
    trip_details: tuple[str, ...]
    races: tuple[Race, ...]
    race_causes: tuple[str, ...]
    courses: tuple[Course, ...]
    course_days: tuple[str, ...]
    occasions: tuple[Occasion, ...]
    gifts: tuple[str, ...]
    gift_givers: tuple[str, ...]
    giver_paraphrases: dict[str, str]
    species: tuple[Species, ...]
    old_pets: tuple[tuple[str, str], ...]
    shelters: tuple[tuple[str, str], ...]
    hobbies: tuple[Hobby, ...]
    trait_outings: dict[str, tuple[str, ...]]
    preferences: tuple[Preference, ...]
    kid_events: tuple[tuple[str, str], ...]
    partner_surprises: tuple[str, ...]
    new_home_features: tuple[str, ...]
    move_reasons: tuple[str, ...]
    switch_reasons: tuple[tuple[str, str], ...]
    """Why someone changes jobs: as they say it, and as a third-person template."""
    small_talk: tuple[tuple[str, str], ...]
    greetings: tuple[str, ...]
    greeting_replies: tuple[str, ...]
    closings: tuple[str, ...]
    closing_replies: tuple[str, ...]
    bridges: tuple[str, ...]
    elaborations: dict[str, tuple[str, ...]]
    """Second sentences that often follow a persona's news, by kind of news."""
    support: tuple[str, ...]
    """Second sentences that sometimes follow a reaction."""
    reactions: tuple[str, ...]
    distractor_reactions: tuple[str, ...]
    never_said: tuple[str, ...]
    assistant_openers: tuple[str, ...]
    assistant_closers: tuple[str, ...]
    assistant_advice: dict[str, tuple[str, ...]]
    assistant_requests: dict[str, tuple[str, ...]]
    filler_requests: tuple[tuple[str, tuple[str, ...]], ...]


@functools.cache
def vocabulary() -> Vocabulary:
    """The vocabulary, read from the package's data file on first use and kept (every call returns one object)."""
    return read_data(Vocabulary, DATA_FILE)


def read_data(kind: type[T], file: str) -> T:
    """The dataclass ``kind`` read from the package's JSON data file ``file``: one key per field, each value typed
    as the field's annotation says (arrays become tuples, objects records or dicts); a mismatch is a ``ValueError``
    naming the file and the place."""
    text = resources.files("reme.datasets.synthetic").joinpath(file).read_text(encoding="utf-8")
    raw = json.loads(text)
    hints = typing.get_type_hints(kind)
    names = [f.name for f in fields(kind)]  # type: ignore[arg-type]
    if not isinstance(raw, dict) or sorted(raw) != sorted(names):
        raise ValueError(f"{file}: its keys must be the fields of {kind.__name__}")
    return kind(**{name: _typed(hints[name], raw[name], name, file) for name in names})


def _typed(hint: Any, value: Any, where: str, file: str) -> Any:
    """``value`` (parsed JSON) as the type ``hint`` names: arrays become tuples, objects records or dicts."""
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):  # a NamedTuple record
        record = typing.get_type_hints(hint)
        if not isinstance(value, dict) or sorted(value) != sorted(record):
            raise ValueError(f"{file}: {where} must be an object with the fields {sorted(record)}")
        return hint(**{k: _typed(record[k], value[k], f"{where}.{k}", file) for k in hint._fields})
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise ValueError(f"{file}: {where} must be an array")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v, f"{where}[{i}]", file) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{file}: {where} must hold {len(args)} values")
        return tuple(_typed(a, v, f"{where}[{i}]", file) for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        _, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ValueError(f"{file}: {where} must be an object")
        return {k: _typed(item, v, f"{where}.{k}", file) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
            if isinstance(option, type) and option is not type(None) and _is(option, value):
                return value
        raise ValueError(f"{file}: {where} must be {hint}")
    if isinstance(hint, type) and _is(hint, value):
        return value
    raise ValueError(f"{file}: {where} must be {getattr(hint, '__name__', hint)}")


def _is(kind: type, value: Any) -> bool:
    """Whether a JSON scalar is of ``kind`` (a bool is not an int here)."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
