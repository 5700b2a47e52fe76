"""The ``agent`` style: task traces of a user, an agent and its tools, as LoCoMo JSON items.

Neither benchmark has this style. Each session is one task (book a hotel, fix a failing service, order dinner,
book a flight): a short user request, the agent's tool call, a long structured tool result (JSON records or log
lines, full of names, ids, numbers and dates), and the agent's short answer. What to remember sits in two places:
the user's own statements (an allergy, a seat preference) and the tool results (a confirmation code, the port a
service failed on). Distractor tasks search the same cities and read the same hosts' logs without the answer, so
a ranker that prefers long, entity-dense tool output is punished on the user's facts, and one that prefers short
user turns is punished on the tools' facts. A later session can change a fact (the service moved to another port);
its question asks for the current value and its evidence is the later turn. Questions are first-person ("What was
the confirmation code of the hotel I booked in Porto?").
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

CITIES = ("Porto", "Lyon", "Krakow", "Valencia", "Ghent", "Turin", "Bergen", "Leipzig", "Seville", "Bologna")
HOTEL_WORDS = ("Grand", "Harbor", "Garden", "Old Town", "Riverside", "Central", "Park", "Station", "Plaza", "Royal")
AIRLINES = ("Iberia", "Lufthansa", "KLM", "TAP", "Ryanair", "easyJet", "Vueling", "SAS")
SERVICES = ("billing-api", "search-worker", "auth-gateway", "report-cron", "image-resizer", "ledger-sync")
HOSTS = ("staging-eu-1", "prod-eu-2", "build-03", "db-replica-2", "edge-west", "batch-7")
ALLERGENS = ("peanuts", "shellfish", "sesame", "gluten", "dairy", "kiwi")
DISHES = ("ramen", "pad thai", "falafel wrap", "margherita pizza", "bibimbap", "tacos", "poke bowl")
SEATS = ("an aisle seat", "a window seat", "an exit-row seat")
LOG_LEVELS = ("INFO", "DEBUG", "WARN")
# questions as a user asks them later: mostly in other words than the turn that holds the answer
HOTEL_QUESTIONS = (
    "What was the confirmation code of the hotel I booked in {city}?",
    "Which reference number do I need when I check in at my {city} hotel?",
    "What code did the booking for my stay in {city} come back with?",
)
ALLERGY_QUESTIONS = ("What am I allergic to?", "Which food do I have to avoid?", "What should never be in my meals?")
SEAT_QUESTIONS = (
    "What kind of seat do I always want on flights?",
    "Where do I like to sit on a plane?",
    "Which seat should you pick for me when you book a flight?",
)
TRIP_QUESTIONS = ("When did I ask to book the flight to {city}?", "When did I arrange my trip to {city}?")
PORT_QUESTIONS = (
    "Which port was {service} clashing over{when}?",
    "What port number kept {service} from starting{when}?",
    "Which port was already taken when {service} crashed{when}?",
)
COLLEAGUES = ("Ana", "Tomasz", "Priya", "Jonas", "Mei", "Kofi", "Lucia", "Henrik")


def _code(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.randint(1000, 9999)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}"


class _Trace:
    """One conversation under construction: sessions of turns, and questions with evidence ids."""

    def __init__(self, rng: random.Random, sessions: int):
        self.rng = rng
        self.sessions: list[list[dict[str, str]]] = [[] for _ in range(sessions)]
        start = dt.datetime(2023, 1, 9, 9, 0) + dt.timedelta(days=rng.randint(0, 500))
        self.dates = [
            start + dt.timedelta(days=4 * i + rng.randint(0, 3), hours=rng.randint(0, 9)) for i in range(sessions)
        ]
        self.qa: list[dict[str, Any]] = []

    def say(self, session: int, speaker: str, text: str) -> str:
        turns = self.sessions[session]
        dia_id = f"D{session + 1}:{len(turns) + 1}"
        turns.append({"speaker": speaker, "dia_id": dia_id, "text": text})
        return dia_id

    def ask(self, question: str, answer: str, evidence: list[str], category: int) -> None:
        self.qa.append({"question": question, "answer": answer, "evidence": evidence, "category": category})

    def tool(self, session: int, name: str, records: list[dict[str, Any]]) -> str:
        return self.say(session, "tool", f"{name} returned {len(records)} records: " + json.dumps(records))


def _hotels(t: _Trace, city: str, n: int) -> list[dict[str, Any]]:
    rng = t.rng
    return [
        {
            "hotel_id": f"h{rng.randint(10000, 99999)}",
            "name": f"Hotel {rng.choice(HOTEL_WORDS)} {city}",
            "city": city,
            "price_per_night_eur": rng.randint(70, 260),
            "rating": round(rng.uniform(3.4, 4.9), 1),
            "distance_to_center_km": round(rng.uniform(0.2, 6.0), 1),
            "free_cancellation": rng.random() < 0.5,
            "breakfast": rng.choice(("included", "extra", "none")),
        }
        for _ in range(n)
    ]


def _hotel_task(t: _Trace, s: int, city: str, book: bool, guest: str = "") -> None:
    """A hotel search, and a booking (asked about) when ``book``; for ``guest`` the booking is someone else's
    (a distractor holding a confirmation code of the same city)."""
    rng = t.rng
    nights = rng.randint(2, 5)
    whom = f"my colleague {guest}" if guest else "me"
    t.say(s, "user", f"Can you find {whom} a hotel in {city} for {nights} nights next month? Something central.")
    t.say(s, "agent", f"Calling search_hotels(city={city!r}, nights={nights}, sort='rating').")
    options = _hotels(t, city, rng.randint(4, 7))
    t.tool(s, "search_hotels", options)
    if not book:
        t.say(s, "agent", f"I found {len(options)} options in {city}; none has free cancellation at your price yet.")
        return
    chosen = max(options, key=lambda h: h["rating"])
    code = _code(rng, "HX")
    t.say(s, "agent", f"Calling book_hotel(hotel_id={chosen['hotel_id']!r}, nights={nights}).")
    receipt = {"status": "confirmed", "confirmation": code, "hotel": chosen["name"], "nights": nights,
               "total_eur": chosen["price_per_night_eur"] * nights, "guest": guest or "primary account",
               "policy": "pay at the property; cancellation fees apply after 48 hours"}  # fmt: skip
    evidence = [t.tool(s, "book_hotel", [receipt])]
    if guest:
        t.say(s, "agent", f"Booked {chosen['name']} for {guest}, confirmation {code}.")
        return
    if rng.random() < 0.5:
        evidence.append(t.say(s, "agent", f"Done: {chosen['name']} is booked, confirmation {code}."))
    else:
        t.say(s, "agent", f"Done: {chosen['name']} is booked for {nights} nights.")
    t.ask(rng.choice(HOTEL_QUESTIONS).format(city=city), code, evidence, 4)


def _logs(t: _Trace, service: str, host: str, port: int | None) -> str:
    rng = t.rng
    lines = []
    for _ in range(rng.randint(12, 22)):
        stamp = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        lines.append(f"{stamp} {rng.choice(LOG_LEVELS)} {service}@{host} worker={rng.randint(1, 8)} "
                     f"request_id={rng.randint(10**7, 10**8)} latency_ms={rng.randint(3, 900)}")  # fmt: skip
    if port is not None:
        lines.insert(rng.randrange(len(lines)), f"ERROR {service}@{host} bind failed: port {port} already in use")
    return f"read_logs returned {len(lines)} lines:\n" + "\n".join(lines)


def _service_task(t: _Trace, s: int, service: str, host: str, port: int | None) -> str | None:
    t.say(s, "user", f"{service} on {host} keeps restarting, can you check why?")
    t.say(s, "agent", f"Calling read_logs(service={service!r}, host={host!r}, last='1h').")
    evidence = t.say(s, "tool", _logs(t, service, host, port))
    if port is None:
        t.say(s, "agent", f"Nothing stands out in the last hour of {service} logs; it may be memory pressure.")
        return None
    t.say(s, "agent", f"The logs show a bind error on {host}; another process holds the port. I freed it.")
    return evidence


def _routine_task(t: _Trace, s: int, city: str, service: str, host: str) -> None:
    """A task whose turns hold no answer: a hotel search, a clean log read, or a dinner order."""
    kind = t.rng.choice(("hotel", "logs", "food"))
    if kind == "hotel":
        _hotel_task(t, s, city, book=False)
    elif kind == "logs":
        _service_task(t, s, service, host, None)
    else:
        dish = t.rng.choice(DISHES)
        t.say(s, "user", f"Get me {dish} from somewhere near the office.")
        t.say(s, "agent", f"Calling order_food(dish={dish!r}).")
        t.tool(s, "order_food", [{"order_id": _code(t.rng, "OD"), "dish": dish, "eta_min": t.rng.randint(20, 55),
                                   "status": "placed"}])  # fmt: skip
        t.say(s, "agent", f"Your {dish} is on its way.")


def _agent_item(rng: random.Random, sample_id: str, sessions: int) -> dict[str, Any]:
    t = _Trace(rng, sessions)
    cities = rng.sample(CITIES, 3)
    service, host = rng.choice(SERVICES), rng.choice(HOSTS)
    allergen, seat = rng.choice(ALLERGENS), rng.choice(SEATS)
    order = list(range(sessions))
    rng.shuffle(order)
    slots = iter(order * 4)
    # the user's own facts, stated in the middle of a task
    s = next(slots)
    dish = rng.choice(DISHES)
    ev = t.say(s, "user", f"Order me {dish} for tonight, and please make sure it has no {allergen}, I'm allergic.")
    t.say(s, "agent", f"Calling order_food(dish={dish!r}, exclude={allergen!r}).")
    t.tool(s, "order_food", [{"order_id": _code(rng, "OD"), "dish": dish, "eta_min": rng.randint(20, 55),
                               "restaurant": f"{rng.choice(HOTEL_WORDS)} Kitchen", "status": "placed"}])  # fmt: skip
    t.ask(rng.choice(ALLERGY_QUESTIONS), allergen, [ev], 4)
    s = next(slots)
    airline, city = rng.choice(AIRLINES), cities[2]
    ev = t.say(s, "user", f"Book the {airline} flight to {city} on Friday. I always want {seat}.")
    t.say(s, "agent", f"Calling book_flight(airline={airline!r}, destination={city!r}, seat_pref={seat!r}).")
    ticket = {"pnr": _code(rng, "PN"), "airline": airline, "to": city, "seat": f"{rng.randint(3, 38)}C",
              "fare": rng.choice(("light", "classic", "flex")), "bags": rng.randint(0, 2)}  # fmt: skip
    t.tool(s, "book_flight", [ticket])
    t.ask(rng.choice(SEAT_QUESTIONS), seat, [ev], 4)
    t.ask(rng.choice(TRIP_QUESTIONS).format(city=city), t.dates[s].strftime("%d %B %Y"), [ev], 2)
    # the tools' facts, with distractor tasks on the same entities
    _hotel_task(t, next(slots), cities[0], book=True)
    _hotel_task(t, next(slots), cities[0], book=False)
    _hotel_task(t, next(slots), cities[1], book=True)
    _hotel_task(t, next(slots), cities[1], book=False)
    first, later = sorted((next(slots), next(slots)))
    ports = rng.sample(range(8000, 9000), 2)
    old = _service_task(t, first, service, host, ports[0])
    _service_task(t, next(slots), service, host, None)
    if sessions >= 3 and first != later:
        new = _service_task(t, later, service, host, ports[1])
        assert new is not None
        t.ask(rng.choice(PORT_QUESTIONS).format(service=service, when=" the last time"), str(ports[1]), [new], 4)
    elif old is not None:
        t.ask(rng.choice(PORT_QUESTIONS).format(service=service, when=""), str(ports[0]), [old], 4)
    for other in rng.sample([x for x in SERVICES if x != service], 2):  # other services' bind failures
        _service_task(t, next(slots), other, host, rng.randrange(8000, 9000))
    for guest in rng.sample(COLLEAGUES, 2):  # other people's bookings in the same cities
        _hotel_task(t, next(slots), rng.choice(cities[:2]), book=True, guest=guest)
    s = next(slots)
    other_allergen = rng.choice([a for a in ALLERGENS if a != allergen])
    friend = rng.choice(COLLEAGUES)
    t.say(s, "user", f"We are having {friend} over for dinner; {friend} is allergic to {other_allergen}, plan a menu.")
    t.say(s, "agent", f"Calling plan_menu(guests=2, exclude={other_allergen!r}).")
    t.tool(s, "plan_menu", [{"course": c, "dish": rng.choice(DISHES), "allergens_checked": [other_allergen],
                             "prep_min": rng.randint(10, 60)} for c in ("starter", "main", "dessert")])  # fmt: skip
    t.say(s, "agent", f"Here is a menu without {other_allergen} for you and {friend}.")
    for s in range(sessions):  # routine tasks on the same entities, without the answers
        for _ in range(rng.choice((1, 2, 2, 3))):
            _routine_task(
                t, s, rng.choice(CITIES[:6] + tuple(cities)), rng.choice(SERVICES), rng.choice((*HOSTS, host))
            )
    conversation: dict[str, Any] = {"speaker_a": "user", "speaker_b": "agent"}
    for i, turns in enumerate(t.sessions, start=1):
        if turns:
            conversation[f"session_{i}_date_time"] = t.dates[i - 1].strftime("%-I:%M %p on %-d %B, %Y")
            conversation[f"session_{i}"] = turns
    return {"sample_id": sample_id, "conversation": conversation, "qa": t.qa}


def agent_traces(n_conversations: int, sessions: int, seed: int) -> list[dict[str, Any]]:
    """``n_conversations`` agent-trace conversations of ``sessions`` sessions (the same arguments, the same items)."""
    return [
        _agent_item(random.Random(f"reme-synthetic/agent/{seed}/{index}"), f"synth-agent-{seed}-{index}", sessions)
        for index in range(n_conversations)
    ]
