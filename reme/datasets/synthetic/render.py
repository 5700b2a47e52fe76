"""Rendering a planned conversation as a LoCoMo item: each session laid out (beats ordered with speakers
alternating, small talk or filler requests around them, an opening and a closing), dia_ids assigned, and the
``qa``, ``observation``, ``session_summary`` and ``event_summary`` sections written from the plan."""

from __future__ import annotations

from typing import Any

from .conversation import Conversation
from .plan import Ask, Beat, Fact, Line
from .text import MONTHS, session_stamp

__all__ = ["MAX_TURNS", "MIN_TURNS", "QUESTIONS_PER_CONVERSATION", "render"]

MIN_TURNS, MAX_TURNS = 15, 30
"""Target number of turns per session (a session holding many facts may run a little longer)."""

QUESTIONS_PER_CONVERSATION = (22, 30)
"""Range of answerable questions kept per conversation (category-5 traps come on top: 4-6 chat, 3-4 assistant)."""

_TALK_COMEBACKS = (
    "Ha, true. I should take my own advice.",
    "Totally. It's nice to talk about something normal for once.",
    "Exactly, you get it.",
    "Ha, pretty much. That's my life in a nutshell.",
)


def render(c: Conversation) -> dict[str, Any]:
    """The planned conversation as a LoCoMo JSON item."""
    sessions = [_layout(c, s) for s in range(c.n)]
    ids: dict[str, str] = {}
    for s, lines in enumerate(sessions):
        for t, line in enumerate(lines):
            if line.key:
                ids[line.key] = f"D{s + 1}:{t + 1}"
    names = [p.name for p in c.personas] if c.chat else ["user", "assistant"]
    conversation: dict[str, Any] = {"speaker_a": names[0], "speaker_b": names[1]}
    for s, lines in enumerate(sessions):
        conversation[f"session_{s + 1}_date_time"] = session_stamp(c.dates[s])
        conversation[f"session_{s + 1}"] = [_turn(line, s, t, names) for t, line in enumerate(lines)]
    return {
        "qa": _qa(c, ids),
        "conversation": conversation,
        "event_summary": _event_summary(c, ids, names),
        "observation": _observations(c, ids, names),
        "session_summary": _summaries(c, ids, names),
        "sample_id": c.sample_id,
    }


def _turn(line: Line, s: int, t: int, names: list[str]) -> dict[str, Any]:
    """One LoCoMo turn."""
    turn: dict[str, Any] = {"speaker": names[line.speaker], "dia_id": f"D{s + 1}:{t + 1}", "text": line.text}
    if line.caption:
        turn["blip_caption"] = line.caption
    return turn


def _layout(c: Conversation, s: int) -> list[Line]:
    """Order a session's beats (keeping speakers alternating), pad with small talk, open and close."""
    rng = c.rng
    beats = [b for b in c.beats if b.session == s]
    rng.shuffle(beats)
    target = rng.randint(MIN_TURNS, MAX_TURNS)
    content = sum(len(b.lines) for b in beats)
    if c.chat:
        starter = rng.randrange(2)
        lines = [
            Line(starter, rng.choice(c.words.greetings).format(other=c.personas[1 - starter].name)),
            Line(1 - starter, rng.choice(c.words.greeting_replies).format(other=c.personas[starter].name)),
        ]
        fillers = [
            _small_talk(
                c,
            )
            for _ in range(max(0, (target - 4 - content) // 2))
        ]
        _interleave(c, lines, beats, fillers)
        closer = 1 - lines[-1].speaker
        lines.append(Line(closer, rng.choice(c.words.closings)))
        lines.append(Line(1 - closer, rng.choice(c.words.closing_replies).format(other=c.personas[closer].name)))
        return lines
    lines = []
    fillers_needed = max(0, (target - content - 2) // 2)
    pending = [b.lines for b in beats]
    for request, answer in rng.sample(c.words.filler_requests, min(fillers_needed, len(c.words.filler_requests))):
        pending.insert(rng.randrange(len(pending) + 1), [Line(0, request), Line(1, c.reply("", answer))])
    for chunk in pending:
        lines.extend(chunk)
    lines.append(Line(0, rng.choice(("Thanks, that's really helpful!", "Great, thank you so much!"))))
    lines.append(Line(1, "You're welcome! Feel free to come back any time if anything else comes up."))
    return lines


def _small_talk(c: Conversation) -> tuple[str, str]:
    """The next small-talk exchange, dealt without repeats until the deck runs out."""
    if not c.talk_deck:
        c.talk_deck = list(c.words.small_talk)
        c.rng.shuffle(c.talk_deck)
    return c.talk_deck.pop()


def _interleave(c: Conversation, lines: list[Line], beats: list[Beat], talk: list[tuple[str, str]]) -> None:
    """Mix beats and small talk into a chat session, keeping speakers alternating.

    Small talk is asked by whoever is next; a beat whose owner spoke last is preceded by the other speaker
    handing over ("What about you?"), and beats that fit the alternation are preferred.
    """
    rng = c.rng
    beats, talk = list(beats), list(talk)
    while beats or talk:
        last = lines[-1].speaker
        if talk and (not beats or rng.random() < len(talk) / (len(talk) + len(beats))):
            question, answer = talk.pop()
            lines += [Line(1 - last, question), Line(last, answer)]
            if rng.random() < 0.15:
                lines.append(Line(1 - last, rng.choice(_TALK_COMEBACKS)))
            continue
        fitting = [i for i, beat in enumerate(beats) if beat.lines[0].speaker != last]
        beat = beats.pop(fitting[0] if fitting else 0)
        if beat.lines[0].speaker == last:
            lines.append(Line(1 - last, rng.choice(c.words.bridges).format(other=c.personas[last].name)))
        lines.extend(beat.lines)


def _pick_asks(c: Conversation) -> list[Ask]:
    """A random subset of the answerable questions (22-30 per conversation), keeping some of each category.

    Facts left without a question stay in the conversation as realistic clutter.
    """
    rng = c.rng
    budget = rng.randint(QUESTIONS_PER_CONVERSATION[0], QUESTIONS_PER_CONVERSATION[1])
    order = list(c.asks)
    rng.shuffle(order)
    chosen: list[Ask] = []
    for category in (1, 2, 3):
        chosen += [ask for ask in order if ask.category == category][:3]
    for ask in order:
        if len(chosen) >= budget:
            break
        if all(ask is not other for other in chosen):
            chosen.append(ask)
    return chosen


def _qa(c: Conversation, ids: dict[str, str]) -> list[dict[str, Any]]:
    """LoCoMo ``qa`` entries: the answerable questions and a few category-5 traps."""
    rng = c.rng
    entries = []
    for ask in _pick_asks(
        c,
    ):
        entries.append(
            {
                "question": ask.question,
                "answer": ask.answer,
                "evidence": [ids[k] for k in ask.keys],
                "category": ask.category,
            }
        )
    traps = [t for t in c.traps if t.category == 5]
    seen: set[str] = set()
    unique = []
    for trap in traps:
        if trap.question not in seen:
            seen.add(trap.question)
            unique.append(trap)
    with_evidence = [t for t in unique if t.keys]
    without = [t for t in unique if not t.keys]
    wanted = rng.randint(4, 6) if c.chat else rng.randint(3, 4)
    chosen = rng.sample(with_evidence, min(len(with_evidence), wanted - 1))
    chosen += rng.sample(without, min(len(without), wanted - len(chosen)))
    entries += [trap_entry(trap, ids) for trap in chosen]
    rng.shuffle(entries)
    return entries


def trap_entry(trap: Ask, ids: dict[str, str]) -> dict[str, Any]:
    """A category-5 ``qa`` entry: the question, the answer it tempts (``adversarial_answer``), its evidence."""
    return {
        "question": trap.question,
        "adversarial_answer": trap.answer,
        "evidence": [ids[k] for k in trap.keys],
        "category": 5,
    }


def in_turn_order(facts: list[Fact], ids: dict[str, str]) -> list[Fact]:
    """``facts`` of one session sorted by the turn (``D<session>:<turn>``) each comes from."""
    return sorted(facts, key=lambda f: int(ids[f.key].split(":")[1]))


def _facts_by_session(c: Conversation, ids: dict[str, str]) -> list[list[Fact]]:
    """Facts of each session, in turn order."""
    by_session: list[list[Fact]] = [[] for _ in range(c.n)]
    for beat in c.beats:
        by_session[beat.session].extend(beat.facts)
    return [in_turn_order(facts, ids) for facts in by_session]


def _observations(c: Conversation, ids: dict[str, str], names: list[str]) -> dict[str, Any]:
    """LoCoMo ``observation``: per session, per speaker, ``[fact, dia_id]`` pairs in turn order."""
    result: dict[str, Any] = {}
    for s, facts in enumerate(_facts_by_session(c, ids)):
        result[f"session_{s + 1}_observation"] = {
            names[p]: [[f.text, ids[f.key]] for f in facts if f.persona == p] for p in range(len(names))
        }
    return result


def _summaries(c: Conversation, ids: dict[str, str], names: list[str]) -> dict[str, str]:
    """LoCoMo ``session_summary``: a dated paragraph per session."""
    result: dict[str, str] = {}
    for s, facts in enumerate(_facts_by_session(c, ids)):
        moment = c.dates[s]
        stamp = session_stamp(moment)
        time_part, date_part = stamp.split(" on ")
        if c.chat:
            opening = f"{names[0]} and {names[1]} talked on {date_part} at {time_part}."
        else:
            opening = f"On {date_part} at {time_part}, the user asked the assistant for help."
        body = " ".join(f.text for f in facts) or "They mostly made small talk."
        result[f"session_{s + 1}_summary"] = f"{opening} {body}"
    return result


def _event_summary(c: Conversation, ids: dict[str, str], names: list[str]) -> dict[str, Any]:
    """LoCoMo ``event_summary``: notable events per session and speaker."""
    result: dict[str, Any] = {}
    for s, facts in enumerate(_facts_by_session(c, ids)):
        moment = c.dates[s]
        entry: dict[str, Any] = {names[p]: [f.text for f in facts if f.event and f.persona == p] for p in range(2)}
        entry["date"] = f"{moment.day} {MONTHS[moment.month - 1]}, {moment.year}"
        result[f"events_session_{s + 1}"] = entry
    return result
