"""Filler tasks of the ``agent`` style: nobody asks about them, but their long results name the same places,
services, shops and people as the tasks that matter (a weather forecast, web search results, the inbox, a git
log, a currency conversion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace
from .plan import Line

__all__ = ["FILLERS", "filler"]


FILLERS = ("weather", "web", "inbox", "convert", "commits")
"""Kinds of filler task (no question is asked about them)."""


def filler(t: Trace, s: int, kind: str, city: str) -> None:
    """A task nobody asks about, with a long result naming ``city`` or the user's other entities."""
    rng = t.rng
    if kind == "weather":
        lines = [Line(USER, f"What's the weather looking like in {city} this week?")]
        lines.append(Line(AGENT, t.call("weather", f"Getting the forecast for {city}.", location=city, days=7)))
        days: list[dict[str, Any]] = []
        for i in range(7):
            day = t.dates[s].date() + dt.timedelta(days=i)
            days.append({"date": day.isoformat(), "summary": rng.choice(t.words.weather), "high_c": rng.randint(8, 31)})
            days[-1] |= {
                "low_c": days[-1]["high_c"] - rng.randint(4, 11),
                "rain_chance": f"{rng.randrange(0, 100, 5)}%",
            }
        lines.append(Line(TOOL, t.json({"location": city, "units": "metric", "daily": days})))
        lines.append(
            Line(AGENT, f"Mostly {days[0]['summary']} early on, turning {days[-1]['summary']} by the weekend.")
        )
    elif kind == "web":
        city_words = next((c for c in t.words.cities if c.name == city), t.words.cities[0])
        lines = [Line(USER, f"Any tips for getting around {city}?")]
        lines.append(Line(AGENT, t.call("web_search", "Searching the web.", query=f"{city} travel tips", results=5)))
        hits = []
        for i, text in enumerate(rng.sample(t.words.web_snippets, 5)):
            snippet = text.format(
                city=city,
                district=rng.choice(city_words.districts),
                country=city_words.country,
                airport=city_words.airport,
            )
            hits.append(
                f"{i + 1}. {city} guide | {snippet}\n"
                f"   https://travel.example.org/{city.lower().replace(' ', '-')}/{i + 1}"
            )
        lines.append(Line(TOOL, "\n".join(hits)))
        lines.append(
            Line(AGENT, "The day pass is the easy option; the guides agree on the express train from the airport.")
        )
    elif kind == "inbox":
        lines = [Line(USER, "Anything important in my inbox?")]
        lines.append(Line(AGENT, t.call("email_list", "Listing unread mail.", folder="INBOX", unread=True, limit=10)))
        mails = []
        for subject in rng.sample(t.words.email_subjects, rng.randint(6, 9)):
            fields = {"airline": rng.choice(t.words.airlines).name, "city": city, "shop": rng.choice(t.words.shops)}
            fields |= {"service": rng.choice(t.words.services), "topic": rng.choice(t.words.meeting_topics)}
            fields["carrier"] = rng.choice(t.words.carriers).name
            mails.append(
                [
                    t.stamp(s, -rng.randint(10, 3000)),
                    t.teammate() if rng.random() < 0.5 else "no-reply",
                    subject.format(**fields),
                ]
            )
        lines.append(Line(TOOL, t.table(["received", "from", "subject"], sorted(mails, reverse=True))))
        lines.append(Line(AGENT, "Nothing urgent: mostly newsletters and a couple of team threads."))
    elif kind == "commits":
        repo = rng.choice(t.words.repos)
        lines = [Line(USER, f"What changed in {repo} this week?")]
        lines.append(
            Line(
                AGENT,
                t.call("run", "Reading the git log.", command="git log --oneline --since=7.days", cwd=f"~/code/{repo}"),
            )
        )
        log = []
        for _ in range(rng.randint(8, 14)):
            verb, noun = rng.choice(t.words.test_verbs), rng.choice(t.words.test_nouns)
            what = rng.choice(("Fix", "Add", "Refactor", "Speed up", "Revert"))
            log.append(
                f"{rng.getrandbits(28):07x} {what} {verb} {noun} in {rng.choice(t.words.services)} ({t.teammate()})"
            )
        lines.append(Line(TOOL, "\n".join(log)))
        lines.append(Line(AGENT, f"{len(log)} commits, mostly fixes; nothing that touches the deploy config."))
    else:
        amount = rng.randint(50, 2000)
        lines = [Line(USER, f"How much is {amount} EUR in {t.home.currency}?")]
        lines.append(Line(AGENT, t.call("convert", "Converting.", amount=amount, source="EUR", target=t.home.currency)))
        rate = rng.randint(80, 160) / 100
        lines.append(
            Line(
                TOOL,
                t.json(
                    {
                        "amount": amount,
                        "from": "EUR",
                        "to": t.home.currency,
                        "rate": rate,
                        "result": round(amount * rate, 2),
                        "as_of": t.stamp(s),
                    }
                ),
            )
        )
        lines.append(Line(AGENT, f"About {amount * rate:,.0f} {t.home.currency}."))
    titles = {"weather": "check the weather", "web": "look up travel tips", "inbox": "go through the inbox"}
    titles |= {"commits": "summarize recent commits", "convert": "convert currency"}
    t.task(s, titles[kind], lines)
