"""Dining tasks of the ``agent`` style: dinner on a trip (the user's allergy, the menu's allergens) and a team
dinner where colleagues state allergies (a distractor for the user's). Each function plans its tasks and
questions on a :class:`~.agent_trace.Trace`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace, spoken_day
from .agent_travel import Trip
from .agent_vocabulary import Allergen
from .plan import Line

__all__ = ["dinner", "team_dinner"]


def _restaurants(t: Trace, city: str, districts: tuple[str, ...], cuisine: str, count: int) -> list[list[str]]:
    """Restaurant search rows: id, name, cuisine, district, rating, price, distance, free slots."""
    rows = []
    for core in t.rng.sample(t.words.restaurant_cores, count):
        slots = sorted(t.rng.sample(("18:00", "18:30", "19:00", "19:30", "20:00", "20:45", "21:15"), 3))
        name = t.rng.choice(t.words.restaurant_patterns).format(core=core)
        rating = f"{t.rng.randint(38, 49) / 10:.1f}"
        row = [t.code("RS-9999"), name, cuisine, t.rng.choice(districts), rating, t.rng.choice(("$", "$$", "$$$"))]
        rows.append([*row, f"{t.rng.randint(2, 19) * 100} m", ", ".join(slots)])
    return rows


def dinner(t: Trace, trip: Trip, s: int, allergen: Allergen, allergy_key: str) -> str:
    """Dinner on the trip: search, the menu with allergens, a reservation. States the user's allergy unless
    ``allergy_key`` already does; returns the key of the turn that does.

    Questions: the allergy (the user's turn), the reservation number, and whether a dish on the menu is safe for
    the user (the allergy turn and the menu: an inference across sessions when the allergy was said before)."""
    rng, city = t.rng, trip.city
    cuisine = rng.choice([c for c in t.words.cuisines if any(allergen.word in d.allergens for d in c.dishes)])
    party = rng.randint(2, 6)
    day = trip.depart + dt.timedelta(days=rng.randint(0, (trip.back - trip.depart).days - 1))
    ku = "" if allergy_key else t.key()
    user = f"Can you find a {cuisine.name} place near {trip.district} in {city.name} for {party} on {spoken_day(day)}?"
    user += (
        f" I'm allergic to {allergen.word}, so check the menu."
        if ku
        else " Check the menu for me, you know what I can't eat."
    )
    lines = [Line(USER, user, ku)]
    args = {
        "city": city.name,
        "cuisine": cuisine.name,
        "near": trip.district,
        "date": day.isoformat(),
        "party_size": party,
    }
    lines.append(
        Line(
            AGENT,
            t.call("restaurant_search", f"Looking for {cuisine.name} restaurants around {trip.district}.", **args),
        )
    )
    rows = _restaurants(t, city.name, city.districts, cuisine.name, rng.randint(5, 7))
    headers = ["id", "name", "cuisine", "district", "rating", "price", "distance", "free slots"]
    lines.append(Line(TOOL, t.table(headers, rows)))
    pick = rng.choice(rows)
    time = rng.choice(pick[7].split(", "))
    lines.append(
        Line(
            AGENT,
            t.call(
                "menu",
                f"{pick[1]} has a table at {time}. Checking its menu and allergens first.",
                restaurant_id=pick[0],
            ),
        )
    )
    dishes = list(cuisine.dishes)
    rng.shuffle(dishes)
    unsafe = next(d for d in dishes if allergen.word in d.allergens)
    sections: dict[str, list[dict[str, object]]] = {"starters": [], "mains": [], "desserts": []}
    for i, dish in enumerate(dishes):
        item: dict[str, object] = {
            "dish": dish.name,
            "price": f"{rng.randint(6, 32)}.{rng.choice(('00', '50', '90'))}",
            "allergens": list(dish.allergens),
        }
        sections[("starters", "mains", "mains", "desserts")[i % 4]].append(item)
    km = t.key()
    menu = {
        "restaurant": pick[1],
        "restaurant_id": pick[0],
        "menu_updated": t.ahead(s, -30, -1).isoformat(),
        "sections": sections,
    }
    lines.append(Line(TOOL, t.json(menu), km))
    args = {"restaurant_id": pick[0], "date": day.isoformat(), "time": time, "party_size": party, "name": t.user_name}
    lines.append(
        Line(
            AGENT,
            t.call("reserve", f"Some dishes are out for you, but there are safe options. Booking {time}.", **args),
        )
    )
    number, kr = t.code("R-99999"), t.key()
    result: dict[str, Any] = {
        "reservation_id": number,
        "status": "confirmed",
        "restaurant": pick[1],
        "district": pick[3],
    }
    result |= {"date": day.isoformat(), "time": time, "party_size": party, "name": t.user_name}
    result |= {"cancellation_policy": "free until 4 hours before, then a fee per guest", "created_at": t.stamp(s, 21)}
    lines.append(Line(TOOL, t.json(result), kr))
    said = t.restate()
    ka = t.key() if said else ""
    close = f"Table for {party} at {pick[1]} on {spoken_day(day)}, {time}." + (
        f" Reservation {number}." if said else ""
    )
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    facts = [(TOOL, f"the user's dinner at {pick[1]} in {city.name} is reservation {number}", kr)]
    if ku:
        facts.append((USER, f"the user is allergic to {allergen.word}", ku))
    t.task(s, f"book dinner in {city.name}", lines, facts)
    f = {"r": pick[1], "dish": unsafe.name}
    if ku:
        t.ask(4, ("What is the user allergic to?", "Which food allergy does the user have?"), allergen.word, [ku])
    t.ask(4, ("What is the reservation number for the user's dinner at {r}?",), number, [kr, ka], fields=f)
    t.ask(
        3,
        ("Could the user safely eat the {dish} at {r}?", "Would the {dish} at {r} be safe for the user?"),
        f"No, it contains {allergen.word}",
        [allergy_key or ku, km],
        fields=f,
    )
    return allergy_key or ku


def team_dinner(t: Trace, s: int, allergen: Allergen) -> None:
    """A team dinner at home: colleagues' allergies (never the user's) and another reservation."""
    rng = t.rng
    first, second = t.colleague(), t.colleague()
    other = rng.choice([a for a in t.words.allergens if a.word != allergen.word])
    cuisine = rng.choice(t.words.cuisines)
    day, party = t.ahead(s, 3, 12), rng.randint(6, 12)
    user = f"Book somewhere {cuisine.name} in {t.home.city} for the team on {spoken_day(day)}, we're {party}."
    user += f" {first} is allergic to {other.word} and {second} doesn't eat meat."
    lines = [Line(USER, user)]
    args = {"city": t.home.city, "cuisine": cuisine.name, "date": day.isoformat(), "party_size": party}
    lines.append(Line(AGENT, t.call("restaurant_search", f"Searching {cuisine.name} places in {t.home.city}.", **args)))
    rows = _restaurants(
        t, t.home.city, ("Downtown", "Riverside", "Old Town", "Harbourfront"), cuisine.name, rng.randint(5, 7)
    )
    lines.append(
        Line(TOOL, t.table(["id", "name", "cuisine", "district", "rating", "price", "distance", "free slots"], rows))
    )
    pick = rng.choice(rows)
    time = pick[7].split(", ")[-1]
    lines.append(
        Line(
            AGENT,
            t.call(
                "reserve",
                f"{pick[1]} can seat the group at {time}.",
                restaurant_id=pick[0],
                date=day.isoformat(),
                time=time,
            ),
        )
    )
    result = {
        "reservation_id": t.code("R-99999"),
        "status": "confirmed",
        "restaurant": pick[1],
        "date": day.isoformat(),
    }
    result |= {"time": time, "notes": f"{other.word} allergy at the table; one vegetarian", "deposit": "none"}
    lines.append(Line(TOOL, t.json(result)))
    lines += [
        Line(AGENT, f"Booked {pick[1]} for the team; I added the allergy and the vegetarian to the notes."),
        Line(USER, t.thanks()),
    ]
    t.task(s, "book the team dinner", lines)
