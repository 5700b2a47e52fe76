"""Development tasks of the ``agent`` style: running a repository's tests (the language inferred from the listing,
the failing test) and filing a ticket that is reassigned later. Each function plans its tasks and questions on
a :class:`~.agent_trace.Trace`."""

from __future__ import annotations

from typing import Any

from .agent_trace import AGENT, TOOL, USER, Trace
from .plan import Line
from .text import locomo_day

__all__ = ["repo_tests", "ticket"]


def repo_tests(t: Trace, s: int) -> None:
    """The agent lists a repository and runs its tests: the language (inferred from the listing), the failing test
    (the run and the agent's summary) and how many passed (the run)."""
    rng = t.rng
    repo, lang = rng.choice(t.words.repos), rng.choice(t.words.languages)
    lines = [
        Line(
            USER,
            rng.choice(
                ("Run the tests in {r} and tell me what's failing.", "Can you check why CI is red on {r}?")
            ).format(r=repo),
        )
    ]
    lines.append(Line(AGENT, t.call("list_dir", "Looking at the repository first.", path=f"~/code/{repo}")))
    kd = t.key()
    entries = [
        ".github",
        "README.md",
        "Dockerfile",
        ".gitignore",
        lang.manifest,
        *lang.extras,
        "docs",
        "tests",
        "scripts",
    ]
    entries += rng.sample(t.words.source_dirs, 3)
    entries += [
        f"{rng.choice(t.words.test_verbs)}_{rng.choice(t.words.test_nouns)}.{lang.ext}"
        for _ in range(rng.randint(3, 6))
    ]
    listing = [f"total {rng.randint(80, 400)}"]
    for name in sorted(set(entries)):
        folder = "." not in name or name == ".github"
        size = 4096 if folder else rng.randint(120, 48000)
        day = t.ahead(s, -60, -1)
        listing.append(
            f"{'d' if folder else '-'}rw-r--r--  1 dev  staff  {size:>6} {day:%b %d} "
            f"{rng.randint(7, 23):02d}:{rng.randrange(60):02d} {name}"
        )
    lines.append(Line(TOOL, "\n".join(listing), kd))
    lines.append(
        Line(
            AGENT,
            t.call("run", f"It has a {lang.manifest}; running the suite.", command=lang.test_cmd, cwd=f"~/code/{repo}"),
        )
    )
    names = []
    for _ in range(rng.randint(12, 22)):
        verb, noun = rng.choice(t.words.test_verbs), rng.choice(t.words.test_nouns)
        names.append(
            {"snake": f"test_{verb}_{noun}", "camel": f"Test{verb.title()}{noun.title()}", "words": f"{verb}s {noun}"}[
                lang.case
            ]
        )
    names = list(dict.fromkeys(names))
    failing = rng.choice(names)
    out, kt = [f"$ {lang.test_cmd}"], t.key()
    source = f"tests/{rng.choice(t.words.test_verbs)}_test.{lang.ext}"
    for name in names:
        template = lang.fail_line if name == failing else lang.pass_line
        out.append(template.format(test=name, file=source, ms=rng.randint(1, 950)))
    expected, got = rng.randint(100, 9999), rng.randint(100, 9999)
    out += [
        "",
        f"FAILED {failing}: expected {expected / 100:.2f}, got {got / 100:.2f}",
        f"  at {source}:{rng.randint(20, 400)}",
    ]
    out.append(f"{len(names) - 1} passed, 1 failed in {rng.randint(2, 90)}.{rng.randrange(10)}s")
    lines.append(Line(TOOL, "\n".join(out), kt))
    ka = t.key()
    lines += [
        Line(AGENT, f"One failure: {failing} expects {expected / 100:.2f} but gets {got / 100:.2f}.", ka),
        Line(USER, t.thanks()),
    ]
    t.task(s, f"run the tests of {repo}", lines, [(TOOL, f"{repo} is a {lang.name} project; {failing} fails", kt)])
    f = {"repo": repo}
    t.ask(
        3,
        ("Which programming language is {repo} written in?", "What language is the {repo} repository in?"),
        lang.name,
        [kd],
        fields=f,
    )
    t.ask(4, ("Which test was failing in {repo}?", "What test broke the {repo} build?"), failing, [kt, ka], fields=f)
    t.ask(4, ("How many tests passed when the agent ran the {repo} suite?",), str(len(names) - 1), [kt], fields=f)


def ticket(t: Trace, s: int, later: int | None) -> None:
    """The agent searches for a ticket, files a new one, and (``later``) finds it reassigned: the ticket number,
    the filing day, and the assignee (current and the change when reassigned)."""
    rng = t.rng
    project, issue = rng.choice(t.words.projects), rng.choice(t.words.issues)
    priority = rng.choice(t.words.priorities)
    user = f'Is there a ticket for "{issue.title}" yet? If not, file one for {project.team}, {priority}.'
    lines = [Line(USER, user)]
    lines.append(
        Line(AGENT, t.call("ticket_search", f"Searching {project.key} first.", project=project.key, query=issue.title))
    )
    rows = []
    for other in rng.sample([i for i in t.words.issues if i != issue], rng.randint(5, 8)):
        status = rng.choice(("Open", "In Progress", "Done", "Closed", "Won't Fix"))
        rows.append(
            [
                f"{project.key}-{rng.randint(100, 4999)}",
                other.title,
                status,
                t.teammate(),
                t.ahead(s, -200, -2).isoformat(),
            ]
        )
    lines.append(Line(TOOL, t.table(["key", "summary", "status", "assignee", "updated"], rows)))
    args: dict[str, Any] = {
        "project": project.key,
        "summary": issue.title,
        "priority": priority,
        "labels": ["reported-by-agent"],
    }
    lines.append(Line(AGENT, t.call("ticket_create", "Nothing open matches. Filing it.", **args)))
    number, assignee, kt = f"{project.key}-{rng.randint(5000, 9999)}", t.colleague(), t.key()
    created: dict[str, Any] = {
        "key": number,
        "self": f"https://tracker.example.com/rest/api/2/issue/{rng.randint(10000, 99999)}",
    }
    created["fields"] = {"summary": issue.title, "priority": priority, "status": "To Do", "assignee": assignee}
    created["fields"] |= {"reporter": t.email, "created": t.stamp(s, 4), "labels": ["reported-by-agent"]}
    lines.append(Line(TOOL, t.json(created), kt))
    said = t.restate()
    ka = t.key()
    lines += [
        Line(AGENT, f"Filed {number}." if said else f"Filed it; {assignee} is on it.", ka),
        Line(USER, t.thanks()),
    ]
    t.task(
        s,
        f"file a ticket about {issue.paraphrase}",
        lines,
        [(TOOL, f"ticket {number} ({issue.title}) went to {assignee}", kt)],
    )
    f = {"issue": issue.paraphrase}
    t.ask(
        4,
        ("What is the number of the ticket the user filed about {issue}?",),
        number,
        [kt, ka if said else ""],
        fields=f,
    )
    t.ask(2, ("When did the user file the ticket about {issue}?",), locomo_day(t.dates[s].date()), [kt], fields=f)
    if later is None:
        t.ask(4, ("Who was the ticket about {issue} assigned to?",), assignee, [kt, "" if said else ka], fields=f)
        return
    new = t.colleague()
    lines = [Line(USER, f"What's happening with {number}?")]
    lines.append(Line(AGENT, t.call("ticket_get", f"Fetching {number}.", key=number)))
    comments = [
        {
            "author": assignee,
            "created": t.stamp(later, -900),
            "body": f"Reproduced on staging. Handing to {new}, who owns this area.",
        },
        {"author": new, "created": t.stamp(later, -600), "body": "Taking this. Looks related to last week's release."},
    ]
    for _ in range(rng.randint(1, 3)):
        comments.append(
            {"author": t.teammate(), "created": t.stamp(later, -rng.randint(30, 500)), "body": "+1, seeing this too."}
        )
    got: dict[str, Any] = {
        "key": number,
        "fields": {"summary": issue.title, "status": "In Progress", "assignee": new, "priority": priority},
    }
    got["fields"] |= {"updated": t.stamp(later, -20), "comment": {"total": len(comments), "comments": comments}}
    kg = t.key()
    lines.append(Line(TOOL, t.json(got), kg))
    said = t.restate()
    kb = t.key() if said else ""
    lines += [
        Line(AGENT, f"In progress; {new} has it now." if said else "It's in progress and reassigned.", kb),
        Line(USER, t.thanks()),
    ]
    t.task(later, f"check on {number}", lines, [(TOOL, f"{number} is now assigned to {new}", kg)])
    t.ask(4, ("Who is working on the ticket about {issue} now?",), new, [kg, kb], keep=True, fields=f)
    t.ask(
        1,
        ("How did the assignee of the ticket about {issue} change?",),
        f"from {assignee} to {new}",
        [kt, kg],
        keep=True,
        fields=f,
    )
