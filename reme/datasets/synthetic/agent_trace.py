"""One agent trace being planned (the ``agent`` style): its random stream, dated sessions, the user, the tool names
and output formats this conversation uses, and the tasks, facts and questions placed so far, with the primitives
every task uses (fresh keys and codes, the least-loaded session, tool calls, JSON and tables, questions and
traps). The tasks (``agent_travel``, ``agent_ops``, ``agent_errands``) add to it; ``agent_traces`` plans and
renders it.

Speakers are indices into :data:`SPEAKERS`: the user (short requests, their own preferences and constraints),
the assistant (the agent: says what it does, calls a tool, restates parts of results) and the tool (results:
JSON, tables, logs, listings)."""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from typing import Any

from .agent_vocabulary import Destination, agent_vocabulary
from .conversation import Names
from .plan import Ask, Fact, Line, least_loaded_session
from .text import MONTHS, WEEKDAYS, cap, locomo_day
from .vocabulary import vocabulary

__all__ = ["AGENT", "RESTATE", "SPEAKERS", "TOOL", "USER", "Task", "Trace", "spoken_day"]

SPEAKERS = ("user", "assistant", "tool")
"""The speaker of each turn as written in the file (``assistant`` is the agent: the name the write features know)."""
USER, AGENT, TOOL = 0, 1, 2

RESTATE = 0.35
"""Chance that the agent's closing turn repeats the value a question asks about (its turn then joins the evidence)."""

_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def spoken_day(day: dt.date) -> str:
    """A day as a user types it: ``June 3``."""
    return f"{MONTHS[day.month - 1]} {day.day}"


@dataclass
class Task:
    """One task in one session: the turns from the user's request to the agent's answer, and what they state."""

    session: int
    title: str
    lines: list[Line]
    facts: list[Fact] = field(default_factory=list)


class Trace:
    """The plan of one agent conversation so far (see the module docstring)."""

    def __init__(self, rng: random.Random, sample_id: str, n_sessions: int) -> None:
        self.rng = rng
        self.sample_id = sample_id
        self.n = n_sessions
        self.words = agent_vocabulary()
        self.names = Names(rng, vocabulary())
        self.dates = self._make_dates()
        first = self.names.person()
        surname = rng.choice(self.words.surnames)
        self.surname = surname
        self.user_name = f"{first} {surname}"
        self.passenger = f"{surname.upper()}/{first.upper()}"
        self.email = f"{first.lower()}.{surname.lower()}@{rng.choice(('northbeam.io', 'corvidlabs.com', 'teal.dev'))}"
        self.home = rng.choice(self.words.homes)
        self.tool = {role: rng.choice(names) for role, names in self.words.tools.items()}
        """The name this conversation's agent framework gives each tool role."""
        self.call_style = rng.randrange(3)
        self.table_style = rng.randrange(2)
        self.indent: int | None = rng.choice((2, None))
        self.tasks: list[Task] = []
        self.asks: list[Ask] = []
        self.filler_deck: list[str] = []
        self.kept: list[Ask] = []
        """The questions about changed values (the current value, the change), asked whatever the budget."""
        self.traps: list[Ask] = []
        self.load = [0] * n_sessions
        self._keys = 0
        self._codes: set[str] = set()
        self.visited: list[str] = []
        """The destinations used so far (filler tasks talk about them)."""
        self.team = [self.colleague() for _ in range(8)]
        """Colleagues who show up in search results, logs and mail (the people a question names are new ones)."""

    def _make_dates(self) -> list[dt.datetime]:
        """Session start times, 2 to 21 days apart, starting somewhere in 2022-2023, in working hours."""
        day = dt.date(2022, 1, 1) + dt.timedelta(days=self.rng.randrange(700))
        dates = []
        for _ in range(self.n):
            dates.append(dt.datetime(day.year, day.month, day.day, self.rng.randint(8, 19), self.rng.randrange(60)))
            day += dt.timedelta(days=self.rng.randint(2, 21))
        return dates

    # ----------------------------------------------------------------------------------------------------
    # Fresh names, codes, places and times

    def key(self) -> str:
        """A fresh key naming a planned turn."""
        self._keys += 1
        return f"a{self._keys}"

    def code(self, pattern: str) -> str:
        """A code unique in this conversation: ``A`` in ``pattern`` is a letter, ``9`` a digit, anything else kept."""
        if "A" not in pattern and "9" not in pattern:
            raise ValueError(f"code pattern {pattern!r} has nothing to draw")
        while True:
            text = "".join(
                self.rng.choice(_CODE_LETTERS) if ch == "A" else str(self.rng.randrange(10)) if ch == "9" else ch
                for ch in pattern
            )
            if text not in self._codes:
                self._codes.add(text)
                return text

    def city(self) -> Destination:
        """A destination not yet used in this conversation."""
        city = self.rng.choice([c for c in self.words.cities if c.name not in self.visited])
        self.visited.append(city.name)
        return city

    def colleague(self) -> str:
        """A colleague's full name, new to this conversation."""
        surname = self.rng.choice([name for name in self.words.surnames if name != self.surname])
        return f"{self.names.person()} {surname}"

    def teammate(self) -> str:
        """One of the colleagues of :attr:`team`."""
        return self.rng.choice(self.team)

    def session(self, low: int = 0, high: int | None = None) -> int:
        """The least-loaded session in ``[low, high]`` (clamped), ties broken at random."""
        return least_loaded_session(self.rng, self.load, low, high)

    def at(self, session: int, minutes: int = 0) -> dt.datetime:
        """A moment ``minutes`` after the start of ``session``."""
        return self.dates[session] + dt.timedelta(minutes=minutes)

    def stamp(self, session: int, minutes: int = 0) -> str:
        """An ISO timestamp ``minutes`` into ``session`` (UTC, seconds drawn)."""
        moment = self.at(session, minutes) + dt.timedelta(seconds=self.rng.randrange(60))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def ahead(self, session: int, low: int, high: int) -> dt.date:
        """A day ``low`` to ``high`` days after ``session``."""
        return self.dates[session].date() + dt.timedelta(days=self.rng.randint(low, high))

    def when(self, session: int) -> tuple[str, str]:
        """A relative day said in ``session`` (``yesterday``, ``on Monday``...) and the day it resolves to."""
        today = self.dates[session].date()
        pick = self.rng.choice(("yesterday", "two days ago", "weekday"))
        if pick == "yesterday":
            return pick, locomo_day(today - dt.timedelta(days=1))
        if pick == "two days ago":
            return pick, locomo_day(today - dt.timedelta(days=2))
        weekday = self.rng.randrange(7)
        back = (today.weekday() - weekday) % 7 or 7
        return f"on {WEEKDAYS[weekday]}", locomo_day(today - dt.timedelta(days=back))

    # ----------------------------------------------------------------------------------------------------
    # Tool calls and results

    def call(self, role: str, say: str, **args: Any) -> str:
        """The agent's turn: what it is doing, then the tool call in this conversation's style."""
        tool = self.tool[role]
        if self.call_style == 0:
            return f"{say}\n-> {tool}({json.dumps(args, ensure_ascii=False)})"
        if self.call_style == 1:
            payload = json.dumps({"name": tool, "arguments": args}, ensure_ascii=False)
            return f"{say}\n<tool_call>{payload}</tool_call>"
        listed = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
        return f"{say}\nCalling `{tool}` with {listed}."

    def json(self, payload: Any) -> str:
        """A JSON tool result, indented or on one line as this conversation's tools print it."""
        return json.dumps(payload, ensure_ascii=False, indent=self.indent)

    def table(self, headers: list[str], rows: list[list[str]]) -> str:
        """A table tool result, as a Markdown table or as aligned columns."""
        if self.table_style == 0:
            lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            return "\n".join(lines)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        return "\n".join(lines)

    def money(self, amount: float) -> str:
        """An amount in the user's home currency: ``EUR 1,234.50``."""
        return f"{self.home.currency} {amount:,.2f}"

    def thanks(self) -> str:
        """The user's short closing turn."""
        return self.rng.choice(self.words.user_thanks)

    # ----------------------------------------------------------------------------------------------------
    # Tasks, facts and questions

    def task(
        self, session: int, title: str, lines: list[Line], facts: list[tuple[int, str, str]] | None = None
    ) -> None:
        """Add a task to ``session``; ``facts`` are ``(speaker, observation, key)``."""
        self.tasks.append(Task(session, title, lines, [Fact(p, cap(text), k) for p, text, k in facts or []]))
        self.load[session] += len(lines)

    def ask(
        self,
        category: int,
        templates: tuple[str, ...],
        answer: str,
        keys: list[str],
        *,
        fields: dict[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        """Record a question (one of ``templates``, filled in with ``fields``) whose answer the turns ``keys`` hold
        (blank keys dropped); ``keep``: always asked (the questions about a changed value)."""
        question = cap(self.rng.choice(templates).format(**(fields or {})))
        self.asks.append(Ask(category, question, answer, [k for k in keys if k]))
        if keep:
            self.kept.append(self.asks[-1])

    def trap(self, question: str, answer: str, keys: list[str]) -> None:
        """Record a category-5 question the conversation cannot answer (``keys``: the turn it is easily confused
        with, or none)."""
        self.traps.append(Ask(5, cap(question), answer, keys))

    def restate(self) -> bool:
        """Whether the agent's closing turn repeats the asked-about value (see :data:`RESTATE`)."""
        return self.rng.random() < RESTATE
