"""Distractors and adversarial (category-5) questions: third people's events that share vocabulary with the real
stories, swapped questions about the other persona, and traps about things nobody said."""

from __future__ import annotations

from .conversation import Conversation
from .plan import Ask, Beat, Fact, Line
from .text import cap, finish_time, with_article

__all__ = ["NOT_MENTIONED", "distractor", "never_said", "resolve_swaps"]

NOT_MENTIONED = "Not mentioned in the conversation"
"""The ``adversarial_answer`` of category-5 questions about something nobody said."""


def distractor(c: Conversation, session: int, p: int, kind: str) -> None:
    """Persona ``p`` tells of a third person's event that shares vocabulary with the real stories."""
    rng = c.rng
    relation, gender = rng.choice(c.words.others)
    other_female = rng.random() < 0.5 if gender is None else gender
    other, their = c.names.person(other_female), "her" if other_female else "his"
    key = c.key()
    if kind == "pet":
        species = rng.choice(c.words.species)
        pet = c.names.pet()
        text = f"My {relation} {other} just adopted a {species.young} and named it {pet}."
        fact = f"{{name}}'s {relation} {other} adopted a {species.young} named {pet}."
        if "pet_adopt" not in c.personas[p].kinds:
            para = c.term(species.word, *species.paraphrases)
            c.trap(p, ("What did {name} name the {para} {subj} adopted?",), pet, [key], para=para)
    elif kind == "race":
        race = rng.choice(c.words.races)
        finish = finish_time(rng.randint(race.fastest, race.slowest))
        when, _ = c.when(session, ("day", "weekend"))
        text = f"My {relation} {other} ran the {race.name} {when} in {finish}. I could never!"
        fact = f"{{name}}'s {relation} {other} ran a {race.name} in {finish}."
        if "race" not in c.personas[p].kinds:
            para = c.term(race.name, *race.paraphrases)
            c.trap(p, ("How long did it take {name} to finish the {para}?",), finish, [key], para=para)
    elif kind == "trip":
        dest, length = c.place(c.words.destinations), rng.choice(c.words.trip_lengths)
        text = f"My {relation} {other} is off to {dest.name} for {length}. So jealous."
        fact = f"{{name}}'s {relation} {other} is traveling to {dest.name} for {length}."
        if "trip" not in c.personas[p].kinds:
            c.trap(p, ("Where is {name} going on vacation for {length}?",), dest.name, [key], length=length)
    elif kind == "move":
        city = c.place(c.words.home_cities)
        text = f"My {relation} {other} is moving to {city.name} next month. Everyone's relocating lately!"
        fact = f"{{name}}'s {relation} {other} is moving to {city.name}."
        if "move" not in c.personas[p].kinds:
            c.trap(p, ("Which city is {name} relocating to?",), city.name, [key])
    elif kind == "job":
        job = rng.choice(c.words.jobs)
        text = f"My {relation} {other} just got hired as {with_article(job.title)} at {job.workplace}."
        fact = f"{{name}}'s {relation} {other} was hired as {with_article(job.title)}."
        if "job_switch" not in c.personas[p].kinds:
            c.trap(p, ("Which new position did {name} get hired for?",), job.title, [key])
    elif kind == "course":
        course = rng.choice(c.words.courses)
        text = f"My {relation} {other} signed up for {course.name}, of all things."
        fact = f"{{name}}'s {relation} {other} signed up for {course.name}."
        if "course" not in c.personas[p].kinds:
            c.trap(p, ("Which class about {para} did {name} join?",), course.name, [key], para=course.paraphrase)
    else:
        gift = rng.choice(c.words.gifts)
        text = f"My {relation} {other} got {gift} for {their} birthday. Now I want one."
        fact = f"{{name}}'s {relation} {other} got {gift} as a birthday present."
        if "gift" not in c.personas[p].kinds:
            c.trap(p, ("What birthday present did {name} get?",), gift, [key])
    line_fact = c.fact(p, fact)
    if c.chat:
        lines = [Line(p, text, key), Line(1 - p, rng.choice(c.words.distractor_reactions))]
    else:
        lines = [
            Line(0, f"{text} {rng.choice(c.words.assistant_requests['generic'])}", key),
            Line(1, c.reply(kind)),
        ]
    c.beats.append(Beat(session, p, lines, [Fact(p, line_fact, key)]))
    c.load[session] += len(lines)


def resolve_swaps(c: Conversation) -> None:
    """Turn the swaps into category-5 traps where the other persona never did such a thing."""
    for swap in c.swaps:
        p = 1 - swap.owner
        if swap.kind not in c.personas[p].kinds:
            question = cap(swap.template.format(**c.fields(p), **swap.fields))
            c.traps.append(Ask(5, question, swap.answer, swap.keys))


def never_said(c: Conversation, p: int) -> None:
    """Traps about things nobody ever mentioned (no evidence)."""
    for template in c.rng.sample(c.words.never_said, 2):
        c.trap(p, (template,), NOT_MENTIONED, [])


# ----------------------------------------------------------------------------------------------------
# Plan and render
