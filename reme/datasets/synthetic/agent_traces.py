"""The ``agent`` style: task-oriented agent traces with tool results, in the same LoCoMo JSON as the other styles.

Each session is a few tasks (book, debug, track, file...): the user asks in a short turn, the agent (speaker
``assistant``) says what it does and calls a tool, the tool's result comes back as a turn of its own (speaker
``tool``: JSON, tables, log tails, listings, often a few thousand characters full of names, ids, numbers and
dates), and the agent answers. Facts come from the user's turns (an allergy, a seat preference, a budget, a
restart window) and from tool results (a confirmation code, a port, the failing test); some change in a later
session (a seat, a hotel code, a port, an assignee, a delivery day, a room, the preference, the window) and the
"current" question points at the later turn. Distractor tasks name the same entities without the answer: a
colleague's hotel in the same city, the production host's listeners, a team dinner with colleagues' allergies,
long search results, and filler tasks (weather, web search, inbox) about the same places.

``build`` plans one conversation on a :class:`~.agent_trace.Trace` in a fixed order (the order of the random
draws is the output's identity) and renders it.
"""

from __future__ import annotations

import random
from typing import Any

from .agent_dev import repo_tests, ticket
from .agent_dining import dinner, team_dinner
from .agent_errands import calendar, order
from .agent_fillers import FILLERS, filler
from .agent_hotels import colleague_hotel, hotel, hotel_code_question, hotel_extend
from .agent_ops import debug, new_service, port_move, prod_check, restart_window, window_change
from .agent_trace import SPEAKERS, Trace
from .agent_travel import flight, new_trip, seat_change, seat_pref_change
from .distractors import NOT_MENTIONED
from .plan import Ask, Fact, Line
from .render import in_turn_order, trap_entry
from .text import session_stamp

__all__ = ["AGENT_QUESTIONS", "AGENT_TURNS", "build", "plan"]

AGENT_TURNS = (12, 24)
"""Target number of turns per session; filler tasks pad a session up to its target (a session holding many
tasks runs longer)."""

AGENT_QUESTIONS = (22, 30)
"""Answerable questions kept per conversation (every question about a changed value is kept; 3-4 category-5
traps come on top)."""


def build(rng: random.Random, sample_id: str, sessions: int) -> dict[str, Any]:
    """One agent conversation of ``sessions`` sessions drawn from ``rng``, planned and rendered as a LoCoMo item."""
    trace = Trace(rng, sample_id, sessions)
    plan(trace)
    return render(trace)


def _later(t: Trace, s: int, chance: float, within: int | None = None) -> int | None:
    """A session after ``s`` (at most ``within`` sessions after) for a change, with probability ``chance``; none
    when ``s`` is the last."""
    if s >= t.n - 1 or t.rng.random() >= chance:
        return None
    return t.session(s + 1, None if within is None else s + within)


def plan(t: Trace) -> None:
    """Place every task, change, distractor and question."""
    rng, n = t.rng, t.n
    pref, other_pref = rng.sample(t.words.seat_prefs, 2)
    allergen = rng.choice(t.words.allergens)
    budget = rng.choice((140, 160, 180, 200, 220, 250))
    pref_key, pref_session, allergy_key, trips = "", 0, "", []
    for index in range(1 if n < 10 else 2):
        s1 = t.session(0, n - 2)
        trip = new_trip(t, s1)
        trips.append(trip)
        seat_later = _later(t, s1, 0.6)
        key = flight(t, trip, s1, pref, not pref_key, change=seat_later is not None)
        if key:
            pref_key, pref_session = key, s1
        if seat_later is not None:
            seat_change(t, trip, seat_later)
        s2 = t.session(s1, s1 + 2)
        hotel(t, trip, s2, budget, index == 0)
        extend = _later(t, s2, 0.6)
        if extend is None:
            hotel_code_question(t, trip)
        else:
            hotel_extend(t, trip, extend)
        t.ask(
            1,
            ("Which flight and which hotel were booked for the user's {city} trip?",),
            f"{trip.flight} and {trip.hotel}",
            [trip.flight_key, trip.hotel_key],
            fields={"city": trip.city.name},
        )
        allergy_key = dinner(t, trip, t.session(s2), allergen, allergy_key)
    pref_later = _later(t, pref_session, 0.6)
    if pref_later is None:
        t.ask(
            4,
            ("Which kind of seat does the user like on flights?", "Does the user prefer window or aisle seats?"),
            pref.word,
            [pref_key],
        )
    else:
        seat_pref_change(t, pref_later, pref, other_pref, pref_key)
    svc = new_service(t)
    s = t.session(0, n - 2)
    old_window, new_window = restart_window(t)
    window = old_window if rng.random() < 0.8 else ""
    move, window_later = _later(t, s, 0.7), _later(t, s, 0.5) if window else None
    window_key = debug(t, svc, s, window, move=move is not None, window_moves=window_later is not None)
    if move is not None:
        port_move(t, svc, move)
    if window_later is not None:
        window_change(t, window_later, old_window, new_window, window_key)
    prod_check(t, svc, t.session())
    repo_tests(t, t.session())
    s = t.session(0, n - 2)
    ticket(t, s, _later(t, s, 0.6))
    s = t.session(0, n - 2)
    order(t, s, _later(t, s, 0.6, 2))
    s = t.session(0, n - 2)
    calendar(t, s, _later(t, s, 0.6, 1), rng.choice((9, 10)))
    team_dinner(t, t.session(), allergen)
    colleague_hotel(t, rng.choice(trips), t.session(), budget)
    places = [trip.city.name for trip in trips]
    for template in rng.sample(t.words.never_said, 3):
        t.trap(template.format(city=rng.choice(places)), NOT_MENTIONED, [])


# ----------------------------------------------------------------------------------------------------
# Render


def render(t: Trace) -> dict[str, Any]:
    """The planned trace as a LoCoMo JSON item."""
    sessions = [_layout(t, s) for s in range(t.n)]
    ids: dict[str, str] = {}
    for s, lines in enumerate(sessions):
        for i, line in enumerate(lines):
            if line.key:
                ids[line.key] = f"D{s + 1}:{i + 1}"
    conversation: dict[str, Any] = {"speaker_a": SPEAKERS[0], "speaker_b": SPEAKERS[1]}
    for s, lines in enumerate(sessions):
        conversation[f"session_{s + 1}_date_time"] = session_stamp(t.dates[s])
        conversation[f"session_{s + 1}"] = [
            {"speaker": SPEAKERS[line.speaker], "dia_id": f"D{s + 1}:{i + 1}", "text": line.text}
            for i, line in enumerate(lines)
        ]
    by_session = _facts(t, ids)
    return {
        "qa": _qa(t, ids),
        "conversation": conversation,
        "observation": {
            f"session_{s + 1}_observation": {
                name: [[f.text, ids[f.key]] for f in facts if f.persona == p] for p, name in enumerate(SPEAKERS)
            }
            for s, facts in enumerate(by_session)
        },
        "session_summary": {f"session_{s + 1}_summary": _summary(t, s) for s in range(t.n)},
        "sample_id": t.sample_id,
    }


def _layout(t: Trace, s: int) -> list[Line]:
    """A session's tasks in random order, with up to two filler tasks (dealt without repeats until the kinds run
    out) while it is shorter than its target."""
    rng = t.rng
    tasks = [task.lines for task in t.tasks if task.session == s]
    rng.shuffle(tasks)
    target = rng.randint(*AGENT_TURNS)
    places = [t.home.city, *t.visited]
    count = sum(len(lines) for lines in tasks)
    added = 0
    while count < target and added < 2:
        if not t.filler_deck:
            t.filler_deck = list(FILLERS)
            rng.shuffle(t.filler_deck)
        before = len(t.tasks)
        filler(t, s, t.filler_deck.pop(), rng.choice(places))
        lines = t.tasks[before].lines
        tasks.insert(rng.randrange(len(tasks) + 1), lines)
        count += len(lines)
        added += 1
    return [line for lines in tasks for line in lines]


def _pick(t: Trace) -> list[Ask]:
    """The questions asked: every kept one, then at least three of categories 1-3 where there are, then others
    at random up to a budget of 22-30."""
    rng = t.rng
    budget = rng.randint(*AGENT_QUESTIONS)
    order = list(t.asks)
    rng.shuffle(order)
    chosen = list(t.kept)
    for category in (1, 2, 3):
        have = sum(ask.category == category for ask in chosen)
        chosen += [ask for ask in order if ask.category == category and ask not in chosen][: max(0, 3 - have)]
    chosen += [ask for ask in order if ask not in chosen][: max(0, budget - len(chosen))]
    return chosen


def _qa(t: Trace, ids: dict[str, str]) -> list[dict[str, Any]]:
    """LoCoMo ``qa`` entries: the chosen questions and 3-4 category-5 traps (at most one with evidence)."""
    rng = t.rng
    entries: list[dict[str, Any]] = [
        {"question": a.question, "answer": a.answer, "evidence": [ids[k] for k in a.keys], "category": a.category}
        for a in _pick(t)
    ]
    with_evidence = [trap for trap in t.traps if trap.keys]
    traps = with_evidence[:1] + [trap for trap in t.traps if not trap.keys]
    entries += [trap_entry(trap, ids) for trap in traps[: rng.randint(3, 4)]]
    rng.shuffle(entries)
    return entries


def _facts(t: Trace, ids: dict[str, str]) -> list[list[Fact]]:
    """The facts of each session, in turn order."""
    by_session: list[list[Fact]] = [[] for _ in range(t.n)]
    for task in t.tasks:
        by_session[task.session].extend(f for f in task.facts if f.key)
    return [in_turn_order(facts, ids) for facts in by_session]


def _summary(t: Trace, s: int) -> str:
    """A dated line naming what the user asked the agent to do in session ``s``."""
    titles = [task.title for task in t.tasks if task.session == s]
    time_part, date_part = session_stamp(t.dates[s]).split(" on ")
    done = ", ".join(titles[:-1]) + f" and {titles[-1]}" if len(titles) > 1 else titles[0]
    return f"On {date_part} at {time_part}, the user asked the agent to {done}."
