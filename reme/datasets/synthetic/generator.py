"""The synthetic generator's entry points and its plan: ``generate_synthetic`` seeds one random stream per
conversation, ``plan`` places every story (by name, from the registry), distractor and trap in a fixed order, and
``render`` writes the LoCoMo item. The order of the random draws is the output's identity: the same arguments give
the same items, byte for byte."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from reme.datasets.checks import check_int
from reme.errors import BadInputError

from . import life_stories  # noqa: F401  (registers the life stories; event_stories registers with its import below)
from .agent_traces import build as build_agent
from .chinese import build as build_chinese
from .conversation import Conversation
from .distractors import distractor, never_said, resolve_swaps
from .event_stories import EVENT_STORIES
from .plan import Ask
from .registry import STORIES
from .render import render

__all__ = ["STYLES", "build", "generate_synthetic", "plan", "write_synthetic"]

STYLES = ("chat", "assistant", "agent", "chat-zh")
"""``chat``: two friends talking; ``assistant``: a user asking an assistant for help (long replies); ``agent``: a
user giving an agent tasks, with the agent's tool calls and the tools' results as turns (``agent_traces``);
``chat-zh``: two friends talking in Chinese (``chinese``)."""


def generate_synthetic(
    n_conversations: int = 4, sessions: int = 8, seed: int = 0, style: str = "chat"
) -> list[dict[str, Any]]:
    """Generate ``n_conversations`` synthetic conversations as LoCoMo JSON items (``load_locomo`` reads them).

    ``sessions`` is the number of dated sessions per conversation; ``style`` is one of :data:`STYLES`.
    The same arguments always give the same items.
    """
    check_int("n_conversations", n_conversations, 1, 1000)
    check_int("sessions", sessions, 1, 200)
    check_int("seed", seed, -(2**63), 2**63 - 1)
    if style not in STYLES:
        raise BadInputError(f"unknown synthetic style {style!r}: use {', '.join(map(repr, STYLES))}")
    items = []
    for index in range(n_conversations):
        rng = random.Random(f"reme-synthetic/{style}/{seed}/{index}")
        sample_id = f"synth-{style}-{seed}-{index}"
        items.append(build(rng, sample_id, sessions, style))
    return items


def write_synthetic(path: str | os.PathLike[str], **kw: Any) -> Path:
    """Write ``generate_synthetic(**kw)`` to ``path`` as a LoCoMo JSON file (parents created); returns the path."""
    items = generate_synthetic(**kw)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


def build(rng: random.Random, sample_id: str, sessions: int, style: str) -> dict[str, Any]:
    """One conversation of ``sessions`` sessions drawn from ``rng``, planned and rendered as a LoCoMo item."""
    if style == "agent":
        return build_agent(rng, sample_id, sessions)
    if style == "chat-zh":
        return build_chinese(rng, sample_id, sessions)
    conversation = Conversation(rng, sample_id, sessions, style)
    plan(conversation)
    return render(conversation)


def plan(c: Conversation) -> None:
    """Place every story, distractor and question."""
    rng = c.rng
    owners = [0, 1] if c.chat else [0]
    multi = c.n >= 2
    adopter = rng.choice(owners)
    mover = rng.choice(owners) if multi and rng.random() < 0.85 else -1
    switcher = rng.choice(owners) if multi and rng.random() < 0.75 else -1
    hobby_pool = list(c.words.hobbies)
    rng.shuffle(hobby_pool)
    shared = hobby_pool.pop() if c.chat and rng.random() < 0.5 else None
    hobby_keys: list[dict[str, str]] = []
    n_events = min(4, 1 + c.n // 4 + (0 if c.chat else 1))
    for p in owners:
        STORIES["family"](c, p, c.personas[p].female)
        STORIES["job"](c, p, switch=p == switcher)
        STORIES["home"](c, p, move=p == mover)
        if p == adopter and multi:
            STORIES["adopt"](c, p)
        elif rng.random() < 0.7:
            STORIES["old_pet"](c, p)
        STORIES["preference"](c, p, change=multi and rng.random() < 0.85)
        hobbies = [hobby_pool.pop() for _ in range(rng.choice((1, 2)) - (shared is not None))]
        hobby_keys.append(STORIES["hobbies"](c, p, [*hobbies, shared] if shared else hobbies))
        for name in rng.sample(EVENT_STORIES, n_events):
            STORIES[name](c, p)
    if shared is not None:
        a, b = c.personas
        c.asks.append(
            Ask(
                1,
                rng.choice(("What pastime do {a} and {b} have in common?", "Which hobby do {a} and {b} share?")).format(
                    a=a.ref, b=b.ref
                ),
                shared.name,
                [hobby_keys[0][shared.name], hobby_keys[1][shared.name]],
            )
        )
    kinds = ["pet", "race", "trip", "move", "job", "course", "gift"]
    for session in range(c.n):
        for _ in range(rng.choice((0, 1, 1, 2))):
            distractor(c, session, rng.choice(owners), rng.choice(kinds))
    resolve_swaps(c)
    for p in owners:
        never_said(c, p)
