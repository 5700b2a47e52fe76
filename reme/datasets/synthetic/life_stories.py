"""The stories of who a persona is: job (and a career change), home (and a move), a taste that may change, hobbies
and family. Each is registered in ``registry.STORIES`` under its name."""

from __future__ import annotations

from .conversation import Conversation
from .plan import Follow
from .registry import story
from .text import cap, with_article
from .vocabulary import Hobby

__all__ = ["story_family", "story_hobbies", "story_home", "story_job", "story_preference"]


@story("job")
def story_job(c: Conversation, p: int, switch: bool) -> None:
    """Persona ``p``'s job, and maybe a switch to a job in another industry in a later session."""
    per, rng = c.personas[p], c.rng
    job = per.job
    per.kinds.add("job")
    s1 = c.session(0, c.n // 2 - 1 if switch else None)
    k1 = c.key()
    intro = rng.choice(
        (
            "Work has been a lot lately. Being {a_title} at {workplace} means {detail} this month.",
            "Long week at {workplace}. {detail_cap}, the joys of being {a_title}!",
            "Honestly, I love being {a_title}, even with {detail}.",
            "I'm wiped. {detail_cap} all week at {workplace}. Some days I forget why I became {a_title}.",
        )
    ).format(a_title=with_article(job.title), workplace=job.workplace, detail=job.detail, detail_cap=cap(job.detail))
    follow = None
    if rng.random() < 0.5:
        years = rng.randint(2, 15)
        follow = Follow("How long have you been doing that now?", f"Going on {years} years, believe it or not.")
    fact = c.fact(p, "{name} works as {title} at {workplace}.", title=with_article(job.title), workplace=job.workplace)
    c.beat(s1, p, "job", intro, k1, fact, follow=follow, follow_key=c.key())
    if not switch:
        c.ask(
            p,
            4,
            (
                "What does {name} do for a living?",
                "What is {name}'s profession?",
                "What does {name} do at {workplace}?",
            ),
            job.title,
            [k1],
            workplace=job.workplace,
        )
        c.ask(p, 3, ("Which industry does {name} work in?", "In what sector is {name} employed?"), job.sector, [k1])
        return
    per.kinds.add("job_switch")
    taken = [persona.job for persona in c.personas]
    new = rng.choice([j for j in c.words.jobs if j.sector != job.sector and j not in taken])
    s2 = c.session(s1 + 1)
    when, when_answer = c.when(s2, ("day",))
    k2, k3 = c.key(), c.key()
    text = rng.choice(
        (
            "Big news: I started a new job {when}! I'm {a_title} at {workplace} now. Leaving {old} was sad.",
            "So... I left {old}. My first day as {a_title} at {workplace} was {when}.",
            "New chapter for me: I'm {a_title} at {workplace} now. Started {when}.",
        )
    ).format(when=when, a_title=with_article(new.title), workplace=new.workplace, old=job.workplace)
    reason, reason_third = rng.choice(c.words.switch_reasons)
    reason_third = reason_third.format(**c.fields(p))
    follow = Follow(
        "What made you switch?",
        f"Honestly, {reason}.",
        told=f"I switched because {reason}.",
        fact=c.fact(p, "{name} changed jobs because {reason}.", reason=reason_third),
    )
    fact = c.fact(
        p,
        "{name} left {poss} job as {old} and started as {new} at {place} {when}.",
        old=with_article(job.title),
        new=with_article(new.title),
        place=new.workplace,
        when=when,
    )
    c.beat(s2, p, "switch", text, k2, fact, event=True, follow=follow, follow_key=k3)
    c.ask(
        p,
        4,
        (
            "What is {name}'s current job?",
            "What does {name} do for work now?",
            "What role does {name} hold at the moment?",
        ),
        new.title,
        [k2],
    )
    c.ask(
        p,
        1,
        (
            "What jobs has {name} held over the course of these conversations?",
            "What was {name}'s occupation before the career change, and what is it now?",
        ),
        f"{job.title}, then {new.title}",
        [k1, k2],
    )
    c.ask(
        p,
        2,
        ("When did {name} begin the new position?", "When did {name} take up {poss} latest role?"),
        when_answer,
        [k2],
    )
    c.ask(
        p,
        3,
        ("Which field did {name} move into with the career change?", "What industry is {name}'s newest role in?"),
        new.sector,
        [k2],
    )
    c.ask(
        p,
        4,
        ("Why did {name} change employers?", "What was {name}'s reason for leaving {poss} previous workplace?"),
        reason_third,
        [k3],
    )


@story("home")
def story_home(c: Conversation, p: int, move: bool) -> None:
    """Where persona ``p`` lives, and maybe a move announced later and settled later still."""
    per, rng = c.personas[p], c.rng
    city = per.city
    s1 = c.session(0, c.n // 2 - 1 if move else None)
    k1 = c.key()
    text = rng.choice(
        (
            "Can't believe it's been {years} years since I moved to {city}. Still not tired of {feature}.",
            "Gorgeous evening here in {city}. I never get tired of {feature}.",
            "Took the long way home through {city} today just to enjoy {feature}.",
        )
    ).format(years=rng.randint(2, 12), city=city.name, feature=city.feature, feature_cap=cap(city.feature))
    c.beat(s1, p, "home", text, k1, c.fact(p, "{name} lives in {city}.", city=city.name))
    if not move:
        c.ask(p, 4, ("Which city does {name} call home?", "Where is {name} based?"), city.name, [k1])
        c.ask(p, 3, ("In which {kind} does {name} live?",), city.region, [k1], kind=city.region_kind)
        return
    per.kinds.add("move")
    new = c.place(c.words.home_cities)
    s2 = c.session(s1 + 1, c.n - 2 if c.n - s1 > 2 else None)
    k2 = c.key()
    reason = rng.choice(c.words.move_reasons)
    text = rng.choice(
        (
            "Huge news: I'm moving to {city}! {reason}",
            "I signed a lease in {city}. {reason} Moving day is in a few weeks.",
            "It's official, I'm leaving {old} for {city}. {reason}",
        )
    ).format(city=new.name, old=city.name, reason=reason)
    fact = c.fact(p, "{name} is moving from {old} to {city}.", old=city.name, city=new.name)
    c.beat(s2, p, "move", text, k2, fact, event=True)
    c.ask(
        p,
        1,
        (
            "Which city did {name} leave, and where did {name} relocate to?",
            "Where did {name} live before the move, and where did {name} end up?",
        ),
        f"from {city.name} to {new.name}",
        [k1, k2],
    )
    c.ask(
        p,
        3,
        ("In which {kind} is {name}'s new home?", "What {kind} did {name} relocate to?"),
        new.region,
        [k2],
        kind=new.region_kind,
    )
    # "Since I moved to Denver" may be said by anyone: ask about the recent relocation only.
    c.swap(p, "move", ("Which city is {name} relocating to?", "Where is {name} moving next?"), new.name, [k2])
    if s2 == c.n - 1:
        c.ask(p, 4, ("Where is {name} relocating?", "Which city is {name} about to call home?"), new.name, [k2])
        return
    s3 = c.session(s2 + 1)
    k3 = c.key()
    when, when_answer = c.when(s3, ("day", "weekend"))
    feature = rng.choice(c.words.new_home_features)
    text = rng.choice(
        (
            "Finally unpacked the last box {when}! The new place in {city} has {feature}, I'm in love.",
            "I'm officially settled in {city}. Got the last of the boxes sorted {when}. And we have {feature}!",
        )
    ).format(when=when, city=new.name, feature=feature)
    fact = c.fact(
        p, "{name} finished settling into a new home in {city} that has {feature}.", city=new.name, feature=feature
    )
    c.beat(s3, p, "home", text, k3, fact, event=True)
    c.ask(
        p,
        4,
        (
            "Where does {name} live now?",
            "Which city is {name} living in these days?",
            "Which city is home for {name} at this point?",
        ),
        new.name,
        [k3],
    )
    c.ask(
        p,
        2,
        ("When was {name} done with the move?", "When did {name} finish getting the new home in order?"),
        when_answer,
        [k3],
    )
    c.ask(p, 4, ("What does {name} love about the new place?",), feature, [k3])


@story("preference")
def story_preference(c: Conversation, p: int, change: bool) -> None:
    """A taste of persona ``p``; when ``change``, a later turn supersedes it."""
    per, rng = c.personas[p], c.rng
    pref = rng.choice(c.words.preferences)
    per.kinds.add("pref:" + pref.topic)
    old, new = rng.sample(pref.options, 2)
    s1 = c.session(0, c.n // 2 - 1 if change else None)
    k1 = c.key()
    text = rng.choice(pref.first).format(old=old, old_cap=cap(old))
    fact = c.fact(p, "{name}'s {topic} is {old}.", old=old, topic=pref.topic)
    c.beat(s1, p, "pref", text, k1, fact)
    para = c.term(pref.topic, *pref.paraphrases)
    if not change:
        c.ask(p, 4, ("What is {name}'s {para}?", "How would you describe {name}'s {para}?"), old, [k1], para=para)
        return
    s2 = c.session(s1 + 1)
    k2 = c.key()
    text = rng.choice(pref.change).format(old=old, new=new, new_cap=cap(new))
    fact = c.fact(p, "{name}'s {topic} changed from {old} to {new}.", old=old, new=new, topic=pref.topic)
    c.beat(s2, p, "pref_change", text, k2, fact)
    c.ask(p, 4, pref.questions, new, [k2])
    c.ask(
        p,
        1,
        (
            "How has {name}'s {para} changed over time?",
            "What did {name} used to prefer, and what now, for {poss} {para}?",
        ),
        f"from {old} to {new}",
        [k1, k2],
        para=para,
    )


@story("hobbies")
def story_hobbies(c: Conversation, p: int, hobbies: list[Hobby]) -> dict[str, str]:
    """Persona ``p``'s pastimes, each in its own session; returns the key of each hobby's turn."""
    per, rng = c.personas[p], c.rng
    keys: dict[str, str] = {}
    for hobby in hobbies:
        per.traits.append(hobby.trait)
        key = c.key()
        follow = None
        if rng.random() < 0.4:
            years = rng.randint(2, 12)
            follow = Follow(
                "How did you get into that?", f"A friend dragged me along {years} years ago. Never stopped."
            )
        fact = c.fact(p, "{name} enjoys {hobby}.", hobby=hobby.name)
        c.beat(c.session(), p, "hobby", rng.choice(hobby.lines), key, fact, follow=follow, follow_key=c.key())
        keys[hobby.name] = key
    first = hobbies[0]
    if len(hobbies) == 1:
        c.ask(
            p,
            4,
            (
                "What does {name} like to do in {poss} spare time?",
                "How does {name} unwind on weekends?",
                "Which activity involving {para} does {name} do?",
            ),
            first.name,
            [keys[first.name]],
            para=first.paraphrase,
        )
    else:
        c.ask(
            p,
            1,
            ("What hobbies does {name} have?", "Which pastimes has {name} mentioned?"),
            " and ".join(h.name for h in hobbies),
            [keys[h.name] for h in hobbies],
        )
    hobby = rng.choice(hobbies)
    good = rng.choice(c.words.trait_outings[hobby.trait])
    other_traits = [t for t in c.words.trait_outings if t not in per.traits]
    bad = rng.choice(c.words.trait_outings[rng.choice(other_traits)])
    first_option, second_option = (good, bad) if rng.random() < 0.5 else (bad, good)
    c.ask(
        p,
        3,
        (
            "Which would {name} probably enjoy more: {x} or {y}?",
            "If {name} had to pick between {x} and {y}, which would be the likelier choice?",
        ),
        f"{good}, since {per.ref} enjoys {hobby.name}",
        [keys[hobby.name]],
        x=first_option,
        y=second_option,
    )
    return keys


@story("family")
def story_family(c: Conversation, p: int, female: bool) -> None:
    """A partner and/or a child of persona ``p``."""
    per, rng = c.personas[p], c.rng
    if rng.random() < 0.7 or not c.chat:
        relation = rng.choice(c.words.partners_for_female if female else c.words.partners_for_male)
        partner = c.names.person(relation.female)
        per.partner = (relation, partner)
        surprise = rng.choice(c.words.partner_surprises)
        key = c.key()
        text = rng.choice(
            (
                "My {rel}, {partner}, surprised me with {surprise} last night.",
                "{partner} (my {rel}) planned {surprise} for me on Saturday. I really lucked out.",
            )
        ).format(rel=relation.word, partner=partner, surprise=surprise)
        fact = c.fact(
            p,
            "{name}'s {rel} {partner} surprised {obj} with {surprise}.",
            rel=relation.word,
            partner=partner,
            surprise=surprise,
        )
        c.beat(c.session(), p, "family", text, key, fact)
        c.ask(
            p,
            4,
            ("What is the name of {name}'s {rel}?", "Who is {name}'s {rel}?"),
            partner,
            [key],
            rel=c.term(relation.word, relation.paraphrase),
        )
    if rng.random() < 0.6:
        kid_female = rng.random() < 0.5
        kid = c.names.person(kid_female)
        event, event_para = rng.choice(c.words.kid_events)
        key = c.key()
        desc = (
            rng.choice(("daughter", "youngest", "oldest")) if kid_female else rng.choice(("son", "youngest", "oldest"))
        )
        text = rng.choice(
            ("My {desc} {kid} {event} this week! So proud.", "Big week at home: {kid}, my {desc}, {event}!")
        ).format(desc=desc, kid=kid, event=event)
        fact = c.fact(p, "{name}'s child {kid} {event}.", kid=kid, event=event)
        c.beat(c.session(), p, "family", text, key, fact)
        c.ask(
            p,
            4,
            ("Which of {name}'s children {event}?", "What is the name of {name}'s kid who {event}?"),
            kid,
            [key],
            event=c.term(event, event_para),
        )
