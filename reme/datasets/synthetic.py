"""Seeded synthetic conversations in LoCoMo JSON format, for tests and retrieval benchmarks.

Written from scratch (no network, no language model). Each conversation has two personas (``style="chat"``)
or a user and an assistant (``style="assistant"``, LongMemEval-like), dated sessions spread over months,
facts that change over time (a move, a new job, a pet named later, a changed preference), events, small talk,
and distractor events of other people that share vocabulary with the real ones. Questions follow LoCoMo's
categories (1 multi-hop, 2 temporal, 3 open-domain/inference, 4 single-hop, 5 adversarial) and are worded
with synonyms and several templates per fact, so keyword overlap alone does not find the evidence.

The same ``seed`` always gives the same output (no set iteration or hash order is involved).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reme.datasets import _vocab as V
from reme.errors import BadInputError

STYLES = ("chat", "assistant")
"""``chat``: two friends talking; ``assistant``: a user asking an assistant for help (long replies)."""

NOT_MENTIONED = "Not mentioned in the conversation"
"""The ``adversarial_answer`` of category-5 questions about something nobody said."""

MIN_TURNS, MAX_TURNS = 15, 30
"""Target number of turns per session (a session holding many facts may run a little longer)."""

KEEP_WORD = 0.5
"""Chance that a question names a thing with the word the conversation used instead of a paraphrase."""

QUESTIONS_PER_CONVERSATION = (22, 30)
"""Range of answerable questions kept per conversation (category-5 traps come on top: 4-6 chat, 3-4 assistant)."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_REACT = {
    "job": (
        "Sounds exhausting! Make sure you get some rest this weekend, {other}.",
        "Wow, that's a lot. Hang in there, it can't stay this busy forever!",
        "You're tougher than me, {other}. I'd have collapsed by Wednesday.",
        "I don't know how you do it. Seriously, take care of yourself.",
    ),
    "switch": (
        "Congratulations!! That's huge, {other}. They're lucky to have you.",
        "Whoa, big change! I'm so happy for you, you deserved a change.",
    ),
    "home": (
        "That sounds lovely. I can picture it perfectly.",
        "I really need to visit you there sometime. You make it sound so nice.",
        "Sounds like you picked the right place, {other}. Not everyone loves where they live.",
        "I'm a little jealous, not going to lie. My view is a parking lot.",
    ),
    "move": (
        "Wow, that's a big step, {other}! How are you feeling about it?",
        "No way! That's a big change. I'll help you pack if you want.",
    ),
    "pet": (
        "Oh my gosh, look at that face! I'm officially obsessed.",
        "That's adorable, {other}! Send more pictures, I need daily updates.",
    ),
    "old_pet": (
        "Ha! Pets, honestly. They keep life interesting.",
        "That's hilarious. I'd pay to see that.",
        "Oh no, poor you! At least it's a cute troublemaker.",
        "Sounds like a real character, {other}.",
    ),
    "trip": (
        "Jealous! I've always wanted to go there. Did you take lots of photos?",
        "That sounds like a dream, {other}. I need a vacation so badly.",
    ),
    "race": (
        "That's incredible, {other}! So proud of you. You must be exhausted.",
        "Wow, you're a machine! I get tired just thinking about it.",
    ),
    "course": (
        "That sounds so fun! You'll be great at it, you always pick things up fast.",
        "Ooh, I want to hear how it goes. Maybe I'll join you next time.",
    ),
    "gift": (
        "That's so thoughtful of them! They really know you.",
        "What a great present, {other}. You'll get so much use out of it.",
    ),
    "family": ("Aww, that's adorable. Give them a hug from me.", "That's so sweet, {other}. I love that."),
    "pref": (
        "Ha, I love that. You're so consistent.",
        "Fair enough, to each their own. I could never, though.",
        "Ha, noted. I'll remember that next time.",
        "You and your routines, {other}! I admire it.",
    ),
    "pref_change": (
        "Interesting, {other}! People change, I guess.",
        "Whoa, I never thought I'd see the day. Good for you for trying something new.",
        "Ha, a new era. I'm here for it.",
    ),
    "hobby": (
        "You're so dedicated, {other}! I wish I had that kind of discipline.",
        "That's impressive! How do you find the time?",
        "Love that you make time for it. Everyone needs something like that.",
        "Nice! You make it sound so fun.",
    ),
}
_TOPIC = {"switch": "job", "old_pet": "pet", "pref_change": "pref"}
"""Beat kinds that share the assistant's advice and requests of another kind."""
_GENERIC_REACT = ("switch", "move", "pet", "trip", "race", "course", "gift", "family")
"""Kinds of news the generic reactions ("That's awesome!") suit."""
_TALK_COMEBACKS = (
    "Ha, true. I should take my own advice.",
    "Totally. It's nice to talk about something normal for once.",
    "Exactly, you get it.",
    "Ha, pretty much. That's my life in a nutshell.",
)


@dataclass
class _Line:
    """One turn before dia_ids are assigned; ``key`` names it for evidence."""

    speaker: int
    text: str
    key: str = ""
    caption: str = ""


@dataclass
class _Fact:
    """An observation tagged with the key of the turn it comes from."""

    persona: int
    text: str
    key: str
    event: bool = False


@dataclass
class _Beat:
    """A few consecutive turns about one thing, placed in one session."""

    session: int
    owner: int
    lines: list[_Line]
    facts: list[_Fact] = field(default_factory=list)


@dataclass
class _Ask:
    """A question with its answer and the keys of its evidence turns."""

    category: int
    question: str
    answer: str
    keys: list[str]


@dataclass
class _Follow:
    """A follow-up exchange: the listener asks, the owner answers (``told`` replaces both in assistant style)."""

    ask: str
    answer: str
    told: str = ""
    fact: str = ""


@dataclass
class _Swap:
    """A question that only persona ``owner`` can answer, to be asked about the other persona (category 5)."""

    kind: str
    owner: int
    template: str
    answer: str
    keys: list[str]
    fields: dict[str, str]


@dataclass
class _Persona:
    """Who talks (or, in assistant style, the user), and what was said about them."""

    name: str
    ref: str
    subj: str
    obj: str
    poss: str
    job: V.Job
    city: V.City
    female: bool = False
    kinds: set[str] = field(default_factory=set)
    traits: list[str] = field(default_factory=list)
    partner: tuple[V.Relative, str] | None = None


def generate_synthetic(
    n_conversations: int = 4, sessions: int = 8, seed: int = 0, style: str = "chat"
) -> list[dict[str, Any]]:
    """Generate ``n_conversations`` synthetic conversations as LoCoMo JSON items (``load_locomo`` reads them).

    ``sessions`` is the number of dated sessions per conversation; ``style`` is ``chat`` or ``assistant``.
    The same arguments always give the same items.
    """
    _check_int("n_conversations", n_conversations, 1, 1000)
    _check_int("sessions", sessions, 1, 200)
    _check_int("seed", seed, -(2**63), 2**63 - 1)
    if style not in STYLES:
        raise BadInputError(f"unknown synthetic style {style!r}: use 'chat' or 'assistant'")
    items = []
    for index in range(n_conversations):
        rng = random.Random(f"reme-synthetic/{style}/{seed}/{index}")
        sample_id = f"synth-{style}-{seed}-{index}"
        items.append(_Conversation(rng, sample_id, sessions, style).build())
    return items


def write_synthetic(path: str | os.PathLike[str], **kw: Any) -> Path:
    """Write ``generate_synthetic(**kw)`` to ``path`` as a LoCoMo JSON file (parents created); returns the path."""
    items = generate_synthetic(**kw)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return target


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    """Reject a non-integer or out-of-range argument with :class:`BadInputError`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInputError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise BadInputError(f"{name} must be between {low} and {high}, got {value}")


def _cap(text: str) -> str:
    """Upper-case the first character."""
    return text[:1].upper() + text[1:]


def _a(noun: str) -> str:
    """The noun with ``a`` or ``an``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _day(date: dt.date) -> str:
    """LoCoMo's answer style for a day: ``7 May 2023``."""
    return f"{date.day} {_MONTHS[date.month - 1]} {date.year}"


def _session_stamp(moment: dt.datetime) -> str:
    """LoCoMo's session date style: ``1:56 pm on 8 May, 2023``."""
    hour = moment.hour % 12 or 12
    half = "am" if moment.hour < 12 else "pm"
    return f"{hour}:{moment.minute:02d} {half} on {moment.day} {_MONTHS[moment.month - 1]}, {moment.year}"


def _duration(minutes: int) -> str:
    """A finishing time: ``52 minutes`` or ``1:52``."""
    return f"{minutes} minutes" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}"


class _Names:
    """Draws person and pet names without repeats within one conversation."""

    def __init__(self, rng: random.Random) -> None:
        self._female = list(V.FEMALE_NAMES)
        self._male = list(V.MALE_NAMES)
        self._pets = list(V.PET_NAMES)
        for pool in (self._female, self._male, self._pets):
            rng.shuffle(pool)
        self._rng = rng

    def person(self, female: bool | None = None) -> str:
        """A fresh first name (of either gender when ``female`` is ``None``)."""
        if female is None:
            female = self._rng.random() < 0.5
        return (self._female if female else self._male).pop()

    def pet(self) -> str:
        """A fresh pet name."""
        return self._pets.pop()


class _Conversation:
    """Plans one conversation (stories, distractors, questions) and renders it as a LoCoMo item."""

    def __init__(self, rng: random.Random, sample_id: str, n_sessions: int, style: str) -> None:
        self.rng = rng
        self.sample_id = sample_id
        self.n = n_sessions
        self.chat = style == "chat"
        self.names = _Names(rng)
        self.dates = self._make_dates()
        self.personas = self._make_personas()
        self.beats: list[_Beat] = []
        self.asks: list[_Ask] = []
        self.traps: list[_Ask] = []
        self.swaps: list[_Swap] = []
        self._talk: list[tuple[str, str]] = []
        self.load = [0] * n_sessions
        self._key_count = 0
        self._used_places: list[str] = [p.city.name for p in self.personas]

    # ----------------------------------------------------------------------------------------------------
    # Setup

    def _make_dates(self) -> list[dt.datetime]:
        """Session start times, 4 to 30 days apart, starting somewhere in 2022-2023."""
        day = dt.date(2022, 1, 1) + dt.timedelta(days=self.rng.randrange(700))
        dates = []
        for _ in range(self.n):
            moment = dt.datetime(day.year, day.month, day.day, self.rng.randint(8, 21), self.rng.randrange(60))
            dates.append(moment)
            day += dt.timedelta(days=self.rng.randint(4, 30))
        return dates

    def _make_personas(self) -> list[_Persona]:
        """Two named friends (chat) or one user (assistant style); jobs and cities differ."""
        jobs = self.rng.sample(V.JOBS, 2)
        cities = self.rng.sample(V.HOME_CITIES, 2)
        if not self.chat:
            return [_Persona("user", "the user", "they", "them", "their", jobs[0], cities[0], self.rng.random() < 0.5)]
        personas = []
        for index in range(2):
            female = self.rng.random() < 0.5
            pronouns = ("she", "her", "her") if female else ("he", "him", "his")
            name = self.names.person(female)
            personas.append(_Persona(name, name, *pronouns, jobs[index], cities[index], female))
        return personas

    def _key(self) -> str:
        """A fresh key naming a planned turn."""
        self._key_count += 1
        return f"k{self._key_count}"

    def _session(self, low: int = 0, high: int | None = None) -> int:
        """The least-loaded session in ``[low, high]`` (clamped), ties broken at random."""
        last = self.n - 1
        high = last if high is None else min(high, last)
        low = max(0, min(low, last))
        high = max(low, high)
        candidates = list(range(low, high + 1))
        least = min(self.load[s] for s in candidates)
        return self.rng.choice([s for s in candidates if self.load[s] == least])

    def _when(self, session: int, kinds: tuple[str, ...] = ("day", "weekend", "week")) -> tuple[str, str]:
        """A relative time expression said in ``session`` and the answer it resolves to."""
        today = self.dates[session].date()
        options: list[str] = []
        if "day" in kinds:
            options += ["yesterday", "two days ago", "weekday"]
        if "weekend" in kinds:
            options += ["last weekend"]
        if "week" in kinds:
            options += ["last week", "a few days ago"]
        if "month" in kinds:
            options += ["last month"]
        pick = self.rng.choice(options)
        if pick == "yesterday":
            return pick, _day(today - dt.timedelta(days=1))
        if pick == "two days ago":
            return pick, _day(today - dt.timedelta(days=2))
        if pick == "weekday":
            weekday = self.rng.randrange(7)
            back = (today.weekday() - weekday) % 7 or 7
            return f"on {_WEEKDAYS[weekday]}", _day(today - dt.timedelta(days=back))
        if pick == "last weekend":
            return pick, f"the weekend before {_day(today)}"
        if pick == "last week":
            return pick, f"the week before {_day(today)}"
        if pick == "a few days ago":
            return pick, f"a few days before {_day(today)}"
        first = today.replace(day=1) - dt.timedelta(days=1)
        return "last month", f"{_MONTHS[first.month - 1]} {first.year}"

    def _place(self, pool: tuple[V.City, ...]) -> V.City:
        """A city not yet used in this conversation."""
        city = self.rng.choice([c for c in pool if c.name not in self._used_places])
        self._used_places.append(city.name)
        return city

    # ----------------------------------------------------------------------------------------------------
    # Turns, facts and questions

    def _term(self, said: str, *paraphrases: str) -> str:
        """How a question names something: the word that was said (half the time) or one of its paraphrases.

        Keeping the word sometimes makes keyword search useful but not sufficient, as in LoCoMo: the same
        word also appears in distractor turns.
        """
        if not paraphrases or self.rng.random() < KEEP_WORD:
            return said
        return self.rng.choice(paraphrases)

    def _fields(self, p: int) -> dict[str, str]:
        """Template fields naming persona ``p``."""
        per = self.personas[p]
        return {"name": per.ref, "subj": per.subj, "obj": per.obj, "poss": per.poss}

    def _fact(self, p: int, template: str, **fields: str) -> str:
        """A third-person observation about persona ``p``."""
        return _cap(template.format(**self._fields(p), **fields))

    def _ask(self, p: int, category: int, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Record a question about persona ``p`` (one of ``templates``, filled in)."""
        question = _cap(self.rng.choice(templates).format(**self._fields(p), **f))
        self.asks.append(_Ask(category, question, answer, keys))

    def _trap(self, p: int, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Record a category-5 candidate: a question about persona ``p`` that the conversation cannot answer."""
        question = _cap(self.rng.choice(templates).format(**self._fields(p), **f))
        self.traps.append(_Ask(5, question, answer, keys))

    def _swap(self, p: int, kind: str, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Remember a question to ask about the *other* persona, of what only ``p`` did (chat style only)."""
        if self.chat:
            self.swaps.append(_Swap(kind, p, self.rng.choice(templates), answer, keys, f))

    def _react(self, owner: int, kind: str) -> str:
        """The listener's short reaction (chat) to the owner's news."""
        pool = _REACT.get(kind, ()) + (V.REACTIONS if kind in _GENERIC_REACT else ())
        text = self.rng.choice(pool).format(other=self.personas[owner].name)
        if kind in _GENERIC_REACT and self.rng.random() < 0.5:
            text += " " + self.rng.choice(V.SUPPORT)
        return text

    def _reply(self, kind: str, specific: tuple[str, ...] = ()) -> str:
        """A long assistant reply: an opener, advice sentences for the topic, a general tip and a closer."""
        advice = V.ASSISTANT_ADVICE.get(_TOPIC.get(kind, kind), ())
        body = list(specific) or self.rng.sample(advice, min(len(advice), self.rng.randint(3, 5)))
        body += self.rng.sample(V.ASSISTANT_ADVICE["generic"], 1 if specific else 2)
        return " ".join([self.rng.choice(V.ASSISTANT_OPENERS), *body, self.rng.choice(V.ASSISTANT_CLOSERS)])

    def _beat(
        self,
        session: int,
        owner: int,
        kind: str,
        text: str,
        key: str = "",
        fact: str = "",
        *,
        event: bool = False,
        caption: str = "",
        follow: _Follow | None = None,
        follow_key: str = "",
    ) -> None:
        """Add a beat: the owner says ``text``, the other reacts; an optional follow-up exchange."""
        other = 1 - owner
        if self.chat:
            extra = V.ELABORATIONS.get(kind, ())
            if extra and self.rng.random() < 0.7:
                text = f"{text} {self.rng.choice(extra)}"
            lines = [_Line(owner, text, key, caption)]
            if follow is None:
                lines.append(_Line(other, self._react(owner, kind)))
            else:
                lines.append(_Line(other, f"{self._react(owner, kind)} {follow.ask}"))
                lines.append(_Line(owner, follow.answer, follow_key))
        else:
            topic = _TOPIC.get(kind, kind)
            request = self.rng.choice(V.ASSISTANT_REQUESTS.get(topic, V.ASSISTANT_REQUESTS["generic"]))
            lines = [_Line(0, f"{text} {request}", key), _Line(1, self._reply(kind))]
            if follow is not None:
                told = follow.told or follow.answer
                ask = self.rng.choice(V.ASSISTANT_REQUESTS["generic"])
                lines += [_Line(0, f"{told} {ask}", follow_key), _Line(1, self._reply(kind))]
        facts = [_Fact(owner, fact, key, event)] if fact else []
        if follow is not None and follow.fact:
            facts.append(_Fact(owner, follow.fact, follow_key))
        self.beats.append(_Beat(session, owner, lines, facts))
        self.load[session] += len(lines)

    # ----------------------------------------------------------------------------------------------------
    # Stories

    def _story_job(self, p: int, switch: bool) -> None:
        """Persona ``p``'s job, and maybe a switch to a job in another industry in a later session."""
        per, rng = self.personas[p], self.rng
        job = per.job
        per.kinds.add("job")
        s1 = self._session(0, self.n // 2 - 1 if switch else None)
        k1 = self._key()
        intro = rng.choice(
            (
                "Work has been a lot lately. Being {a_title} at {workplace} means {detail} this month.",
                "Long week at {workplace}. {detail_cap}, the joys of being {a_title}!",
                "Honestly, I love being {a_title}, even with {detail}.",
                "I'm wiped. {detail_cap} all week at {workplace}. Some days I forget why I became {a_title}.",
            )
        ).format(a_title=_a(job.title), workplace=job.workplace, detail=job.detail, detail_cap=_cap(job.detail))
        follow = None
        if rng.random() < 0.5:
            years = rng.randint(2, 15)
            follow = _Follow("How long have you been doing that now?", f"Going on {years} years, believe it or not.")
        fact = self._fact(p, "{name} works as {title} at {workplace}.", title=_a(job.title), workplace=job.workplace)
        self._beat(s1, p, "job", intro, k1, fact, follow=follow, follow_key=self._key())
        if not switch:
            self._ask(
                p,
                4,
                (
                    "What does {name} do for a living?",
                    "What is {name}'s profession?",
                    "What does {name} do at {workplace}?",
                ),
                job.title,
                [k1],
                workplace=job.workplace,
            )
            self._ask(
                p, 3, ("Which industry does {name} work in?", "In what sector is {name} employed?"), job.sector, [k1]
            )
            return
        per.kinds.add("job_switch")
        taken = [persona.job for persona in self.personas]
        new = rng.choice([j for j in V.JOBS if j.sector != job.sector and j not in taken])
        s2 = self._session(s1 + 1)
        when, when_answer = self._when(s2, ("day",))
        k2, k3 = self._key(), self._key()
        text = rng.choice(
            (
                "Big news: I started a new job {when}! I'm {a_title} at {workplace} now. Leaving {old} was sad.",
                "So... I left {old}. My first day as {a_title} at {workplace} was {when}.",
                "New chapter for me: I'm {a_title} at {workplace} now. Started {when}.",
            )
        ).format(when=when, a_title=_a(new.title), workplace=new.workplace, old=job.workplace)
        reason, reason_third = rng.choice(V.SWITCH_REASONS)
        reason_third = reason_third.format(**self._fields(p))
        follow = _Follow(
            "What made you switch?",
            f"Honestly, {reason}.",
            told=f"I switched because {reason}.",
            fact=self._fact(p, "{name} changed jobs because {reason}.", reason=reason_third),
        )
        fact = self._fact(
            p,
            "{name} left {poss} job as {old} and started as {new} at {place} {when}.",
            old=_a(job.title),
            new=_a(new.title),
            place=new.workplace,
            when=when,
        )
        self._beat(s2, p, "switch", text, k2, fact, event=True, follow=follow, follow_key=k3)
        self._ask(
            p,
            4,
            (
                "What is {name}'s current job?",
                "What does {name} do for work now?",
                "What role does {name} hold at the moment?",
            ),
            new.title,
            [k2],
        )
        self._ask(
            p,
            1,
            (
                "What jobs has {name} held over the course of these conversations?",
                "What was {name}'s occupation before the career change, and what is it now?",
            ),
            f"{job.title}, then {new.title}",
            [k1, k2],
        )
        self._ask(
            p,
            2,
            ("When did {name} begin the new position?", "When did {name} take up {poss} latest role?"),
            when_answer,
            [k2],
        )
        self._ask(
            p,
            3,
            ("Which field did {name} move into with the career change?", "What industry is {name}'s newest role in?"),
            new.sector,
            [k2],
        )
        self._ask(
            p,
            4,
            ("Why did {name} change employers?", "What was {name}'s reason for leaving {poss} previous workplace?"),
            reason_third,
            [k3],
        )

    def _story_home(self, p: int, move: bool) -> None:
        """Where persona ``p`` lives, and maybe a move announced later and settled later still."""
        per, rng = self.personas[p], self.rng
        city = per.city
        s1 = self._session(0, self.n // 2 - 1 if move else None)
        k1 = self._key()
        text = rng.choice(
            (
                "Can't believe it's been {years} years since I moved to {city}. Still not tired of {feature}.",
                "Gorgeous evening here in {city}. I never get tired of {feature}.",
                "Took the long way home through {city} today just to enjoy {feature}.",
            )
        ).format(years=rng.randint(2, 12), city=city.name, feature=city.feature, feature_cap=_cap(city.feature))
        self._beat(s1, p, "home", text, k1, self._fact(p, "{name} lives in {city}.", city=city.name))
        if not move:
            self._ask(p, 4, ("Which city does {name} call home?", "Where is {name} based?"), city.name, [k1])
            self._ask(p, 3, ("In which {kind} does {name} live?",), city.region, [k1], kind=city.region_kind)
            return
        per.kinds.add("move")
        new = self._place(V.HOME_CITIES)
        s2 = self._session(s1 + 1, self.n - 2 if self.n - s1 > 2 else None)
        k2 = self._key()
        reason = rng.choice(V.MOVE_REASONS)
        text = rng.choice(
            (
                "Huge news: I'm moving to {city}! {reason}",
                "I signed a lease in {city}. {reason} Moving day is in a few weeks.",
                "It's official, I'm leaving {old} for {city}. {reason}",
            )
        ).format(city=new.name, old=city.name, reason=reason)
        fact = self._fact(p, "{name} is moving from {old} to {city}.", old=city.name, city=new.name)
        self._beat(s2, p, "move", text, k2, fact, event=True)
        self._ask(
            p,
            1,
            (
                "Which city did {name} leave, and where did {name} relocate to?",
                "Where did {name} live before the move, and where did {name} end up?",
            ),
            f"from {city.name} to {new.name}",
            [k1, k2],
        )
        self._ask(
            p,
            3,
            ("In which {kind} is {name}'s new home?", "What {kind} did {name} relocate to?"),
            new.region,
            [k2],
            kind=new.region_kind,
        )
        # "Since I moved to Denver" may be said by anyone: ask about the recent relocation only.
        self._swap(p, "move", ("Which city is {name} relocating to?", "Where is {name} moving next?"), new.name, [k2])
        if s2 == self.n - 1:
            self._ask(p, 4, ("Where is {name} relocating?", "Which city is {name} about to call home?"), new.name, [k2])
            return
        s3 = self._session(s2 + 1)
        k3 = self._key()
        when, when_answer = self._when(s3, ("day", "weekend"))
        feature = rng.choice(V.NEW_HOME_FEATURES)
        text = rng.choice(
            (
                "Finally unpacked the last box {when}! The new place in {city} has {feature}, I'm in love.",
                "I'm officially settled in {city}. Got the last of the boxes sorted {when}. And we have {feature}!",
            )
        ).format(when=when, city=new.name, feature=feature)
        fact = self._fact(
            p, "{name} finished settling into a new home in {city} that has {feature}.", city=new.name, feature=feature
        )
        self._beat(s3, p, "home", text, k3, fact, event=True)
        self._ask(
            p,
            4,
            (
                "Where does {name} live now?",
                "Which city is {name} living in these days?",
                "Which city is home for {name} at this point?",
            ),
            new.name,
            [k3],
        )
        self._ask(
            p,
            2,
            ("When was {name} done with the move?", "When did {name} finish getting the new home in order?"),
            when_answer,
            [k3],
        )
        self._ask(p, 4, ("What does {name} love about the new place?",), feature, [k3])

    def _story_adopt(self, p: int) -> None:
        """Persona ``p`` adopts a young animal; its name is revealed in a later session."""
        per, rng = self.personas[p], self.rng
        per.kinds.update(("pet", "pet_adopt"))
        species = rng.choice(V.SPECIES)
        breed, pet = rng.choice(species.breeds), self.names.pet()
        shelter, shelter_para = rng.choice(V.SHELTERS)
        s1 = self._session(0, self.n - 2)
        s2 = self._session(s1 + 1)
        when, when_answer = self._when(s1)
        k1, k2 = self._key(), self._key()
        text = rng.choice(
            (
                "{when_cap} I adopted a little {breed} {young} from {shelter}! Still can't settle on a name.",
                "Meet the newest member of the family: a {breed} {young} from {shelter}. Came home {when}. "
                "Name still pending!",
                "I did a thing. {when_cap} I adopted a {breed} {young} from {shelter}. Still thinking about names.",
            )
        ).format(when=when, when_cap=_cap(when), breed=breed, young=species.young, shelter=shelter)
        fact = self._fact(
            p,
            "{name} adopted a {breed} {young} from {shelter} {when}.",
            breed=breed,
            young=species.young,
            shelter=shelter,
            when=when,
        )
        self._beat(s1, p, "pet", text, k1, fact, event=True, caption=species.caption)
        text = rng.choice(
            (
                "We finally picked a name for the {young}: {pet}! {reason}",
                "{pet} (yes, that's what I ended up calling the {young}) chewed up my favorite sneakers.",
                "Update on the little {breed}: the name is officially {pet}. {reason}",
            )
        ).format(
            young=species.young,
            pet=pet,
            breed=breed,
            reason=rng.choice(("My niece suggested it.", "It just suits that little face.", "Took long enough!")),
        )
        fact = self._fact(p, "{name} named {poss} {species} {pet}.", species=species.word, pet=pet)
        self._beat(s2, p, "pet", text, k2, fact)
        para = self._term(species.word, *species.paraphrases)
        shelter_para = self._term(shelter, shelter_para)
        self._ask(
            p,
            1,
            (
                "What did {name} end up calling the {para} {subj} brought home from {shelter}?",
                "What name did {name} give the {para} {subj} took in?",
            ),
            pet,
            [k1, k2],
            para=para,
            shelter=shelter_para,
        )
        self._ask(
            p,
            2,
            ("When did {name} bring home {poss} {para}?", "When did {name} take in the {para}?"),
            when_answer,
            [k1],
            para=para,
        )
        self._ask(
            p,
            4,
            ("What breed is {name}'s {para}?", "What kind of {species} did {name} get?"),
            breed,
            [k1],
            para=para,
            species=species.word,
        )
        self._ask(
            p,
            3,
            (
                "Would {name} be a good person to ask about caring for a young {species}?",
                "Is {name} likely to know something about raising a baby {species}?",
            ),
            f"Yes; {per.subj} adopted a {species.young} and named it {pet}",
            [k1, k2],
            species=species.word,
        )
        self._swap(
            p,
            "pet_adopt",
            ("What is the name of the {para} {name} adopted?", "What did {name} call {poss} new {para}?"),
            pet,
            [k2],
            para=para,
        )

    def _story_old_pet(self, p: int) -> None:
        """Persona ``p`` mentions a pet they already have."""
        per, rng = self.personas[p], self.rng
        per.kinds.add("pet")
        species, anecdote = rng.choice(V.OLD_PETS + tuple((s.word, s.anecdote) for s in V.SPECIES))
        pet = self.names.pet()
        key = self._key()
        text = (
            anecdote.format(pet=pet)
            + " "
            + rng.choice(
                ("Life with a {species}, never a dull moment.", "Still love my little {species} though.")
            ).format(species=species)
        )
        self._beat(
            self._session(),
            p,
            "old_pet",
            text,
            key,
            self._fact(p, "{name} has a {species} named {pet}.", species=species, pet=pet),
        )
        if rng.random() < 0.5:
            self._ask(
                p, 4, ("What kind of animal is {pet}?", "What species is {name}'s pet {pet}?"), species, [key], pet=pet
            )
        else:
            self._ask(p, 4, ("What is the name of {name}'s {species}?",), pet, [key], species=species)

    def _story_preference(self, p: int, change: bool) -> None:
        """A taste of persona ``p``; when ``change``, a later turn supersedes it."""
        per, rng = self.personas[p], self.rng
        pref = rng.choice(V.PREFERENCES)
        per.kinds.add("pref:" + pref.topic)
        old, new = rng.sample(pref.options, 2)
        s1 = self._session(0, self.n // 2 - 1 if change else None)
        k1 = self._key()
        text = rng.choice(pref.first).format(old=old, old_cap=_cap(old))
        fact = self._fact(p, "{name}'s {topic} is {old}.", old=old, topic=pref.topic)
        self._beat(s1, p, "pref", text, k1, fact)
        para = self._term(pref.topic, *pref.paraphrases)
        if not change:
            self._ask(
                p, 4, ("What is {name}'s {para}?", "How would you describe {name}'s {para}?"), old, [k1], para=para
            )
            return
        s2 = self._session(s1 + 1)
        k2 = self._key()
        text = rng.choice(pref.change).format(old=old, new=new, new_cap=_cap(new))
        fact = self._fact(p, "{name}'s {topic} changed from {old} to {new}.", old=old, new=new, topic=pref.topic)
        self._beat(s2, p, "pref_change", text, k2, fact)
        self._ask(p, 4, pref.questions, new, [k2])
        self._ask(
            p,
            1,
            (
                "How has {name}'s {para} changed over time?",
                "What did {name} used to prefer, and what now, for {poss} {para}?",
            ),
            f"from {old} to {new}",
            [k1, k2],
            para=para,
        )

    def _story_hobbies(self, p: int, hobbies: list[V.Hobby]) -> dict[str, str]:
        """Persona ``p``'s pastimes, each in its own session; returns the key of each hobby's turn."""
        per, rng = self.personas[p], self.rng
        keys: dict[str, str] = {}
        for hobby in hobbies:
            per.traits.append(hobby.trait)
            key = self._key()
            follow = None
            if rng.random() < 0.4:
                years = rng.randint(2, 12)
                follow = _Follow(
                    "How did you get into that?", f"A friend dragged me along {years} years ago. Never stopped."
                )
            fact = self._fact(p, "{name} enjoys {hobby}.", hobby=hobby.name)
            self._beat(
                self._session(), p, "hobby", rng.choice(hobby.lines), key, fact, follow=follow, follow_key=self._key()
            )
            keys[hobby.name] = key
        first = hobbies[0]
        if len(hobbies) == 1:
            self._ask(
                p,
                4,
                (
                    "What does {name} like to do in {poss} spare time?",
                    "How does {name} unwind on weekends?",
                    "Which activity involving {para} does {name} do?",
                ),
                first.name,
                [keys[first.name]],
                para=first.paraphrase,
            )
        else:
            self._ask(
                p,
                1,
                ("What hobbies does {name} have?", "Which pastimes has {name} mentioned?"),
                " and ".join(h.name for h in hobbies),
                [keys[h.name] for h in hobbies],
            )
        hobby = rng.choice(hobbies)
        good = rng.choice(V.TRAIT_OUTINGS[hobby.trait])
        other_traits = [t for t in V.TRAIT_OUTINGS if t not in per.traits]
        bad = rng.choice(V.TRAIT_OUTINGS[rng.choice(other_traits)])
        first_option, second_option = (good, bad) if rng.random() < 0.5 else (bad, good)
        self._ask(
            p,
            3,
            (
                "Which would {name} probably enjoy more: {x} or {y}?",
                "If {name} had to pick between {x} and {y}, which would be the likelier choice?",
            ),
            f"{good}, since {per.ref} enjoys {hobby.name}",
            [keys[hobby.name]],
            x=first_option,
            y=second_option,
        )
        return keys

    def _story_family(self, p: int, female: bool) -> None:
        """A partner and/or a child of persona ``p``."""
        per, rng = self.personas[p], self.rng
        if rng.random() < 0.7 or not self.chat:
            relation = rng.choice(V.PARTNERS_FOR_FEMALE if female else V.PARTNERS_FOR_MALE)
            partner = self.names.person(relation.female)
            per.partner = (relation, partner)
            surprise = rng.choice(V.PARTNER_SURPRISES)
            key = self._key()
            text = rng.choice(
                (
                    "My {rel}, {partner}, surprised me with {surprise} last night.",
                    "{partner} (my {rel}) planned {surprise} for me on Saturday. I really lucked out.",
                )
            ).format(rel=relation.word, partner=partner, surprise=surprise)
            fact = self._fact(
                p,
                "{name}'s {rel} {partner} surprised {obj} with {surprise}.",
                rel=relation.word,
                partner=partner,
                surprise=surprise,
            )
            self._beat(self._session(), p, "family", text, key, fact)
            self._ask(
                p,
                4,
                ("What is the name of {name}'s {rel}?", "Who is {name}'s {rel}?"),
                partner,
                [key],
                rel=self._term(relation.word, relation.paraphrase),
            )
        if rng.random() < 0.6:
            kid_female = rng.random() < 0.5
            kid = self.names.person(kid_female)
            event, event_para = rng.choice(V.KID_EVENTS)
            key = self._key()
            desc = (
                rng.choice(("daughter", "youngest", "oldest"))
                if kid_female
                else rng.choice(("son", "youngest", "oldest"))
            )
            text = rng.choice(
                ("My {desc} {kid} {event} this week! So proud.", "Big week at home: {kid}, my {desc}, {event}!")
            ).format(desc=desc, kid=kid, event=event)
            fact = self._fact(p, "{name}'s child {kid} {event}.", kid=kid, event=event)
            self._beat(self._session(), p, "family", text, key, fact)
            self._ask(
                p,
                4,
                ("Which of {name}'s children {event}?", "What is the name of {name}'s kid who {event}?"),
                kid,
                [key],
                event=self._term(event, event_para),
            )

    def _story_trip(self, p: int) -> None:
        """Persona ``p`` travels somewhere with a companion."""
        per, rng = self.personas[p], self.rng
        per.kinds.add("trip")
        dest = self._place(V.DESTINATIONS)
        companion = rng.choice(V.COMPANIONS)
        mate = self.names.person(companion.female)
        length = rng.choice(V.TRIP_LENGTHS)
        session = self._session()
        when, when_answer = self._when(session, ("week", "month"))
        key = self._key()
        text = rng.choice(
            (
                "Guess where I was {when}? {dest}! My {rel} {mate} and I spent {length} there. {detail}",
                "{when_cap} my {rel} {mate} and I flew out to {dest} for {length}. {detail}",
                "Still dreaming about {dest}. {mate}, my {rel}, and I went {when} for {length}. {feature_cap}, wow.",
            )
        ).format(
            when=when,
            when_cap=_cap(when),
            dest=dest.name,
            rel=companion.word,
            mate=mate,
            length=length,
            detail=rng.choice(V.TRIP_DETAILS),
            feature_cap=_cap(dest.feature),
        )
        fact = self._fact(
            p,
            "{name} traveled to {dest} with {poss} {rel} {mate} for {length} {when}.",
            dest=dest.name,
            rel=companion.word,
            mate=mate,
            length=length,
            when=when,
        )
        caption = rng.choice(("a photo of two people smiling on a crowded old street", "a photo of a harbor at sunset"))
        follow = _Follow("What was the highlight?", f"Honestly, {dest.feature}. And just slowing down with {mate}.")
        self._beat(
            session,
            p,
            "trip",
            text,
            key,
            fact,
            event=True,
            caption=caption,
            follow=follow if rng.random() < 0.5 else None,
            follow_key=self._key(),
        )
        word = rng.choice(V.TRIP_WORDS)
        rel = self._term(companion.word, companion.paraphrase)
        fields = {"rel": rel, "mate": mate, "word": word, "kind": dest.region_kind}
        self._ask(
            p,
            4,
            (
                "Which city did {name} visit with {poss} {rel}?",
                "Where did {name} go on the {word} with {mate}?",
                "What destination did {name} pick for the {word} with {poss} {rel}?",
            ),
            dest.name,
            [key],
            **fields,
        )
        self._ask(
            p,
            2,
            ("When did {name} go on the {word} with {poss} {rel}?", "When did {name} travel with {mate}?"),
            when_answer,
            [key],
            **fields,
        )
        if rng.random() < 0.6:
            self._ask(p, 3, ("Which {kind} did {name} visit with {poss} {rel}?",), dest.region, [key], **fields)
        self._swap(p, "trip", ("Where did {name} travel with {poss} {rel}?",), dest.name, [key], rel=rel)

    def _story_race(self, p: int) -> None:
        """Persona ``p`` runs a race (finishing time, maybe a cause)."""
        per, rng = self.personas[p], self.rng
        per.kinds.add("race")
        race = rng.choice(V.RACES)
        finish = _duration(rng.randint(race.fastest, race.slowest))
        session = self._session()
        when, when_answer = self._when(session, ("day", "weekend"))
        key, cause_key = self._key(), self._key()
        text = rng.choice(
            (
                "I did it! Ran the {race} {when} and finished in {finish}.",
                "{when_cap} I ran my first {race}. {finish_cap}, not bad for a beginner!",
                "Finished the {race} {when} in {finish}. Legs are jelly but I'm so happy.",
            )
        ).format(race=race.name, when=when, when_cap=_cap(when), finish=finish, finish_cap=_cap(finish))
        fact = self._fact(
            p, "{name} ran a {race} {when} and finished in {finish}.", race=race.name, when=when, finish=finish
        )
        cause = rng.choice(V.RACE_CAUSES)
        follow = _Follow(
            "Was it for a cause?",
            f"Yes! We raised money for {cause}.",
            told=f"The race raised money for {cause}.",
            fact=self._fact(p, "{name}'s race raised money for {cause}.", cause=cause),
        )
        with_cause = rng.random() < 0.6
        caption = "a photo of a runner holding a medal at a finish line"
        self._beat(
            session,
            p,
            "race",
            text,
            key,
            fact,
            event=True,
            caption=caption,
            follow=follow if with_cause else None,
            follow_key=cause_key,
        )
        para = self._term(race.name, *race.paraphrases)
        self._ask(
            p,
            4,
            ("How long did it take {name} to complete the {para}?", "What was {name}'s finishing time in the {para}?"),
            finish,
            [key],
            para=para,
        )
        self._ask(
            p,
            2,
            ("When did {name} take part in the {para}?", "When did {name} compete in the {para}?"),
            when_answer,
            [key],
            para=para,
        )
        if with_cause:
            self._ask(
                p,
                4,
                ("Which cause did {name}'s {para} support?", "What was {name} raising funds for with the {para}?"),
                cause,
                [cause_key],
                para=para,
            )
        self._swap(p, "race", ("What was {name}'s finishing time in the {para}?",), finish, [key], para=para)

    def _story_course(self, p: int) -> None:
        """Persona ``p`` signs up for a course."""
        per, rng = self.personas[p], self.rng
        per.kinds.add("course")
        course = rng.choice(V.COURSES)
        day, venue = (
            rng.choice(V.COURSE_DAYS),
            rng.choice(("the community college", "the rec center", "a studio downtown")),
        )
        session = self._session()
        when, when_answer = self._when(session, ("day",))
        key = self._key()
        dated = rng.random() < 0.5
        if dated:
            text = "Went to my first session of {course} at {venue} {when}. I was terrible and loved it."
        else:
            text = rng.choice(
                (
                    "I signed up for {course} at {venue}! {day} nights for the next eight weeks.",
                    "Guess who's taking {course}? Me! It meets every {day} night at {venue}.",
                )
            )
        text = text.format(course=course.name, venue=venue, day=day, when=when)
        fact = self._fact(p, "{name} signed up for {course} at {venue}.", course=course.name, venue=venue)
        self._beat(session, p, "course", text, key, fact, event=True)
        self._ask(
            p,
            4,
            ("Which class about {para} did {name} join?", "What did {name} enroll in to learn {para}?"),
            course.name,
            [key],
            para=course.paraphrase,
        )
        if dated:
            self._ask(p, 2, ("When did {name} attend the first lesson of {poss} new class?",), when_answer, [key])
        else:
            self._ask(p, 4, ("What has {name} been attending on {day} evenings?",), course.name, [key], day=day)
        self._swap(
            p,
            "course",
            ("What class did {name} enroll in?", "What is {name} learning in evening classes?"),
            course.name,
            [key],
        )

    def _story_gift(self, p: int) -> None:
        """Persona ``p`` receives a present."""
        per, rng = self.personas[p], self.rng
        per.kinds.add("gift")
        gift = rng.choice(V.GIFTS)
        giver = per.partner[0].word if per.partner and rng.random() < 0.4 else rng.choice(V.GIFT_GIVERS)
        occasion = rng.choice(V.OCCASIONS)
        key = self._key()
        text = rng.choice(
            (
                "My {giver} got me {gift} for {occasion}! {extra}",
                "Look what my {giver} gave me for {occasion}: {gift}! {extra}",
                "{gift_cap}! That's what my {giver} surprised me with for {occasion}.",
            )
        ).format(
            giver=giver,
            gift=gift,
            gift_cap=_cap(gift),
            occasion=occasion.word,
            extra=rng.choice(("I've used it every day since.", "Totally spoiled.", "I nearly cried.")),
        )
        occasion_third = occasion.word.replace("my ", per.poss + " ").replace("our ", per.poss + " ")
        fact = self._fact(
            p,
            "{name} received {gift} from {poss} {giver} for {occasion}.",
            gift=gift,
            giver=giver,
            occasion=occasion_third,
        )
        self._beat(self._session(), p, "gift", text, key, fact, event=True, caption=f"a photo of {gift} in a gift box")
        giver_para = self._term(giver, V.GIVER_PARAPHRASES.get(giver, giver))
        self._ask(
            p,
            4,
            (
                "What present did {name} receive from {poss} {giver} for {occasion}?",
                "What did {name}'s {giver} give {obj} for {occasion}?",
            ),
            gift,
            [key],
            giver=giver_para,
            occasion=self._term(occasion_third, occasion.paraphrase),
        )
        if per.partner is None or giver != per.partner[0].word:  # partners also give surprises in family news
            self._swap(
                p, "gift", ("What present did {name} receive from {poss} {giver}?",), gift, [key], giver=giver_para
            )

    # ----------------------------------------------------------------------------------------------------
    # Distractors and adversarial questions

    def _distractor(self, session: int, p: int, kind: str) -> None:
        """Persona ``p`` tells of a third person's event that shares vocabulary with the real stories."""
        rng = self.rng
        relation, gender = rng.choice(V.OTHERS)
        other_female = rng.random() < 0.5 if gender is None else gender
        other, their = self.names.person(other_female), "her" if other_female else "his"
        key = self._key()
        if kind == "pet":
            species = rng.choice(V.SPECIES)
            pet = self.names.pet()
            text = f"My {relation} {other} just adopted a {species.young} and named it {pet}."
            fact = f"{{name}}'s {relation} {other} adopted a {species.young} named {pet}."
            if "pet_adopt" not in self.personas[p].kinds:
                para = self._term(species.word, *species.paraphrases)
                self._trap(p, ("What did {name} name the {para} {subj} adopted?",), pet, [key], para=para)
        elif kind == "race":
            race = rng.choice(V.RACES)
            finish = _duration(rng.randint(race.fastest, race.slowest))
            when, _ = self._when(session, ("day", "weekend"))
            text = f"My {relation} {other} ran the {race.name} {when} in {finish}. I could never!"
            fact = f"{{name}}'s {relation} {other} ran a {race.name} in {finish}."
            if "race" not in self.personas[p].kinds:
                para = self._term(race.name, *race.paraphrases)
                self._trap(p, ("How long did it take {name} to finish the {para}?",), finish, [key], para=para)
        elif kind == "trip":
            dest, length = self._place(V.DESTINATIONS), rng.choice(V.TRIP_LENGTHS)
            text = f"My {relation} {other} is off to {dest.name} for {length}. So jealous."
            fact = f"{{name}}'s {relation} {other} is traveling to {dest.name} for {length}."
            if "trip" not in self.personas[p].kinds:
                self._trap(p, ("Where is {name} going on vacation for {length}?",), dest.name, [key], length=length)
        elif kind == "move":
            city = self._place(V.HOME_CITIES)
            text = f"My {relation} {other} is moving to {city.name} next month. Everyone's relocating lately!"
            fact = f"{{name}}'s {relation} {other} is moving to {city.name}."
            if "move" not in self.personas[p].kinds:
                self._trap(p, ("Which city is {name} relocating to?",), city.name, [key])
        elif kind == "job":
            job = rng.choice(V.JOBS)
            text = f"My {relation} {other} just got hired as {_a(job.title)} at {job.workplace}."
            fact = f"{{name}}'s {relation} {other} was hired as {_a(job.title)}."
            if "job_switch" not in self.personas[p].kinds:
                self._trap(p, ("Which new position did {name} get hired for?",), job.title, [key])
        elif kind == "course":
            course = rng.choice(V.COURSES)
            text = f"My {relation} {other} signed up for {course.name}, of all things."
            fact = f"{{name}}'s {relation} {other} signed up for {course.name}."
            if "course" not in self.personas[p].kinds:
                self._trap(
                    p, ("Which class about {para} did {name} join?",), course.name, [key], para=course.paraphrase
                )
        else:
            gift = rng.choice(V.GIFTS)
            text = f"My {relation} {other} got {gift} for {their} birthday. Now I want one."
            fact = f"{{name}}'s {relation} {other} got {gift} as a birthday present."
            if "gift" not in self.personas[p].kinds:
                self._trap(p, ("What birthday present did {name} get?",), gift, [key])
        line_fact = self._fact(p, fact)
        if self.chat:
            lines = [_Line(p, text, key), _Line(1 - p, rng.choice(V.DISTRACTOR_REACTIONS))]
        else:
            lines = [
                _Line(0, f"{text} {rng.choice(V.ASSISTANT_REQUESTS['generic'])}", key),
                _Line(1, self._reply(kind)),
            ]
        self.beats.append(_Beat(session, p, lines, [_Fact(p, line_fact, key)]))
        self.load[session] += len(lines)

    def _resolve_swaps(self) -> None:
        """Turn the swaps into category-5 traps where the other persona never did such a thing."""
        for swap in self.swaps:
            p = 1 - swap.owner
            if swap.kind not in self.personas[p].kinds:
                question = _cap(swap.template.format(**self._fields(p), **swap.fields))
                self.traps.append(_Ask(5, question, swap.answer, swap.keys))

    def _never_said(self, p: int) -> None:
        """Traps about things nobody ever mentioned (no evidence)."""
        for template in self.rng.sample(V.NEVER_SAID, 2):
            self._trap(p, (template,), NOT_MENTIONED, [])

    # ----------------------------------------------------------------------------------------------------
    # Plan and render

    def _plan(self) -> None:
        """Place every story, distractor and question."""
        rng = self.rng
        owners = [0, 1] if self.chat else [0]
        multi = self.n >= 2
        adopter = rng.choice(owners)
        mover = rng.choice(owners) if multi and rng.random() < 0.85 else -1
        switcher = rng.choice(owners) if multi and rng.random() < 0.75 else -1
        hobby_pool = list(V.HOBBIES)
        rng.shuffle(hobby_pool)
        shared = hobby_pool.pop() if self.chat and rng.random() < 0.5 else None
        hobby_keys: list[dict[str, str]] = []
        n_events = min(4, 1 + self.n // 4 + (0 if self.chat else 1))
        for p in owners:
            self._story_family(p, self.personas[p].female)
            self._story_job(p, switch=p == switcher)
            self._story_home(p, move=p == mover)
            if p == adopter and multi:
                self._story_adopt(p)
            elif rng.random() < 0.7:
                self._story_old_pet(p)
            self._story_preference(p, change=multi and rng.random() < 0.85)
            hobbies = [hobby_pool.pop() for _ in range(rng.choice((1, 2)) - (shared is not None))]
            hobby_keys.append(self._story_hobbies(p, [*hobbies, shared] if shared else hobbies))
            events = rng.sample((self._story_trip, self._story_race, self._story_course, self._story_gift), n_events)
            for story in events:
                story(p)
        if shared is not None:
            a, b = self.personas
            self.asks.append(
                _Ask(
                    1,
                    rng.choice(
                        ("What pastime do {a} and {b} have in common?", "Which hobby do {a} and {b} share?")
                    ).format(a=a.ref, b=b.ref),
                    shared.name,
                    [hobby_keys[0][shared.name], hobby_keys[1][shared.name]],
                )
            )
        kinds = ["pet", "race", "trip", "move", "job", "course", "gift"]
        for session in range(self.n):
            for _ in range(rng.choice((0, 1, 1, 2))):
                self._distractor(session, rng.choice(owners), rng.choice(kinds))
        self._resolve_swaps()
        for p in owners:
            self._never_said(p)

    def build(self) -> dict[str, Any]:
        """The conversation as a LoCoMo JSON item."""
        self._plan()
        sessions = [self._layout(s) for s in range(self.n)]
        ids: dict[str, str] = {}
        for s, lines in enumerate(sessions):
            for t, line in enumerate(lines):
                if line.key:
                    ids[line.key] = f"D{s + 1}:{t + 1}"
        names = [p.name for p in self.personas] if self.chat else ["user", "assistant"]
        conversation: dict[str, Any] = {"speaker_a": names[0], "speaker_b": names[1]}
        for s, lines in enumerate(sessions):
            conversation[f"session_{s + 1}_date_time"] = _session_stamp(self.dates[s])
            conversation[f"session_{s + 1}"] = [self._turn(line, s, t, names) for t, line in enumerate(lines)]
        return {
            "qa": self._qa(ids),
            "conversation": conversation,
            "event_summary": self._event_summary(ids, names),
            "observation": self._observations(ids, names),
            "session_summary": self._summaries(ids, names),
            "sample_id": self.sample_id,
        }

    def _turn(self, line: _Line, s: int, t: int, names: list[str]) -> dict[str, Any]:
        """One LoCoMo turn."""
        turn: dict[str, Any] = {"speaker": names[line.speaker], "dia_id": f"D{s + 1}:{t + 1}", "text": line.text}
        if line.caption:
            turn["blip_caption"] = line.caption
        return turn

    def _layout(self, s: int) -> list[_Line]:
        """Order a session's beats (keeping speakers alternating), pad with small talk, open and close."""
        rng = self.rng
        beats = [b for b in self.beats if b.session == s]
        rng.shuffle(beats)
        target = rng.randint(MIN_TURNS, MAX_TURNS)
        content = sum(len(b.lines) for b in beats)
        if self.chat:
            starter = rng.randrange(2)
            lines = [
                _Line(starter, rng.choice(V.GREETINGS).format(other=self.personas[1 - starter].name)),
                _Line(1 - starter, rng.choice(V.GREETING_REPLIES).format(other=self.personas[starter].name)),
            ]
            fillers = [self._small_talk() for _ in range(max(0, (target - 4 - content) // 2))]
            self._interleave(lines, beats, fillers)
            closer = 1 - lines[-1].speaker
            lines.append(_Line(closer, rng.choice(V.CLOSINGS)))
            lines.append(_Line(1 - closer, rng.choice(V.CLOSING_REPLIES).format(other=self.personas[closer].name)))
            return lines
        lines = []
        fillers_needed = max(0, (target - content - 2) // 2)
        pending = [b.lines for b in beats]
        for request, answer in rng.sample(V.FILLER_REQUESTS, min(fillers_needed, len(V.FILLER_REQUESTS))):
            pending.insert(rng.randrange(len(pending) + 1), [_Line(0, request), _Line(1, self._reply("", answer))])
        for chunk in pending:
            lines.extend(chunk)
        lines.append(_Line(0, rng.choice(("Thanks, that's really helpful!", "Great, thank you so much!"))))
        lines.append(_Line(1, "You're welcome! Feel free to come back any time if anything else comes up."))
        return lines

    def _small_talk(self) -> tuple[str, str]:
        """The next small-talk exchange, dealt without repeats until the deck runs out."""
        if not self._talk:
            self._talk = list(V.SMALL_TALK)
            self.rng.shuffle(self._talk)
        return self._talk.pop()

    def _interleave(self, lines: list[_Line], beats: list[_Beat], talk: list[tuple[str, str]]) -> None:
        """Mix beats and small talk into a chat session, keeping speakers alternating.

        Small talk is asked by whoever is next; a beat whose owner spoke last is preceded by the other speaker
        handing over ("What about you?"), and beats that fit the alternation are preferred.
        """
        rng = self.rng
        beats, talk = list(beats), list(talk)
        while beats or talk:
            last = lines[-1].speaker
            if talk and (not beats or rng.random() < len(talk) / (len(talk) + len(beats))):
                question, answer = talk.pop()
                lines += [_Line(1 - last, question), _Line(last, answer)]
                if rng.random() < 0.15:
                    lines.append(_Line(1 - last, rng.choice(_TALK_COMEBACKS)))
                continue
            fitting = [i for i, beat in enumerate(beats) if beat.lines[0].speaker != last]
            beat = beats.pop(fitting[0] if fitting else 0)
            if beat.lines[0].speaker == last:
                lines.append(_Line(1 - last, rng.choice(V.BRIDGES).format(other=self.personas[last].name)))
            lines.extend(beat.lines)

    def _pick_asks(self) -> list[_Ask]:
        """A random subset of the answerable questions (22-30 per conversation), keeping some of each category.

        Facts left without a question stay in the conversation as realistic clutter.
        """
        rng = self.rng
        budget = rng.randint(QUESTIONS_PER_CONVERSATION[0], QUESTIONS_PER_CONVERSATION[1])
        order = list(self.asks)
        rng.shuffle(order)
        chosen: list[_Ask] = []
        for category in (1, 2, 3):
            chosen += [ask for ask in order if ask.category == category][:3]
        for ask in order:
            if len(chosen) >= budget:
                break
            if all(ask is not other for other in chosen):
                chosen.append(ask)
        return chosen

    def _qa(self, ids: dict[str, str]) -> list[dict[str, Any]]:
        """LoCoMo ``qa`` entries: the answerable questions and a few category-5 traps."""
        rng = self.rng
        entries = []
        for ask in self._pick_asks():
            entries.append(
                {
                    "question": ask.question,
                    "answer": ask.answer,
                    "evidence": [ids[k] for k in ask.keys],
                    "category": ask.category,
                }
            )
        traps = [t for t in self.traps if t.category == 5]
        seen: set[str] = set()
        unique = []
        for trap in traps:
            if trap.question not in seen:
                seen.add(trap.question)
                unique.append(trap)
        with_evidence = [t for t in unique if t.keys]
        without = [t for t in unique if not t.keys]
        wanted = rng.randint(4, 6) if self.chat else rng.randint(3, 4)
        chosen = rng.sample(with_evidence, min(len(with_evidence), wanted - 1))
        chosen += rng.sample(without, min(len(without), wanted - len(chosen)))
        for trap in chosen:
            entries.append(
                {
                    "question": trap.question,
                    "adversarial_answer": trap.answer,
                    "evidence": [ids[k] for k in trap.keys],
                    "category": 5,
                }
            )
        rng.shuffle(entries)
        return entries

    def _facts_by_session(self, ids: dict[str, str]) -> list[list[_Fact]]:
        """Facts of each session, in turn order."""
        by_session: list[list[_Fact]] = [[] for _ in range(self.n)]
        for beat in self.beats:
            by_session[beat.session].extend(beat.facts)
        return [sorted(facts, key=lambda f: int(ids[f.key].split(":")[1])) for facts in by_session]

    def _observations(self, ids: dict[str, str], names: list[str]) -> dict[str, Any]:
        """LoCoMo ``observation``: per session, per speaker, ``[fact, dia_id]`` pairs in turn order."""
        result: dict[str, Any] = {}
        for s, facts in enumerate(self._facts_by_session(ids)):
            result[f"session_{s + 1}_observation"] = {
                names[p]: [[f.text, ids[f.key]] for f in facts if f.persona == p] for p in range(len(names))
            }
        return result

    def _summaries(self, ids: dict[str, str], names: list[str]) -> dict[str, str]:
        """LoCoMo ``session_summary``: a dated paragraph per session."""
        result: dict[str, str] = {}
        for s, facts in enumerate(self._facts_by_session(ids)):
            moment = self.dates[s]
            stamp = _session_stamp(moment)
            time_part, date_part = stamp.split(" on ")
            if self.chat:
                opening = f"{names[0]} and {names[1]} talked on {date_part} at {time_part}."
            else:
                opening = f"On {date_part} at {time_part}, the user asked the assistant for help."
            body = " ".join(f.text for f in facts) or "They mostly made small talk."
            result[f"session_{s + 1}_summary"] = f"{opening} {body}"
        return result

    def _event_summary(self, ids: dict[str, str], names: list[str]) -> dict[str, Any]:
        """LoCoMo ``event_summary``: notable events per session and speaker."""
        result: dict[str, Any] = {}
        for s, facts in enumerate(self._facts_by_session(ids)):
            moment = self.dates[s]
            entry: dict[str, Any] = {names[p]: [f.text for f in facts if f.event and f.persona == p] for p in range(2)}
            entry["date"] = f"{moment.day} {_MONTHS[moment.month - 1]}, {moment.year}"
            result[f"events_session_{s + 1}"] = entry
        return result
