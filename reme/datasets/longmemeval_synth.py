"""Seeded synthetic questions in LongMemEval JSON format, built from the ``assistant``-style synthetic conversations.

Each item is one question of one synthetic conversation (:func:`reme.datasets.synthetic.generate_synthetic` with
``style="assistant"``). Its haystack holds the sessions of that conversation plus distractor sessions drawn from
the *other* generated conversations, sorted by date, capped at ``haystack_sessions`` sessions but never without
an evidence session. The turns that hold the answer carry ``has_answer: true`` and their sessions are the
``answer_session_ids``. A few abstention items (id ending in ``_abs``) ask about something nobody mentioned and
have no answer session.

LoCoMo category to LongMemEval ``question_type`` (:data:`QUESTION_TYPES`): 1 (multi-hop) -> ``multi-session``,
2 (temporal) -> ``temporal-reasoning``, 3 (open-domain / inference) -> ``single-session-preference``,
4 (single-hop) -> ``single-session-user``; the abstention items, made from category-5 questions without
evidence, are ``single-session-user``. Other category-5 questions are not used.

The same arguments always give the same output (no set iteration or hash order is involved).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
from pathlib import Path
from typing import Any

from reme.datasets.checks import check_int
from reme.datasets.dates import parse_date
from reme.datasets.synthetic import generate_synthetic

QUESTION_TYPES = {
    1: "multi-session",
    2: "temporal-reasoning",
    3: "single-session-preference",
    4: "single-session-user",
}
"""LongMemEval ``question_type`` of each answerable LoCoMo category."""

ABSTENTION_TYPE = "single-session-user"
"""``question_type`` of the ``_abs`` items (questions about a user fact that was never mentioned)."""

ABSTENTION_ANSWER = "The information provided is not enough: the user never mentioned this."
"""The ``answer`` of every ``_abs`` item."""

ABSTENTION_EVERY = 20
"""One question in this many (rounded down) is an abstention item, where the conversations have enough."""

SESSIONS_PER_CONVERSATION = 8
"""Sessions of each generated conversation."""

QUESTIONS_PER_CONVERSATION = 10
"""At most this many answerable questions are taken from one conversation (more conversations are generated)."""

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SALT = "reme-longmemeval-synth"


def lme_date(moment: dt.datetime) -> str:
    """LongMemEval's date style: ``2023/05/20 (Sat) 02:21`` (weekday in English whatever the locale)."""
    return f"{moment:%Y/%m/%d} ({_WEEKDAYS[moment.weekday()]}) {moment:%H:%M}"


def generate_longmemeval_synthetic(
    n_questions: int = 60, seed: int = 0, haystack_sessions: int = 20
) -> list[dict[str, Any]]:
    """``n_questions`` LongMemEval JSON items (``load_longmemeval`` reads them) made from synthetic conversations.

    ``haystack_sessions`` caps each haystack; the evidence sessions are always kept, so a question whose
    evidence spans more sessions than the cap gets exactly its evidence sessions. The same arguments always
    give the same items.
    """
    check_int("n_questions", n_questions, 1, 5000)
    check_int("seed", seed, -(2**63), 2**63 - 1)
    check_int("haystack_sessions", haystack_sessions, 1, 1000)
    n_conversations = max(
        2,
        math.ceil(n_questions / QUESTIONS_PER_CONVERSATION),
        math.ceil(haystack_sessions / SESSIONS_PER_CONVERSATION),
    )
    raw = generate_synthetic(n_conversations, SESSIONS_PER_CONVERSATION, seed, "assistant")
    conversations = [_sessions_of(c, item) for c, item in enumerate(raw)]

    answerable = [_by_category(item, random.Random(f"{_SALT}/{seed}/pick/{c}")) for c, item in enumerate(raw)]
    abstain = [[q for q in item["qa"] if q.get("category") == 5 and not q.get("evidence")] for item in raw]
    n_abs = min(n_questions // ABSTENTION_EVERY, sum(len(qs) for qs in abstain))
    picked = _round_robin(abstain, n_abs) + _round_robin(answerable, n_questions - n_abs)
    random.Random(f"{_SALT}/{seed}/order").shuffle(picked)

    items = []
    for index, (c, qa) in enumerate(picked):
        rng = random.Random(f"{_SALT}/{seed}/question/{index}/{c}/{qa['question']}")
        items.append(_item(index, seed, c, qa, conversations, haystack_sessions, rng))
    return items


def write_longmemeval_synthetic(path: str | os.PathLike[str], **kw: Any) -> Path:
    """Write ``generate_longmemeval_synthetic(**kw)`` to ``path`` as a LongMemEval JSON file (parents created)."""
    items = generate_longmemeval_synthetic(**kw)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


# ----------------------------------------------------------------------------------------------------------------
# Helpers


class _Session:
    """One session of a generated conversation, in LongMemEval terms."""

    def __init__(self, session_id: str, moment: dt.datetime, turns: list[dict[str, Any]]) -> None:
        self.session_id = session_id
        self.moment = moment
        self.turns = turns


def _sessions_of(c: int, item: dict[str, Any]) -> list[_Session]:
    """The sessions of LoCoMo item ``c``, in order, with ids ``sess_{c}_{n}`` (``n`` counts from 1)."""
    conversation = item["conversation"]
    sessions = []
    for n in range(1, SESSIONS_PER_CONVERSATION + 1):
        moment = dt.datetime.fromisoformat(parse_date(conversation[f"session_{n}_date_time"]))
        turns = [
            {"role": "user" if turn["speaker"] == "user" else "assistant", "content": turn["text"]}
            for turn in conversation[f"session_{n}"]
        ]
        sessions.append(_Session(f"sess_{c}_{n}", moment, turns))
    return sessions


def _by_category(item: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The answerable questions of a conversation, shuffled, then interleaved by category (1, 2, 3, 4, 1, ...)."""
    groups: dict[int, list[dict[str, Any]]] = {category: [] for category in QUESTION_TYPES}
    for qa in item["qa"]:
        if qa.get("category") in QUESTION_TYPES and qa.get("evidence"):
            groups[qa["category"]].append(qa)
    for questions in groups.values():
        rng.shuffle(questions)
    ordered = []
    for position in range(max(len(questions) for questions in groups.values())):
        ordered += [questions[position] for questions in groups.values() if position < len(questions)]
    return ordered


def _round_robin(per_conversation: list[list[dict[str, Any]]], wanted: int) -> list[tuple[int, dict[str, Any]]]:
    """``wanted`` questions taken one per conversation in turn (at most the available number)."""
    picked: list[tuple[int, dict[str, Any]]] = []
    position = 0
    while len(picked) < wanted and any(position < len(qs) for qs in per_conversation):
        for c, questions in enumerate(per_conversation):
            if position < len(questions) and len(picked) < wanted:
                picked.append((c, questions[position]))
        position += 1
    return picked


def _evidence(qa: dict[str, Any]) -> dict[int, set[int]]:
    """Session number -> 0-based turn indexes of the question's evidence (``D3:7`` -> session 3, turn 6)."""
    marks: dict[int, set[int]] = {}
    for dia_id in qa.get("evidence", []):
        session, turn = dia_id[1:].split(":")
        marks.setdefault(int(session), set()).add(int(turn) - 1)
    return marks


def _item(
    index: int,
    seed: int,
    c: int,
    qa: dict[str, Any],
    conversations: list[list[_Session]],
    cap: int,
    rng: random.Random,
) -> dict[str, Any]:
    """One LongMemEval item for question ``qa`` of conversation ``c``."""
    marks = _evidence(qa)
    own = conversations[c]
    evidence = [s for n, s in enumerate(own, start=1) if n in marks]
    rest = [s for n, s in enumerate(own, start=1) if n not in marks]
    rng.shuffle(rest)
    others = [s for other, sessions in enumerate(conversations) if other != c for s in sessions]
    room = max(0, cap - len(evidence))
    chosen = evidence + rest[:room]
    chosen += rng.sample(others, min(len(others), max(0, cap - len(chosen))))
    chosen.sort(key=lambda s: (s.moment, s.session_id))

    evidence_ids = {s.session_id: marks[n] for n, s in enumerate(own, start=1) if n in marks}
    haystack = []
    for session in chosen:
        turns = [dict(turn) for turn in session.turns]
        for t in evidence_ids.get(session.session_id, set()):
            turns[t]["has_answer"] = True
        haystack.append(turns)
    last = chosen[-1].moment
    asked = last + dt.timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 23), minutes=rng.randrange(60))
    abstention = qa.get("category") == 5
    return {
        "question_id": f"synth-lme-{seed}-{index:04d}" + ("_abs" if abstention else ""),
        "question_type": ABSTENTION_TYPE if abstention else QUESTION_TYPES[qa["category"]],
        "question": qa["question"],
        "answer": ABSTENTION_ANSWER if abstention else str(qa["answer"]),
        "question_date": lme_date(asked),
        "haystack_session_ids": [s.session_id for s in chosen],
        "haystack_dates": [lme_date(s.moment) for s in chosen],
        "haystack_sessions": haystack,
        "answer_session_ids": [s.session_id for s in chosen if s.session_id in evidence_ids],
    }
