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

**Turns shaped like LongMemEval's.** Real LongMemEval_S haystacks have user turns of about 180 characters and
assistant replies of about 1,700 at the median (the evidence always in a user turn), and the assistant's reply
talks about what the user just said, at length. A ranker that learned "long turns near strong matches first" on
LoCoMo-like chat puts those replies above the user's short evidence turns there. So every user turn gets one or two
sentences of personal context (:data:`USER_CONTEXT`) and every assistant reply grows to a length drawn around
:data:`ASSISTANT_CHARS` by echoing the content words of the user turn before it (:data:`ECHO_TEMPLATES`) and adding
the topic's advice; the evidence marks stay on user turns. The questions are the user's own, in the first person as
LongMemEval's are ("When did I travel with Freya?", :func:`reme.datasets.first_person.first_person`), not about
"the user". ``shape="plain"`` gives the unshaped turns and third-person questions.

The same arguments always give the same output (no set iteration or hash order is involved).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import random
from pathlib import Path
from typing import Any

from reme.datasets.checks import check_int
from reme.datasets.dates import parse_date
from reme.datasets.first_person import first_person
from reme.datasets.synthetic import generate_synthetic
from reme.errors import BadInputError

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

SHAPES = ("longmemeval", "plain")
"""``longmemeval``: turns lengthened as LongMemEval's are (module docstring); ``plain``: the conversations' own
turns."""

ASSISTANT_CHARS = 1700
"""Median length of a shaped assistant reply (real LongMemEval_S: 1,715 characters at the median)."""

USER_CONTEXT = (
    "I've been thinking about it for a while now.",
    "It has been on my mind most of the week.",
    "My friends keep asking me about it, so I want to get it right.",
    "I don't have a lot of free time at the moment, so I want to plan this well.",
    "I usually overthink these things, to be honest.",
    "I'd like to hear a second opinion before I decide anything.",
    "It's a bit of a change for me, so bear with me.",
    "I was talking about this with my sister yesterday.",
    "I'm trying to be more organised this year.",
    "Money is a little tight, so I'd rather not waste any.",
)
"""Personal context the shaped user turns add (one or two sentences each), carrying no fact of the story."""

ECHO_TEMPLATES = (
    "You mentioned {a}, so let me start there.",
    "When it comes to {a} and {b}, it helps to think about what matters most to you.",
    "A lot depends on {a}, so take your time with it.",
    "Many people in a similar situation with {a} find it useful to write their options down.",
    "If {a} is on your mind, talk it over with someone you trust.",
    "Keep in mind that {b} can change how you feel about {a} over time.",
    "Here is one way to approach {a}: start small, look back after a week, and adjust.",
    "It may also be worth looking at {b} from a different angle.",
    "Thinking about {a} and {b} together often makes the next step clearer.",
    "Since {a} came up, it is worth setting aside some time for it each week.",
)
"""Sentences of a shaped assistant reply that echo the user's words (``{a}``, ``{b}``: content words of the turn)."""

_STOPWORD_TEXT = (
    "about after again also been before being could does doing from have having here just know like make more "
    "most much need only other over really should some such than that their them then there these they thing "
    "things this those through very want what when where which while will with would your yours i'm i've it's "
    "don't can you help think anything everything something into still well back even because keep finally "
    "sent weeks going got been tips ideas advice "
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SALT = "reme-longmemeval-synth"


def lme_date(moment: dt.datetime) -> str:
    """LongMemEval's date style: ``2023/05/20 (Sat) 02:21`` (weekday in English whatever the locale)."""
    return f"{moment:%Y/%m/%d} ({_WEEKDAYS[moment.weekday()]}) {moment:%H:%M}"


def generate_longmemeval_synthetic(
    n_questions: int = 60, seed: int = 0, haystack_sessions: int = 20, shape: str = "longmemeval"
) -> list[dict[str, Any]]:
    """``n_questions`` LongMemEval JSON items (``load_longmemeval`` reads them) made from synthetic conversations.

    ``haystack_sessions`` caps each haystack; the evidence sessions are always kept, so a question whose
    evidence spans more sessions than the cap gets exactly its evidence sessions. ``shape`` (:data:`SHAPES`) says
    whether the turns are lengthened as LongMemEval's are. The same arguments always give the same items.
    """
    check_int("n_questions", n_questions, 1, 5000)
    check_int("seed", seed, -(2**63), 2**63 - 1)
    check_int("haystack_sessions", haystack_sessions, 1, 1000)
    if shape not in SHAPES:
        raise BadInputError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    n_conversations = max(
        2,
        math.ceil(n_questions / QUESTIONS_PER_CONVERSATION),
        math.ceil(haystack_sessions / SESSIONS_PER_CONVERSATION),
    )
    raw = generate_synthetic(n_conversations, SESSIONS_PER_CONVERSATION, seed, "assistant")
    conversations = [_sessions_of(c, item) for c, item in enumerate(raw)]
    if shape == "longmemeval":
        for sessions in conversations:
            for session in sessions:
                _shape_turns(session, random.Random(f"{_SALT}/{seed}/shape/{session.session_id}"))

    answerable = [_by_category(item, random.Random(f"{_SALT}/{seed}/pick/{c}")) for c, item in enumerate(raw)]
    abstain = [[q for q in item["qa"] if q.get("category") == 5 and not q.get("evidence")] for item in raw]
    n_abs = min(n_questions // ABSTENTION_EVERY, sum(len(qs) for qs in abstain))
    picked = _round_robin(abstain, n_abs) + _round_robin(answerable, n_questions - n_abs)
    random.Random(f"{_SALT}/{seed}/order").shuffle(picked)

    items = []
    for index, (c, qa) in enumerate(picked):
        rng = random.Random(f"{_SALT}/{seed}/question/{index}/{c}/{qa['question']}")
        items.append(_item(index, seed, c, qa, conversations, haystack_sessions, rng, shape == "longmemeval"))
    return items


def shape_conversation(item: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """A copy of one ``assistant``-style LoCoMo item (``generate_synthetic(style="assistant")``, any number of
    sessions) with its turns shaped as LongMemEval's (module docstring: personal context on user turns, long replies
    echoing them) and its questions in the user's own words: one user's whole timeline in the LongMemEval shape, for
    simulations that replay it day by day (``benchmarks/simulate_use.py``). Dia ids, evidence, dates and
    observations are unchanged; the same arguments always give the same item."""
    out = copy.deepcopy(item)
    conversation = out["conversation"]
    n = 1
    while f"session_{n}" in conversation:
        turns = conversation[f"session_{n}"]
        views = [{"role": "user" if t["speaker"] == "user" else "assistant", "content": t["text"]} for t in turns]
        _shape_turns(_Session(f"s{n}", dt.datetime(2000, 1, 1), views), random.Random(f"{_SALT}/{seed}/timeline/{n}"))
        for turn, view in zip(turns, views):
            turn["text"] = view["content"]
        n += 1
    for qa in out.get("qa", []):
        qa["question"] = first_person(qa["question"])
    return out


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


def _content_words(text: str) -> list[str]:
    """The words of ``text`` worth echoing: four letters or more, not a stop word, first occurrence order."""
    seen: dict[str, None] = {}
    for raw in text.replace("'s ", " ").split():
        word = raw.strip(".,!?;:()\"'").lower()
        if len(word) >= 4 and word.isalpha() and word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def _echo_reply(user_text: str, reply: str, rng: random.Random) -> str:
    """``reply`` (opener, advice, closer) grown to about a drawn target length: echo sentences over the user's
    content words after the opener, then the advice, then advice and echoes again until the length is reached, as a
    long assistant answer repeats and expands itself; the closer last."""
    target = int(ASSISTANT_CHARS * math.exp(rng.gauss(0.0, 0.35)))
    words = _content_words(user_text) or ["this"]
    sentences = [s if s.endswith((".", "!", "?")) else s + "." for s in reply.split(". ") if s.strip()]
    opener, body, closer = sentences[:1], sentences[1:-1], sentences[-1:] if len(sentences) > 1 else []
    templates = list(ECHO_TEMPLATES)
    rng.shuffle(templates)

    def echo(template: str) -> str:
        return template.format(a=rng.choice(words), b=rng.choice(words))

    out = [*opener, *(echo(t) for t in templates[: rng.randint(3, 5)]), *body]
    length = sum(len(x) + 1 for x in [*out, *closer])
    while length < target:
        out.append(rng.choice(body) if body and rng.random() < 0.5 else echo(rng.choice(templates)))
        length += len(out[-1]) + 1
    return " ".join([*out, *closer])


def _shape_turns(session: _Session, rng: random.Random) -> None:
    """Lengthen the turns of ``session`` in place as LongMemEval's are (module docstring)."""
    previous_user = ""
    for turn in session.turns:
        if turn["role"] == "user":
            previous_user = turn["content"]
            turn["content"] = " ".join([turn["content"], *rng.sample(USER_CONTEXT, rng.randint(2, 3))])
        else:
            turn["content"] = _echo_reply(previous_user, turn["content"], rng)


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
    asked_by_user: bool,
) -> dict[str, Any]:
    """One LongMemEval item for question ``qa`` of conversation ``c`` (in the first person when ``asked_by_user``)."""
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
        "question": first_person(qa["question"]) if asked_by_user else qa["question"],
        "answer": ABSTENTION_ANSWER if abstention else str(qa["answer"]),
        "question_date": lme_date(asked),
        "haystack_session_ids": [s.session_id for s in chosen],
        "haystack_dates": [lme_date(s.moment) for s in chosen],
        "haystack_sessions": haystack,
        "answer_session_ids": [s.session_id for s in chosen if s.session_id in evidence_ids],
    }
