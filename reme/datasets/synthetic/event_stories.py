"""The stories of what happens to a persona: a pet adopted (named later) or an old pet, a trip, a race, a course and
a gift. Each is registered in ``registry.STORIES`` under its name."""

from __future__ import annotations

from .conversation import Conversation
from .plan import Follow
from .registry import story
from .text import cap, finish_time

__all__ = ["EVENT_STORIES", "story_adopt", "story_course", "story_gift", "story_old_pet", "story_race", "story_trip"]

EVENT_STORIES = ("trip", "race", "course", "gift")
"""The one-off events a persona may tell of, in the order the plan draws from."""


@story("adopt")
def story_adopt(c: Conversation, p: int) -> None:
    """Persona ``p`` adopts a young animal; its name is revealed in a later session."""
    per, rng = c.personas[p], c.rng
    per.kinds.update(("pet", "pet_adopt"))
    species = rng.choice(c.words.species)
    breed, pet = rng.choice(species.breeds), c.names.pet()
    shelter, shelter_para = rng.choice(c.words.shelters)
    s1 = c.session(0, c.n - 2)
    s2 = c.session(s1 + 1)
    when, when_answer = c.when(s1)
    k1, k2 = c.key(), c.key()
    text = rng.choice(
        (
            "{when_cap} I adopted a little {breed} {young} from {shelter}! Still can't settle on a name.",
            "Meet the newest member of the family: a {breed} {young} from {shelter}. Came home {when}. "
            "Name still pending!",
            "I did a thing. {when_cap} I adopted a {breed} {young} from {shelter}. Still thinking about names.",
        )
    ).format(when=when, when_cap=cap(when), breed=breed, young=species.young, shelter=shelter)
    fact = c.fact(
        p,
        "{name} adopted a {breed} {young} from {shelter} {when}.",
        breed=breed,
        young=species.young,
        shelter=shelter,
        when=when,
    )
    c.beat(s1, p, "pet", text, k1, fact, event=True, caption=species.caption)
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
    fact = c.fact(p, "{name} named {poss} {species} {pet}.", species=species.word, pet=pet)
    c.beat(s2, p, "pet", text, k2, fact)
    para = c.term(species.word, *species.paraphrases)
    shelter_para = c.term(shelter, shelter_para)
    c.ask(
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
    c.ask(
        p,
        2,
        ("When did {name} bring home {poss} {para}?", "When did {name} take in the {para}?"),
        when_answer,
        [k1],
        para=para,
    )
    c.ask(
        p,
        4,
        ("What breed is {name}'s {para}?", "What kind of {species} did {name} get?"),
        breed,
        [k1],
        para=para,
        species=species.word,
    )
    c.ask(
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
    c.swap(
        p,
        "pet_adopt",
        ("What is the name of the {para} {name} adopted?", "What did {name} call {poss} new {para}?"),
        pet,
        [k2],
        para=para,
    )


@story("old_pet")
def story_old_pet(c: Conversation, p: int) -> None:
    """Persona ``p`` mentions a pet they already have."""
    per, rng = c.personas[p], c.rng
    per.kinds.add("pet")
    species, anecdote = rng.choice(c.words.old_pets + tuple((s.word, s.anecdote) for s in c.words.species))
    pet = c.names.pet()
    key = c.key()
    text = (
        anecdote.format(pet=pet)
        + " "
        + rng.choice(("Life with a {species}, never a dull moment.", "Still love my little {species} though.")).format(
            species=species
        )
    )
    c.beat(
        c.session(),
        p,
        "old_pet",
        text,
        key,
        c.fact(p, "{name} has a {species} named {pet}.", species=species, pet=pet),
    )
    if rng.random() < 0.5:
        c.ask(p, 4, ("What kind of animal is {pet}?", "What species is {name}'s pet {pet}?"), species, [key], pet=pet)
    else:
        c.ask(p, 4, ("What is the name of {name}'s {species}?",), pet, [key], species=species)


@story("trip")
def story_trip(c: Conversation, p: int) -> None:
    """Persona ``p`` travels somewhere with a companion."""
    per, rng = c.personas[p], c.rng
    per.kinds.add("trip")
    dest = c.place(c.words.destinations)
    companion = rng.choice(c.words.companions)
    mate = c.names.person(companion.female)
    length = rng.choice(c.words.trip_lengths)
    session = c.session()
    when, when_answer = c.when(session, ("week", "month"))
    key = c.key()
    text = rng.choice(
        (
            "Guess where I was {when}? {dest}! My {rel} {mate} and I spent {length} there. {detail}",
            "{when_cap} my {rel} {mate} and I flew out to {dest} for {length}. {detail}",
            "Still dreaming about {dest}. {mate}, my {rel}, and I went {when} for {length}. {feature_cap}, wow.",
        )
    ).format(
        when=when,
        when_cap=cap(when),
        dest=dest.name,
        rel=companion.word,
        mate=mate,
        length=length,
        detail=rng.choice(c.words.trip_details),
        feature_cap=cap(dest.feature),
    )
    fact = c.fact(
        p,
        "{name} traveled to {dest} with {poss} {rel} {mate} for {length} {when}.",
        dest=dest.name,
        rel=companion.word,
        mate=mate,
        length=length,
        when=when,
    )
    caption = rng.choice(("a photo of two people smiling on a crowded old street", "a photo of a harbor at sunset"))
    follow = Follow("What was the highlight?", f"Honestly, {dest.feature}. And just slowing down with {mate}.")
    c.beat(
        session,
        p,
        "trip",
        text,
        key,
        fact,
        event=True,
        caption=caption,
        follow=follow if rng.random() < 0.5 else None,
        follow_key=c.key(),
    )
    word = rng.choice(c.words.trip_words)
    rel = c.term(companion.word, companion.paraphrase)
    fields = {"rel": rel, "mate": mate, "word": word, "kind": dest.region_kind}
    c.ask(
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
    c.ask(
        p,
        2,
        ("When did {name} go on the {word} with {poss} {rel}?", "When did {name} travel with {mate}?"),
        when_answer,
        [key],
        **fields,
    )
    if rng.random() < 0.6:
        c.ask(p, 3, ("Which {kind} did {name} visit with {poss} {rel}?",), dest.region, [key], **fields)
    c.swap(p, "trip", ("Where did {name} travel with {poss} {rel}?",), dest.name, [key], rel=rel)


@story("race")
def story_race(c: Conversation, p: int) -> None:
    """Persona ``p`` runs a race (finishing time, maybe a cause)."""
    per, rng = c.personas[p], c.rng
    per.kinds.add("race")
    race = rng.choice(c.words.races)
    finish = finish_time(rng.randint(race.fastest, race.slowest))
    session = c.session()
    when, when_answer = c.when(session, ("day", "weekend"))
    key, cause_key = c.key(), c.key()
    text = rng.choice(
        (
            "I did it! Ran the {race} {when} and finished in {finish}.",
            "{when_cap} I ran my first {race}. {finish_cap}, not bad for a beginner!",
            "Finished the {race} {when} in {finish}. Legs are jelly but I'm so happy.",
        )
    ).format(race=race.name, when=when, when_cap=cap(when), finish=finish, finish_cap=cap(finish))
    fact = c.fact(p, "{name} ran a {race} {when} and finished in {finish}.", race=race.name, when=when, finish=finish)
    cause = rng.choice(c.words.race_causes)
    follow = Follow(
        "Was it for a cause?",
        f"Yes! We raised money for {cause}.",
        told=f"The race raised money for {cause}.",
        fact=c.fact(p, "{name}'s race raised money for {cause}.", cause=cause),
    )
    with_cause = rng.random() < 0.6
    caption = "a photo of a runner holding a medal at a finish line"
    c.beat(
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
    para = c.term(race.name, *race.paraphrases)
    c.ask(
        p,
        4,
        ("How long did it take {name} to complete the {para}?", "What was {name}'s finishing time in the {para}?"),
        finish,
        [key],
        para=para,
    )
    c.ask(
        p,
        2,
        ("When did {name} take part in the {para}?", "When did {name} compete in the {para}?"),
        when_answer,
        [key],
        para=para,
    )
    if with_cause:
        c.ask(
            p,
            4,
            ("Which cause did {name}'s {para} support?", "What was {name} raising funds for with the {para}?"),
            cause,
            [cause_key],
            para=para,
        )
    c.swap(p, "race", ("What was {name}'s finishing time in the {para}?",), finish, [key], para=para)


@story("course")
def story_course(c: Conversation, p: int) -> None:
    """Persona ``p`` signs up for a course."""
    per, rng = c.personas[p], c.rng
    per.kinds.add("course")
    course = rng.choice(c.words.courses)
    day, venue = (
        rng.choice(c.words.course_days),
        rng.choice(("the community college", "the rec center", "a studio downtown")),
    )
    session = c.session()
    when, when_answer = c.when(session, ("day",))
    key = c.key()
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
    fact = c.fact(p, "{name} signed up for {course} at {venue}.", course=course.name, venue=venue)
    c.beat(session, p, "course", text, key, fact, event=True)
    c.ask(
        p,
        4,
        ("Which class about {para} did {name} join?", "What did {name} enroll in to learn {para}?"),
        course.name,
        [key],
        para=course.paraphrase,
    )
    if dated:
        c.ask(p, 2, ("When did {name} attend the first lesson of {poss} new class?",), when_answer, [key])
    else:
        c.ask(p, 4, ("What has {name} been attending on {day} evenings?",), course.name, [key], day=day)
    c.swap(
        p,
        "course",
        ("What class did {name} enroll in?", "What is {name} learning in evening classes?"),
        course.name,
        [key],
    )


@story("gift")
def story_gift(c: Conversation, p: int) -> None:
    """Persona ``p`` receives a present."""
    per, rng = c.personas[p], c.rng
    per.kinds.add("gift")
    gift = rng.choice(c.words.gifts)
    giver = per.partner[0].word if per.partner and rng.random() < 0.4 else rng.choice(c.words.gift_givers)
    occasion = rng.choice(c.words.occasions)
    key = c.key()
    text = rng.choice(
        (
            "My {giver} got me {gift} for {occasion}! {extra}",
            "Look what my {giver} gave me for {occasion}: {gift}! {extra}",
            "{gift_cap}! That's what my {giver} surprised me with for {occasion}.",
        )
    ).format(
        giver=giver,
        gift=gift,
        gift_cap=cap(gift),
        occasion=occasion.word,
        extra=rng.choice(("I've used it every day since.", "Totally spoiled.", "I nearly cried.")),
    )
    occasion_third = occasion.word.replace("my ", per.poss + " ").replace("our ", per.poss + " ")
    fact = c.fact(
        p,
        "{name} received {gift} from {poss} {giver} for {occasion}.",
        gift=gift,
        giver=giver,
        occasion=occasion_third,
    )
    c.beat(c.session(), p, "gift", text, key, fact, event=True, caption=f"a photo of {gift} in a gift box")
    giver_para = c.term(giver, c.words.giver_paraphrases.get(giver, giver))
    c.ask(
        p,
        4,
        (
            "What present did {name} receive from {poss} {giver} for {occasion}?",
            "What did {name}'s {giver} give {obj} for {occasion}?",
        ),
        gift,
        [key],
        giver=giver_para,
        occasion=c.term(occasion_third, occasion.paraphrase),
    )
    if per.partner is None or giver != per.partner[0].word:  # partners also give surprises in family news
        c.swap(p, "gift", ("What present did {name} receive from {poss} {giver}?",), gift, [key], giver=giver_para)
