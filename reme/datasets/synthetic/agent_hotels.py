"""Hotel tasks of the ``agent`` style: the trip's hotel (extended in a later session, under a new confirmation
code) and a colleague's booking in a city the user goes to (a hard negative) or in another one (a category-5
trap). Each function plans its tasks and questions on a :class:`~.agent_trace.Trace`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace, spoken_day
from .agent_travel import Trip
from .agent_vocabulary import Destination
from .plan import Line
from .text import locomo_day

__all__ = ["colleague_hotel", "hotel", "hotel_code_question", "hotel_extend"]


def _hotels(t: Trace, city: Destination, budget: int, count: int) -> list[list[str]]:
    """Hotel search rows: id, name, district, stars, rating, price a night, cancellation."""
    rows = []
    cores = t.rng.sample(t.words.hotel_cores, count)
    for core in cores:
        price = t.rng.choice([p for p in range(budget - 70, budget + 90, 7) if p != budget])
        refund = t.rng.choice(("free cancellation", "free cancellation", "non-refundable", "pay at hotel"))
        name = t.rng.choice(t.words.hotel_patterns).format(core=core)
        rating = f"{t.rng.randint(70, 96) / 10:.1f}"
        row = [t.code("H-99999"), name, t.rng.choice(city.districts), f"{t.rng.randint(3, 5)}*", rating]
        rows.append([*row, t.money(price), refund])
    return rows


def hotel(t: Trace, trip: Trip, s: int, budget: int, state_budget: bool, *, guest: str = "") -> tuple[str, str]:
    """Someone books a hotel for the trip in session ``s`` (the user, or a colleague when ``guest`` is given);
    returns the confirmation's key and code.

    Questions (user's own booking): the confirmation code, the room, when it was booked, the free-cancellation
    deadline, the hotel's country (inferred from the city), and the nightly budget when this request states it."""
    rng, city = t.rng, trip.city
    nights = (trip.back - trip.depart).days
    ku = t.key() if state_budget else ""
    who = f"{guest} " if guest else "me "
    user = rng.choice(
        (
            "Book {who}a hotel in {city} from {ci} to {co}.",
            "Can you find {who}somewhere to stay in {city}, {ci} to {co}, ideally near {district}?",
        )
    ).format(who=who, city=city.name, ci=spoken_day(trip.depart), co=spoken_day(trip.back), district=trip.district)
    if guest:
        user += " Company card, same as usual."
    if state_budget:
        user += f" Nothing over {t.home.currency} {budget} a night, please."
    lines = [Line(USER, user, ku)]
    args = {"city": city.name, "check_in": trip.depart.isoformat(), "check_out": trip.back.isoformat(), "guests": 1}
    lines.append(Line(AGENT, t.call("hotel_search", f"Searching hotels in {city.name} for {nights} nights.", **args)))
    rows = _hotels(t, city, budget, rng.randint(6, 9))
    headers = ["id", "name", "district", "stars", "rating", "per night", "cancellation"]
    lines.append(Line(TOOL, t.table(headers, rows)))
    fits = [r for r in rows if float(r[5].split()[1].replace(",", "")) < budget and r[6] == "free cancellation"]
    pick = rng.choice(fits or rows)
    say = f"{pick[1]} in {pick[2]} is {pick[5]} a night, rated {pick[4]}. Booking it."
    lines.append(Line(AGENT, t.call("hotel_book", say, hotel_id=pick[0], **args, guest=guest or t.user_name)))
    code, kh = t.code("AA9AA9"), t.key()
    deadline = trip.depart - dt.timedelta(days=rng.randint(1, 3))
    room = rng.choice(t.words.room_types)
    rate = float(pick[5].split()[1].replace(",", ""))
    street = f"{rng.randint(2, 180)} {rng.choice(t.words.streets)}, {pick[2]}, {city.name}"
    result: dict[str, Any] = {
        "status": "confirmed",
        "confirmation_code": code,
        "hotel": {"id": pick[0], "name": pick[1]},
    }
    result["hotel"] |= {
        "address": street,
        "phone": f"+{rng.randint(30, 90)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
    }
    result |= {"guest": guest or t.user_name, "check_in": trip.depart.isoformat(), "check_out": trip.back.isoformat()}
    result |= {"nights": nights, "room": room, "rate_per_night": pick[5], "total": t.money(rate * nights)}
    result |= {"cancellation": f"free until {deadline.isoformat()}T18:00 local time", "created_at": t.stamp(s, 14)}
    result["policies"] = {
        "check_in_from": f"{rng.choice((14, 15, 16))}:00",
        "check_out_by": f"{rng.choice((10, 11, 12))}:00",
    }
    result["policies"] |= {
        "city_tax": f"{t.money(rng.choice((2.5, 3, 4.25)))} per night",
        "breakfast": rng.choice(("included", "not included")),
    }
    lines.append(Line(TOOL, t.json(result), kh))
    said = not guest and t.restate()
    ka = t.key() if said else ""
    close = f"Booked: {pick[1]}, {nights} nights from {spoken_day(trip.depart)}." + (
        f" Confirmation code {code}." if said else ""
    )
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    owner = guest or "the user"
    facts = [(TOOL, f"{owner}'s hotel in {city.name} is {pick[1]}, confirmation code {code}", kh)]
    if state_budget:
        facts.append((USER, f"the user's hotel budget is {t.home.currency} {budget} a night", ku))
    t.task(s, f"book a hotel in {city.name}" + (f" for {guest}" if guest else ""), lines, facts)
    if guest:
        return kh, code
    trip.hotel, trip.hotel_key, trip.hotel_code, trip.hotel_said = pick[1], kh, code, ka
    f = {"city": city.name, "hotel": pick[1]}
    t.ask(
        4,
        (
            "What kind of room did the agent book for the user in {city}?",
            "Which room type did the user get at the {city} hotel?",
        ),
        room,
        [kh],
        fields=f,
    )
    t.ask(
        2,
        ("When did the user book the hotel in {city}?", "On what day was the user's {city} hotel reserved?"),
        locomo_day(t.dates[s].date()),
        [kh],
        fields=f,
    )
    t.ask(2, ("Until when can the user cancel the {city} hotel for free?",), locomo_day(deadline), [kh], fields=f)
    t.ask(
        3,
        ("In which country will the user stay at {hotel}?", "Which country is the user's {city} hotel in?"),
        city.country,
        [kh],
        fields=f,
    )
    if state_budget:
        t.ask(
            4,
            (
                "What is the most the user will pay per night for a hotel?",
                "What nightly hotel budget did the user give?",
            ),
            f"{t.home.currency} {budget}",
            [ku],
        )
    return kh, code


def hotel_code_question(t: Trace, trip: Trip) -> None:
    """The confirmation-code question of a hotel that is never extended."""
    f = {"city": trip.city.name}
    templates = (
        "What is the confirmation code of the user's hotel in {city}?",
        "Which confirmation number did the {city} hotel get?",
    )
    t.ask(4, templates, trip.hotel_code, [trip.hotel_key, trip.hotel_said], fields=f)


def hotel_extend(t: Trace, trip: Trip, s: int) -> None:
    """In a later session the user stays longer; the changed booking gets a new code (current code: the later
    result; the change: both results)."""
    rng = t.rng
    until = trip.back + dt.timedelta(days=rng.randint(1, 3))
    lines = [Line(USER, f"I'm staying on in {trip.city.name}: can you extend the hotel to {spoken_day(until)}?")]
    args = {"confirmation_code": trip.hotel_code, "check_out": until.isoformat()}
    lines.append(Line(AGENT, t.call("hotel_modify", f"Extending the {trip.hotel} booking.", **args)))
    code, kh = t.code("AA9AA9"), t.key()
    result: dict[str, Any] = {
        "status": "modified",
        "confirmation_code": code,
        "hotel": trip.hotel,
        "guest": t.user_name,
    }
    result |= {
        "check_in": trip.depart.isoformat(),
        "check_out": until.isoformat(),
        "nights": (until - trip.depart).days,
    }
    result |= {
        "note": "Date changes are issued a new confirmation code; the old one is void.",
        "modified_at": t.stamp(s, 6),
    }
    lines.append(Line(TOOL, t.json(result), kh))
    said = t.restate()
    ka = t.key() if said else ""
    close = f"Extended to {spoken_day(until)}." + (
        f" The new confirmation code is {code}." if said else " The hotel sent a new confirmation."
    )
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    t.task(
        s,
        f"extend the {trip.city.name} hotel",
        lines,
        [(TOOL, f"the user's {trip.city.name} hotel code is now {code}", kh)],
    )
    f = {"city": trip.city.name}
    t.ask(
        4,
        (
            "What is the current confirmation code of the user's {city} hotel?",
            "Which confirmation code does the {city} hotel booking have now?",
        ),
        code,
        [kh, ka],
        keep=True,
        fields=f,
    )
    t.ask(
        1,
        ("How did the confirmation code of the user's {city} hotel change?",),
        f"from {trip.hotel_code} to {code}",
        [trip.hotel_key, kh],
        keep=True,
        fields=f,
    )


def colleague_hotel(t: Trace, trip: Trip, s: int, budget: int) -> None:
    """A colleague's hotel, in the user's trip city (a hard negative) or in another city (then a category-5 trap:
    the user's hotel code there)."""
    name = t.colleague()
    same = t.rng.random() < 0.5
    city = trip.city if same else t.city()
    start = t.ahead(s, 10, 40)
    other = Trip(city, t.rng.choice(city.districts), start, start + dt.timedelta(days=t.rng.randint(2, 4)))
    key, code = hotel(t, other, s, budget, False, guest=name)
    if not same:
        t.trap(f"What is the confirmation code of the user's hotel in {city.name}?", code, [key])
