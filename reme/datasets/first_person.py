"""Questions asked by the user about themselves, as LongMemEval asks them ("When did I travel with Freya?").

The assistant-style synthetic conversations phrase questions about "the user" ("When did the user travel with
Freya?"); real LongMemEval questions are in the first person. The difference matters to a ranking policy: "the
user" in the question makes ``speaker_in_query`` fire on every user turn, a role signal that real LongMemEval
questions never give, so a head trained on third-person questions learns to lean on it and, on real questions,
falls back on whatever else it learned (turn length). ``first_person`` rewrites a question's references to the user
(subject, object, possessive and the pronouns they/them/their) into I/me/my.
"""

from __future__ import annotations

import re

__all__ = ["first_person"]

_OBJECT_VERBS = "to|for|with|about|from|of|at|by|on|take|give|gave|tell|told|remind|help|send|sent|ask|asked"

_RULES: tuple[tuple[str, str], ...] = (
    (r"\bthe user's\b", "my"),
    (r"\b(does) the user\b", "do I"),
    (r"\b(is) the user\b", "am I"),
    (r"\b(has) the user\b", "have I"),
    (rf"\b({_OBJECT_VERBS}) the user\b", r"\1 me"),
    (r"\bthe user\b", "I"),
    (r"\bthey're\b", "I'm"),
    (r"\bthey've\b", "I've"),
    (r"\bthey'd\b", "I'd"),
    (r"\bthey are\b", "I am"),
    (r"\bthey were\b", "I was"),
    (r"\bare they\b", "am I"),
    (r"\bwere they\b", "was I"),
    (r"\bthey\b", "I"),
    (r"\bthemselves\b", "myself"),
    (r"\bthem\b", "me"),
    (r"\btheirs\b", "mine"),
    (r"\btheir\b", "my"),
)


def _keep_case(pattern: str, replacement: str, text: str) -> str:
    """``re.sub`` of ``pattern`` (case-insensitive), capitalising the replacement where the match was capitalised;
    a replacement starting with ``I`` stays as it is."""

    def sub(match: re.Match[str]) -> str:
        out = match.expand(replacement)
        if match.group(0)[:1].isupper():
            out = out[:1].upper() + out[1:]
        elif match.lastindex and match.group(1)[:1].islower() and out[:1].isupper() and not out.startswith("I"):
            out = out[:1].lower() + out[1:]
        return out

    return re.sub(pattern, sub, text, flags=re.IGNORECASE)


def first_person(question: str) -> str:
    """``question`` with the user as "I": "What present did the user receive from their sibling?" -> "What present
    did I receive from my sibling?"."""
    for pattern, replacement in _RULES:
        question = _keep_case(pattern, replacement, question)
    return question
