"""The ``agent`` style's vocabulary: places, airlines, hotels, menus, programming languages, services and their
failures, shops, ticket projects, tool names and the other lists the agent traces draw from (written for this
project; no external data). The words are data, in ``agent_vocabulary.json`` beside this module (shipped as
package data), read once by :func:`agent_vocabulary`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

from .vocabulary import read_data

__all__ = [
    "AgentVocabulary",
    "Airline",
    "Allergen",
    "Carrier",
    "Cuisine",
    "Destination",
    "Dish",
    "Failure",
    "Home",
    "Issue",
    "Language",
    "Project",
    "SeatPref",
    "agent_vocabulary",
]

DATA_FILE = "agent_vocabulary.json"


class Home(NamedTuple):
    """Where the user lives: the city, its airport code and the currency prices are shown in."""

    city: str
    airport: str
    currency: str


class Destination(NamedTuple):
    """A city the user travels to, its country (never written in a booking: questions infer it), airport code and
    districts."""

    name: str
    country: str
    airport: str
    districts: tuple[str, ...]


class Airline(NamedTuple):
    """A made-up airline and its two-letter code."""

    name: str
    code: str


class SeatPref(NamedTuple):
    """A seat preference: the word, a paraphrase for questions, the seat letters it means and how the user says it."""

    word: str
    paraphrase: str
    letters: str
    statement: str


class Allergen(NamedTuple):
    """Something the user may be allergic to, and a paraphrase."""

    word: str
    paraphrase: str


class Dish(NamedTuple):
    """A menu item and the allergens it contains."""

    name: str
    allergens: tuple[str, ...]


class Cuisine(NamedTuple):
    """A kind of restaurant and its dishes."""

    name: str
    dishes: tuple[Dish, ...]


class Language(NamedTuple):
    """A programming language as a repository shows it (extension, manifest, other files) and as its test runner
    prints results (``{test}``, ``{file}``, ``{ms}`` filled in); ``case`` is how its test names are written."""

    name: str
    ext: str
    manifest: str
    extras: tuple[str, ...]
    test_cmd: str
    pass_line: str
    fail_line: str
    case: str


class Failure(NamedTuple):
    """Why a service broke: the log line that shows it, the cause as the agent words it (the answer), and a fix."""

    log: str
    cause: str
    fix: str


class Carrier(NamedTuple):
    """A parcel carrier and the prefix of its tracking numbers."""

    name: str
    prefix: str


class Project(NamedTuple):
    """A ticket project's key and the team that owns it."""

    key: str
    team: str


class Issue(NamedTuple):
    """A ticket's title and a paraphrase for questions."""

    title: str
    paraphrase: str


@dataclass(frozen=True)
class AgentVocabulary:
    """Every list the agent traces draw from, in the order the data file holds them."""

    surnames: tuple[str, ...]
    homes: tuple[Home, ...]
    cities: tuple[Destination, ...]
    streets: tuple[str, ...]
    hotel_cores: tuple[str, ...]
    hotel_patterns: tuple[str, ...]
    room_types: tuple[str, ...]
    airlines: tuple[Airline, ...]
    seat_prefs: tuple[SeatPref, ...]
    allergens: tuple[Allergen, ...]
    cuisines: tuple[Cuisine, ...]
    restaurant_patterns: tuple[str, ...]
    restaurant_cores: tuple[str, ...]
    languages: tuple[Language, ...]
    repos: tuple[str, ...]
    source_dirs: tuple[str, ...]
    test_verbs: tuple[str, ...]
    test_nouns: tuple[str, ...]
    services: tuple[str, ...]
    failures: tuple[Failure, ...]
    log_noise: tuple[str, ...]
    """Log lines around the failure (``{path}``, ``{ms}``, ``{rid}``, ``{table}``, ``{n}``, ``{a}``, ``{b}``,
    ``{peer}``, ``{service}`` filled in)."""
    api_paths: tuple[str, ...]
    db_tables: tuple[str, ...]
    products: tuple[str, ...]
    shops: tuple[str, ...]
    carriers: tuple[Carrier, ...]
    projects: tuple[Project, ...]
    issues: tuple[Issue, ...]
    priorities: tuple[str, ...]
    meeting_topics: tuple[str, ...]
    rooms: tuple[str, ...]
    weather: tuple[str, ...]
    web_snippets: tuple[str, ...]
    email_subjects: tuple[str, ...]
    tools: dict[str, tuple[str, ...]]
    """Each tool's role and the names it goes by; a conversation uses one name per role."""
    never_said: tuple[str, ...]
    user_thanks: tuple[str, ...]


@functools.cache
def agent_vocabulary() -> AgentVocabulary:
    """The agent vocabulary, read from the package's data file on first use and kept."""
    return read_data(AgentVocabulary, DATA_FILE)
