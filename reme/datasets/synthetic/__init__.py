"""Seeded synthetic conversations in LoCoMo JSON format, for tests and retrieval benchmarks.

Written from scratch (no network, no language model). Each conversation has two personas (``style="chat"``)
or a user and an assistant (``style="assistant"``, LongMemEval-like), dated sessions spread over months,
facts that change over time (a move, a new job, a pet named later, a changed preference), events, small talk,
and distractor events of other people that share vocabulary with the real ones. Questions follow LoCoMo's
categories (1 multi-hop, 2 temporal, 3 open-domain/inference, 4 single-hop, 5 adversarial) and are worded
with synonyms and several templates per fact, so keyword overlap alone does not find the evidence.

``style="agent"`` is neither: task-oriented agent traces in which the user gives an agent tasks, the agent
calls tools and the tools' results are turns of their own (speaker ``tool``: long JSON, tables, logs, listings);
facts come from the user's turns and from tool results (``agent_traces`` and the ``agent_*`` modules beside it,
words in ``agent_vocabulary.json``).

The same ``seed`` always gives the same output (no set iteration or hash order is involved).

The package: ``generator`` (entry points and the plan), ``registry`` (stories by name), ``life_stories`` and
``event_stories`` (the stories), ``distractors`` (distractors and category-5 traps), ``conversation`` (the plan's
state and primitives), ``plan`` (its records), ``render`` (the LoCoMo item), ``text`` (wording helpers) and
``vocabulary`` (the word lists, loaded once from ``vocabulary.json``).
"""

from __future__ import annotations

from .conversation import KEEP_WORD
from .distractors import NOT_MENTIONED
from .generator import STYLES, generate_synthetic, write_synthetic
from .render import MAX_TURNS, MIN_TURNS, QUESTIONS_PER_CONVERSATION

__all__ = [
    "KEEP_WORD",
    "MAX_TURNS",
    "MIN_TURNS",
    "NOT_MENTIONED",
    "QUESTIONS_PER_CONVERSATION",
    "STYLES",
    "generate_synthetic",
    "write_synthetic",
]
