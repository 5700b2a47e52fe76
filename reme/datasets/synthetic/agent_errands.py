"""Errands of the ``agent`` style: a parcel tracked and later delayed, and a meeting booked and later moved to
another room. Each function plans its tasks and questions on a :class:`~.agent_trace.Trace`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace, spoken_day
from .plan import Line
from .text import WEEKDAYS, locomo_day

__all__ = ["calendar", "order"]


def order(t: Trace, s: int, later: int | None) -> None:
    """The user asks after a parcel: their orders (the order day), its tracking (carrier, number, delivery day);
    ``later`` it is delayed (the current delivery day and the change)."""
    rng = t.rng
    product, shop = rng.choice(t.words.products), rng.choice(t.words.shops)
    carrier = rng.choice(t.words.carriers)
    lines = [
        Line(
            USER,
            rng.choice(("Where's my {p} from {s}?", "Can you check on the {p} I ordered from {s}?")).format(
                p=product, s=shop
            ),
        )
    ]
    lines.append(
        Line(AGENT, t.call("order_search", f"Looking up your {shop} orders.", shop=shop, query=product, limit=10))
    )
    rows, mine = [], ""
    others = rng.sample([p for p in t.words.products if p != product], rng.randint(5, 8))
    spot = rng.randrange(len(others) + 1)
    placed = t.ahead(s, -9, -2)
    for item in [*others[:spot], product, *others[spot:]]:
        number = t.code("999-9999999")
        day = placed if item == product else t.ahead(s, -300, -10)
        status = "shipped" if item == product else rng.choice(("delivered", "delivered", "returned", "cancelled"))
        rows.append(
            [
                number,
                day.isoformat(),
                item,
                f"{t.home.currency} {rng.randint(15, 900)}.{rng.randrange(100):02d}",
                status,
            ]
        )
        mine = number if item == product else mine
    rows.sort(key=lambda r: r[1], reverse=True)
    ko = t.key()
    lines.append(Line(TOOL, t.table(["order", "placed", "item", "total", "status"], rows), ko))
    lines.append(Line(AGENT, t.call("order_status", f"Found it: order {mine}. Tracking it.", order_id=mine)))
    eta = t.ahead(s, 2, 6)
    tracking = t.code(f"{carrier.prefix}99999999999")
    ks = t.key()
    lines.append(Line(TOOL, t.json(_tracking(t, s, mine, carrier.name, tracking, eta, "in_transit")), ks))
    said = t.restate()
    ka = t.key() if said else ""
    close = f"It's with {carrier.name} and moving." + (f" Expected {spoken_day(eta)}." if said else "")
    lines += [Line(AGENT, close, ka), Line(USER, t.thanks())]
    t.task(
        s,
        f"track the {product}",
        lines,
        [(TOOL, f"the user's {product} ships with {carrier.name}, tracking {tracking}", ks)],
    )
    f = {"p": product}
    t.ask(4, ("Which carrier is delivering the user's {p}?", "Who is shipping the {p}?"), carrier.name, [ks], fields=f)
    t.ask(4, ("What is the tracking number of the {p}?",), tracking, [ks], fields=f)
    t.ask(
        2, ("When did the user order the {p}?", "On what day was the {p} ordered?"), locomo_day(placed), [ko], fields=f
    )
    if later is None:
        t.ask(2, ("On what day should the {p} be delivered?",), locomo_day(eta), [ks, ka], fields=f)
        return
    lines = [Line(USER, f"Any news on the {product}? It still hasn't come.")]
    lines.append(Line(AGENT, t.call("order_status", f"Checking order {mine} again.", order_id=mine)))
    new = t.ahead(later, 2, 7)
    kn = t.key()
    lines.append(Line(TOOL, t.json(_tracking(t, later, mine, carrier.name, tracking, new, "delayed")), kn))
    said = t.restate()
    kb = t.key() if said else ""
    close = (
        f"Delayed: {carrier.name} now says {spoken_day(new)}."
        if said
        else f"{carrier.name} reports a delay; the new date is in the tracking."
    )
    lines += [Line(AGENT, close, kb), Line(USER, t.thanks())]
    t.task(later, f"check on the {product} again", lines, [(TOOL, f"the {product} is delayed", kn)])
    t.ask(2, ("On what day should the {p} be delivered now?",), locomo_day(new), [kn, kb], keep=True, fields=f)
    t.ask(
        1,
        ("How did the expected delivery date of the {p} change?",),
        f"from {locomo_day(eta)} to {locomo_day(new)}",
        [ks, kn],
        keep=True,
        fields=f,
    )


def _tracking(
    t: Trace, s: int, order_id: str, carrier: str, number: str, eta: dt.date, status: str
) -> dict[str, object]:
    """A tracking record with its scan events."""
    hubs = [f"{t.home.city} sorting hub", "regional depot", "customs clearance", f"{t.home.city} delivery station"]
    events = []
    for i in range(t.rng.randint(3, 6)):
        events.append(
            {
                "time": t.stamp(s, -60 * 24 * (6 - i)),
                "location": t.rng.choice(hubs),
                "status": t.rng.choice(("scanned", "departed", "arrived")),
            }
        )
    address = {
        "name": t.user_name,
        "city": t.home.city,
        "line1": f"{t.rng.randint(2, 200)} {t.rng.choice(t.words.streets)}",
    }
    record = {"order_id": order_id, "status": status, "carrier": carrier, "tracking_number": number}
    return record | {"estimated_delivery": eta.isoformat(), "ship_to": address, "events": events}


def calendar(t: Trace, s: int, later: int | None, earliest: int) -> str:
    """A meeting booked with a colleague, stating the earliest hour the user accepts; ``later`` it moves to another
    room. Questions: the room (current and the change when moved) and the earliest hour; returns the
    constraint's key."""
    rng = t.rng
    topic, who = rng.choice(t.words.meeting_topics), t.colleague()
    day = t.ahead(s, 2, 9)
    hour = rng.randint(max(earliest, 9), 16)
    minutes = rng.choice((30, 45, 60))
    ku = t.key()
    weekday = WEEKDAYS[day.weekday()]
    user = f"Set up a {minutes}-minute {topic} meeting with {who} on {weekday} {spoken_day(day)} at {hour}:00."
    user += f" And never put anything before {earliest} am on my calendar."
    lines = [Line(USER, user, ku)]
    start = dt.datetime(day.year, day.month, day.day, hour)
    args = {"title": topic, "attendees": [who], "start": start.isoformat(), "duration_minutes": minutes}
    lines.append(Line(AGENT, t.call("calendar_create", f"Creating the {topic} event.", **args)))
    room, ke = rng.choice(t.words.rooms), t.key()
    lines.append(Line(TOOL, t.json(_event(t, s, topic, who, start, minutes, room)), ke))
    said = t.restate()
    ka = t.key() if said else ""
    lines += [
        Line(AGENT, f"Booked for {spoken_day(day)} at {hour}:00" + (f" in {room}." if said else ", invite sent."), ka),
        Line(USER, t.thanks()),
    ]
    t.task(
        s,
        f"set up the {topic} meeting",
        lines,
        [(TOOL, f"the {topic} meeting is in {room}", ke), (USER, f"no meetings before {earliest} am", ku)],
    )
    f = {"topic": topic, "who": who}
    t.ask(
        4,
        (
            "What is the earliest time the user accepts meetings?",
            "Before which hour must nothing go on the user's calendar?",
        ),
        f"{earliest} am",
        [ku],
    )
    if later is None:
        t.ask(4, ("Which room is the {topic} meeting with {who} in?",), room, [ke, ka], fields=f)
        return ku
    new_day = t.ahead(later, 1, 6)
    lines = [Line(USER, f"{who.split()[0]} can't make the {topic} one. Move it to {spoken_day(new_day)}, same time.")]
    new_start = dt.datetime(new_day.year, new_day.month, new_day.day, hour)
    lines.append(
        Line(AGENT, t.call("calendar_update", f"Moving the {topic} meeting.", event=topic, start=new_start.isoformat()))
    )
    new_room, kn = rng.choice([r for r in t.words.rooms if r != room]), t.key()
    lines.append(Line(TOOL, t.json(_event(t, later, topic, who, new_start, minutes, new_room)), kn))
    said = t.restate()
    kb = t.key() if said else ""
    lines += [
        Line(
            AGENT,
            f"Moved to {spoken_day(new_day)}" + (f", now in {new_room}." if said else "; the room changed too."),
            kb,
        )
    ]
    t.task(later, f"move the {topic} meeting", lines, [(TOOL, f"the {topic} meeting moved to {new_room}", kn)])
    t.ask(
        4,
        ("Where is the {topic} meeting with {who} now?", "Which room is the {topic} meeting in now?"),
        new_room,
        [kn, kb],
        keep=True,
        fields=f,
    )
    t.ask(
        1,
        ("How did the room of the {topic} meeting change?",),
        f"from {room} to {new_room}",
        [ke, kn],
        keep=True,
        fields=f,
    )
    return ku


def _event(t: Trace, s: int, topic: str, who: str, start: dt.datetime, minutes: int, room: str) -> dict[str, object]:
    """A calendar event record."""
    end = start + dt.timedelta(minutes=minutes)
    first = who.split()[0].lower()
    attendees = [{"email": t.email, "responseStatus": "accepted", "organizer": True}]
    attendees.append(
        {
            "email": f"{first}@{t.email.split('@')[1]}",
            "responseStatus": t.rng.choice(("needsAction", "accepted", "tentative")),
        }
    )
    record: dict[str, Any] = {
        "id": "evt_" + t.code("AAAA9999AAAA").lower(),
        "summary": topic,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    record |= {
        "location": room,
        "conference": f"https://meet.example.com/{t.code('AAA-AAAA-AAA').lower()}",
        "attendees": attendees,
    }
    return record | {"reminders": [{"method": "popup", "minutes": 10}], "updated": t.stamp(s, 3)}
