"""Flight tasks of the ``agent`` style: a trip's flights (the outbound seat changed in a later session) and the
seat preference the user states and later changes. Each function plans its tasks and questions on a
:class:`~.agent_trace.Trace`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace, spoken_day
from .agent_vocabulary import Destination, SeatPref
from .plan import Line

__all__ = ["Trip", "flight", "new_trip", "seat_change", "seat_pref_change"]


@dataclass
class Trip:
    """Where and when the user travels; what was booked for it (filled in by the tasks)."""

    city: Destination
    district: str
    depart: dt.date
    back: dt.date
    flight: str = ""
    flight_key: str = ""
    seat: str = ""
    booking: str = ""
    hotel: str = ""
    hotel_key: str = ""
    hotel_code: str = ""
    hotel_said: str = ""


def new_trip(t: Trace, session: int) -> Trip:
    """A trip planned in ``session``: a new city, leaving three to eight weeks later (and after the last session,
    so every change to it comes before it starts) for three to six nights."""
    city = t.city()
    depart = max(t.ahead(session, 21, 56), t.ahead(t.n - 1, 3, 12))
    return Trip(city, t.rng.choice(city.districts), depart, depart + dt.timedelta(days=t.rng.randint(3, 6)))


def _clock(t: Trace) -> tuple[int, int]:
    return t.rng.randint(6, 21), t.rng.randrange(0, 60, 5)


def _offers(t: Trace, origin: str, dest: str, day: dt.date, count: int) -> list[list[str]]:
    """Flight offers of one direction: offer id, flight, airline, departure, arrival, stops, duration, fare, price."""
    rows = []
    for _ in range(count):
        airline = t.rng.choice(t.words.airlines)
        hour, minute = _clock(t)
        leave = dt.datetime(day.year, day.month, day.day, hour, minute)
        length = dt.timedelta(minutes=t.rng.randrange(95, 780, 5))
        stops = t.rng.choice(("nonstop", "nonstop", "1 stop", "1 stop", "2 stops"))
        rows.append(
            [
                t.code("OF-99999"),
                f"{airline.code} {t.rng.randint(100, 2999)}",
                airline.name,
                f"{origin} {leave:%Y-%m-%d %H:%M}",
                f"{dest} {leave + length:%Y-%m-%d %H:%M}",
                stops,
                f"{length.seconds // 3600}h{length.seconds % 3600 // 60:02d}",
                t.rng.choice(("Basic", "Classic", "Flex")),
                t.money(t.rng.randrange(120, 980) + 0.99),
            ]
        )
    return rows


def flight(t: Trace, trip: Trip, s: int, pref: SeatPref, state_pref: bool, *, change: bool) -> str:
    """The user books the trip's flights in session ``s``; returns the key of the preference turn (or none).

    Questions: the booking reference, the outbound seat (unless it is changed later), the terminal, and the seat
    preference when this request states it."""
    rng, city, home = t.rng, trip.city, t.home
    ku = t.key() if state_pref else ""
    request = rng.choice(
        (
            "Can you book me a flight from {home} to {city} on {out}, coming back {back}?",
            "I need to be in {city} on {out} and fly home on {back}. Out of {home}, economy is fine.",
            "Flights please: {home} to {city}, out {out}, back {back}.",
        )
    ).format(home=home.city, city=city.name, out=spoken_day(trip.depart), back=spoken_day(trip.back))
    lines = [Line(USER, f"{request} {pref.statement}" if state_pref else request, ku)]
    args: dict[str, Any] = {"origin": home.airport, "destination": city.airport, "depart": trip.depart.isoformat()}
    args |= {"return": trip.back.isoformat(), "adults": 1}
    lines.append(Line(AGENT, t.call("flight_search", f"Searching flights {home.airport} to {city.airport}.", **args)))
    out = _offers(t, home.airport, city.airport, trip.depart, rng.randint(4, 7))
    back = _offers(t, city.airport, home.airport, trip.back, rng.randint(3, 5))
    headers = ["offer", "flight", "airline", "departs", "arrives", "stops", "duration", "fare", "price"]
    lines.append(Line(TOOL, f"{len(out) + len(back)} offers\n" + t.table(headers, out + back)))
    go, ret = rng.choice(out), rng.choice(back)
    say = f"{go[2]} {go[1]} leaves at {go[3][-5:]} and comes back as {ret[1]}: the best fit. Booking both."
    lines.append(Line(AGENT, t.call("flight_book", say, offer_ids=[go[0], ret[0]], passenger=t.user_name)))
    ref, kb = t.code("A9AAA9"), t.key()
    seat = f"{rng.randint(8, 38)}{rng.choice(pref.letters)}"
    terminal = f"Terminal {rng.randint(1, 5)}"
    segments = [
        {"flight": row[1], "from": row[3][:3], "to": row[4][:3], "departs": row[3][4:], "arrives": row[4][4:]}
        | {"departure_terminal": term, "seat": place, "cabin": "Economy", "fare": row[7]}
        for row, term, place in (
            (go, terminal, seat),
            (ret, f"Terminal {rng.randint(1, 3)}", f"{rng.randint(8, 38)}{rng.choice('ABCDEF')}"),
        )
    ]
    booking: dict[str, Any] = {
        "status": "TICKETED",
        "booking_reference": ref,
        "passenger": t.passenger,
        "contact": t.email,
    }
    booking |= {"segments": segments, "baggage": "1 x 23 kg checked, 1 cabin bag", "e_ticket": t.code("999-9999999999")}
    booking |= {"total": go[8] if rng.random() < 0.5 else ret[8], "issued_at": t.stamp(s, 9)}
    booking["fare_rules"] = {"changes": f"allowed before departure, fee {t.money(rng.choice((50, 75, 90)))}"}
    booking["fare_rules"] |= {
        "refund": rng.choice(("non-refundable", "refundable minus fee")),
        "no_show": "segment cancelled",
    }
    lines.append(Line(TOOL, t.json(booking), kb))
    said = {"ref": t.restate(), "seat": False}
    said["seat"] = not said["ref"] and t.restate()
    ka = t.key() if said["ref"] or said["seat"] else ""
    close = f"You're booked on {go[1]} on {spoken_day(trip.depart)}, back on {ret[1]} on {spoken_day(trip.back)}."
    close += f" Booking reference {ref}." if said["ref"] else f" Your outbound seat is {seat}." if said["seat"] else ""
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    facts = [(TOOL, f"the user's flight to {city.name} is {go[1]}, booking reference {ref}, seat {seat}", kb)]
    if state_pref:
        facts.append((USER, f"the user prefers {pref.word} seats", ku))
    t.task(s, f"book flights to {city.name}", lines, facts)
    trip.flight, trip.flight_key, trip.seat, trip.booking = go[1], kb, seat, ref
    f = {"city": city.name}
    t.ask(
        4,
        (
            "What is the booking reference of the user's flight to {city}?",
            "Which record locator did the {city} flight get?",
        ),
        ref,
        [kb, ka if said["ref"] else ""],
        fields=f,
    )
    if not change:
        t.ask(
            4,
            ("Which seat is the user in on the flight to {city}?", "What seat did the agent get the user to {city}?"),
            seat,
            [kb, ka if said["seat"] else ""],
            fields=f,
        )
    t.ask(4, ("Which terminal does the user's flight to {city} leave from?",), terminal, [kb], fields=f)
    return ku


def seat_change(t: Trace, trip: Trip, s: int) -> None:
    """In a later session the agent moves the user forward on the outbound flight: the current seat (the later
    result) and the change (both results)."""
    rng = t.rng
    row = int(trip.seat[:-1])
    user = rng.choice(
        (
            "Can you move me further forward on the {city} flight? Row {row} is right by the toilets.",
            "Is there a better seat on {flight} to {city}? I'd like to get off quickly, row {row} is miles back.",
        )
    ).format(city=trip.city.name, row=row, flight=trip.flight)
    lines = [Line(USER, user)]
    look = t.call("seat_map", f"Checking the seat map of {trip.flight}.", booking_reference=trip.booking)
    lines.append(Line(AGENT, look))
    new_row = rng.randint(3, min(row - 1, 12))
    new_seat = f"{new_row}{trip.seat[-1]}"
    grid = [f"Seat map {trip.flight} {trip.depart.isoformat()} (Economy), legend: free / taken / price"]
    for r in range(3, rng.randint(22, 32)):
        cells = []
        for letter in "ABCDEF":
            taken = rng.random() < 0.6 and f"{r}{letter}" != new_seat
            cells.append(
                f"{letter}:{'taken' if taken else rng.choice(('free', 'free', t.money(rng.choice((18, 25, 32)))))}"
            )
        grid.append(f"Row {r:02d}  " + "  ".join(cells))
    lines.append(Line(TOOL, "\n".join(grid)))
    say = f"Row {new_row} has the same kind of seat free. Requesting it."
    args = {"booking_reference": trip.booking, "flight": trip.flight, "zone": "front"}
    lines.append(Line(AGENT, t.call("seat_change", say, **args)))
    kc = t.key()
    result = {"status": "SEAT_CONFIRMED", "booking_reference": trip.booking, "flight": trip.flight}
    result |= {
        "passenger": t.passenger,
        "seat": new_seat,
        "fee": t.money(0),
        "boarding_group": str(rng.randint(2, 6)),
    }
    lines.append(Line(TOOL, t.json(result), kc))
    said = t.restate()
    ka = t.key() if said else ""
    close = (
        f"Done, you're now in {new_seat}."
        if said
        else "Done: the new seat is confirmed and your boarding pass is updated."
    )
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    t.task(
        s,
        f"change seats on the {trip.city.name} flight",
        lines,
        [(TOOL, f"the user's seat to {trip.city.name} is now {new_seat}", kc)],
    )
    f = {"city": trip.city.name}
    t.ask(
        4,
        ("Which seat does the user have now on the flight to {city}?", "What is the user's current seat to {city}?"),
        new_seat,
        [kc, ka],
        keep=True,
        fields=f,
    )
    t.ask(
        1,
        ("How did the user's seat on the flight to {city} change?",),
        f"from {trip.seat} to {new_seat}",
        [trip.flight_key, kc],
        keep=True,
        fields=f,
    )
    trip.seat = new_seat


def seat_pref_change(t: Trace, s: int, old: SeatPref, new: SeatPref, old_key: str) -> None:
    """The user says they now want the other kind of seat (a user-side update: current value and the change)."""
    ku = t.key()
    user = t.rng.choice(
        (
            f"Quick one: I've gone off {old.word} seats. Book me {new.word} seats from now on.",
            f"For future flights: {new.word} seats, not {old.word}. {new.statement}",
        )
    )
    lines = [Line(USER, user, ku), Line(AGENT, "Noted, I've saved that to your travel profile.")]
    t.task(s, "update the seat preference", lines, [(USER, f"the user now prefers {new.word} seats", ku)])
    t.ask(
        4,
        ("Which kind of seat does the user want on flights now?", "What seat does the user currently prefer?"),
        new.word,
        [ku],
        keep=True,
    )
    t.ask(
        1, ("How did the user's seat preference change?",), f"from {old.word} to {new.word}", [old_key, ku], keep=True
    )
