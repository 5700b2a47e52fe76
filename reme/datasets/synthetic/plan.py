"""What a conversation is planned from before it is rendered: turns, the facts they state, beats (a few turns
about one thing in one session), questions with their evidence, and the personas."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .vocabulary import City, Job, Relative

__all__ = ["Ask", "Beat", "Fact", "Follow", "Line", "Persona", "Swap", "least_loaded_session"]


def least_loaded_session(rng: random.Random, load: list[int], low: int = 0, high: int | None = None) -> int:
    """The session in ``[low, high]`` (clamped to the sessions of ``load``) holding the fewest planned turns, ties
    broken by ``rng``: where the next fact of a plan goes."""
    last = len(load) - 1
    high = last if high is None else min(high, last)
    low = max(0, min(low, last))
    high = max(low, high)
    candidates = list(range(low, high + 1))
    least = min(load[s] for s in candidates)
    return rng.choice([s for s in candidates if load[s] == least])


@dataclass
class Line:
    """One turn before dia_ids are assigned; ``key`` names it for evidence."""

    speaker: int
    text: str
    key: str = ""
    caption: str = ""


@dataclass
class Fact:
    """An observation tagged with the key of the turn it comes from."""

    persona: int
    text: str
    key: str
    event: bool = False


@dataclass
class Beat:
    """A few consecutive turns about one thing, placed in one session."""

    session: int
    owner: int
    lines: list[Line]
    facts: list[Fact] = field(default_factory=list)


@dataclass
class Ask:
    """A question with its answer and the keys of its evidence turns."""

    category: int
    question: str
    answer: str
    keys: list[str]


@dataclass
class Follow:
    """A follow-up exchange: the listener asks, the owner answers (``told`` replaces both in assistant style)."""

    ask: str
    answer: str
    told: str = ""
    fact: str = ""


@dataclass
class Swap:
    """A question that only persona ``owner`` can answer, to be asked about the other persona (category 5)."""

    kind: str
    owner: int
    template: str
    answer: str
    keys: list[str]
    fields: dict[str, str]


@dataclass
class Persona:
    """Who talks (or, in assistant style, the user), and what was said about them."""

    name: str
    ref: str
    subj: str
    obj: str
    poss: str
    job: Job
    city: City
    female: bool = False
    kinds: set[str] = field(default_factory=set)
    traits: list[str] = field(default_factory=list)
    partner: tuple[Relative, str] | None = None
