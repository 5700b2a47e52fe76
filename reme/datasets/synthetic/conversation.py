"""One conversation being planned: its random stream, sessions, personas and the beats, questions and traps placed
so far, with the primitives every story uses (fresh keys, the least-loaded session, relative times, question and
trap recording, reactions, assistant replies, beats). The stories (``life_stories``, ``event_stories``) and
distractors add to it; ``render`` turns it into a LoCoMo item.
"""

from __future__ import annotations

import datetime as dt
import random

from .plan import Ask, Beat, Fact, Follow, Line, Persona, Swap, least_loaded_session
from .text import MONTHS, WEEKDAYS, cap, locomo_day
from .vocabulary import City, Vocabulary, vocabulary

__all__ = ["KEEP_WORD", "Conversation", "Names"]

KEEP_WORD = 0.5
"""Chance that a question names a thing with the word the conversation used instead of a paraphrase."""

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


class Names:
    """Draws person and pet names without repeats within one conversation."""

    def __init__(self, rng: random.Random, words: Vocabulary) -> None:
        self._female = list(words.female_names)
        self._male = list(words.male_names)
        self._pets = list(words.pet_names)
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


class Conversation:
    """The plan of one conversation so far (see the module docstring); ``reme.datasets.synthetic.generator`` fills
    it and ``render`` writes it out."""

    def __init__(self, rng: random.Random, sample_id: str, n_sessions: int, style: str) -> None:
        self.rng = rng
        self.sample_id = sample_id
        self.n = n_sessions
        self.chat = style == "chat"
        self.words = vocabulary()
        """The vocabulary every story draws from."""
        self.names = Names(rng, self.words)
        self.dates = self._make_dates()
        self.personas = self._make_personas()
        self.beats: list[Beat] = []
        self.asks: list[Ask] = []
        self.traps: list[Ask] = []
        self.swaps: list[Swap] = []
        self.talk_deck: list[tuple[str, str]] = []
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

    def _make_personas(self) -> list[Persona]:
        """Two named friends (chat) or one user (assistant style); jobs and cities differ."""
        jobs = self.rng.sample(self.words.jobs, 2)
        cities = self.rng.sample(self.words.home_cities, 2)
        if not self.chat:
            return [Persona("user", "the user", "they", "them", "their", jobs[0], cities[0], self.rng.random() < 0.5)]
        personas = []
        for index in range(2):
            female = self.rng.random() < 0.5
            pronouns = ("she", "her", "her") if female else ("he", "him", "his")
            name = self.names.person(female)
            personas.append(Persona(name, name, *pronouns, jobs[index], cities[index], female))
        return personas

    def key(self) -> str:
        """A fresh key naming a planned turn."""
        self._key_count += 1
        return f"k{self._key_count}"

    def session(self, low: int = 0, high: int | None = None) -> int:
        """The least-loaded session in ``[low, high]`` (clamped), ties broken at random."""
        return least_loaded_session(self.rng, self.load, low, high)

    def when(self, session: int, kinds: tuple[str, ...] = ("day", "weekend", "week")) -> tuple[str, str]:
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
            return pick, locomo_day(today - dt.timedelta(days=1))
        if pick == "two days ago":
            return pick, locomo_day(today - dt.timedelta(days=2))
        if pick == "weekday":
            weekday = self.rng.randrange(7)
            back = (today.weekday() - weekday) % 7 or 7
            return f"on {WEEKDAYS[weekday]}", locomo_day(today - dt.timedelta(days=back))
        if pick == "last weekend":
            return pick, f"the weekend before {locomo_day(today)}"
        if pick == "last week":
            return pick, f"the week before {locomo_day(today)}"
        if pick == "a few days ago":
            return pick, f"a few days before {locomo_day(today)}"
        first = today.replace(day=1) - dt.timedelta(days=1)
        return "last month", f"{MONTHS[first.month - 1]} {first.year}"

    def place(self, pool: tuple[City, ...]) -> City:
        """A city not yet used in this conversation."""
        city = self.rng.choice([c for c in pool if c.name not in self._used_places])
        self._used_places.append(city.name)
        return city

    # ----------------------------------------------------------------------------------------------------
    # Turns, facts and questions

    def term(self, said: str, *paraphrases: str) -> str:
        """How a question names something: the word that was said (half the time) or one of its paraphrases.

        Keeping the word sometimes makes keyword search useful but not sufficient, as in LoCoMo: the same
        word also appears in distractor turns.
        """
        if not paraphrases or self.rng.random() < KEEP_WORD:
            return said
        return self.rng.choice(paraphrases)

    def fields(self, p: int) -> dict[str, str]:
        """Template fields naming persona ``p``."""
        per = self.personas[p]
        return {"name": per.ref, "subj": per.subj, "obj": per.obj, "poss": per.poss}

    def fact(self, p: int, template: str, **fields: str) -> str:
        """A third-person observation about persona ``p``."""
        return cap(template.format(**self.fields(p), **fields))

    def ask(self, p: int, category: int, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Record a question about persona ``p`` (one of ``templates``, filled in)."""
        question = cap(self.rng.choice(templates).format(**self.fields(p), **f))
        self.asks.append(Ask(category, question, answer, keys))

    def trap(self, p: int, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Record a category-5 candidate: a question about persona ``p`` that the conversation cannot answer."""
        question = cap(self.rng.choice(templates).format(**self.fields(p), **f))
        self.traps.append(Ask(5, question, answer, keys))

    def swap(self, p: int, kind: str, templates: tuple[str, ...], answer: str, keys: list[str], **f: str) -> None:
        """Remember a question to ask about the *other* persona, of what only ``p`` did (chat style only)."""
        if self.chat:
            self.swaps.append(Swap(kind, p, self.rng.choice(templates), answer, keys, f))

    def react(self, owner: int, kind: str) -> str:
        """The listener's short reaction (chat) to the owner's news."""
        pool = _REACT.get(kind, ()) + (self.words.reactions if kind in _GENERIC_REACT else ())
        text = self.rng.choice(pool).format(other=self.personas[owner].name)
        if kind in _GENERIC_REACT and self.rng.random() < 0.5:
            text += " " + self.rng.choice(self.words.support)
        return text

    def reply(self, kind: str, specific: tuple[str, ...] = ()) -> str:
        """A long assistant reply: an opener, advice sentences for the topic, a general tip and a closer."""
        advice = self.words.assistant_advice.get(_TOPIC.get(kind, kind), ())
        body = list(specific) or self.rng.sample(advice, min(len(advice), self.rng.randint(3, 5)))
        body += self.rng.sample(self.words.assistant_advice["generic"], 1 if specific else 2)
        return " ".join(
            [self.rng.choice(self.words.assistant_openers), *body, self.rng.choice(self.words.assistant_closers)]
        )

    def beat(
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
        follow: Follow | None = None,
        follow_key: str = "",
    ) -> None:
        """Add a beat: the owner says ``text``, the other reacts; an optional follow-up exchange."""
        other = 1 - owner
        if self.chat:
            extra = self.words.elaborations.get(kind, ())
            if extra and self.rng.random() < 0.7:
                text = f"{text} {self.rng.choice(extra)}"
            lines = [Line(owner, text, key, caption)]
            if follow is None:
                lines.append(Line(other, self.react(owner, kind)))
            else:
                lines.append(Line(other, f"{self.react(owner, kind)} {follow.ask}"))
                lines.append(Line(owner, follow.answer, follow_key))
        else:
            topic = _TOPIC.get(kind, kind)
            request = self.rng.choice(
                self.words.assistant_requests.get(topic, self.words.assistant_requests["generic"])
            )
            lines = [Line(0, f"{text} {request}", key), Line(1, self.reply(kind))]
            if follow is not None:
                told = follow.told or follow.answer
                ask = self.rng.choice(self.words.assistant_requests["generic"])
                lines += [Line(0, f"{told} {ask}", follow_key), Line(1, self.reply(kind))]
        facts = [Fact(owner, fact, key, event)] if fact else []
        if follow is not None and follow.fact:
            facts.append(Fact(owner, follow.fact, follow_key))
        self.beats.append(Beat(session, owner, lines, facts))
        self.load[session] += len(lines)

    # ----------------------------------------------------------------------------------------------------
    # Stories
