"""The features of a write decision: ``WRITE_FEATURES`` (the columns, documented one by one) and
``write_features`` (the float32 vector of one candidate memory), with the text patterns they count (numbers,
entities, dates, questions, first person) and the thresholds they use (``DUPLICATE_COSINE``).

What a candidate's stream contributes (its percentiles and the budget rate) is computed by
``reme.policy.write.WriteStream`` and passed in; this module reads only the text and the numbers it is given.
"""

from __future__ import annotations

import math
import re

import numpy as np

from reme.errors import BadInputError

__all__ = [
    "DUPLICATE_COSINE",
    "N_WRITE_FEATURES",
    "WRITE_COLUMN",
    "WRITE_FEATURES",
    "finite_number",
    "write_features",
]

DUPLICATE_COSINE = 0.999
"""Nearest cosine at or above which a candidate counts as an exact duplicate (the ``exact_duplicate`` column)."""

WRITE_FEATURES: tuple[str, ...] = (
    "novelty",
    "nearest_cosine",
    "exact_duplicate",
    "log_length",
    "token_overlap",
    "log_numbers",
    "log_entities",
    "has_date",
    "is_question",
    "first_person",
    "has_speaker",
    "writer_signal",
    "has_writer_signal",
    "budget_left",
    "length_percentile",
    "novelty_percentile",
    "budget_rate",
    "from_assistant",
)
"""Columns of a write feature vector (see ``write_features``):

- ``novelty``: 1 - nearest cosine (in [0, 2]); 1 when the target holds no memory.
- ``nearest_cosine``: cosine similarity with the most similar memory of the target, clipped to [-1, 1]; 0 if none.
- ``exact_duplicate``: 1 when the nearest cosine is >= ``DUPLICATE_COSINE`` or the texts are identical (after
  collapsing whitespace), else 0.
- ``log_length``: log(1 + number of characters).
- ``token_overlap``: Jaccard similarity of the sets of lower-cased words of the text and of the nearest memory
  (0 when there is none).
- ``log_numbers``: log(1 + count of numbers: digit runs, joined by ``. , : / -``, so ``3.5``, ``10:30`` and
  ``2023-05-08`` count once each).
- ``log_entities``: log(1 + number of capitalised words that do not start a sentence, ``I`` excluded).
- ``has_date``: 1 when a date-like pattern occurs (``2023-05-08``, ``8/5/2023``, a month or weekday name, a year
  19xx / 20xx), else 0.
- ``is_question``: 1 when a question mark ends a sentence or the text, else 0.
- ``first_person``: 1 when the text says ``I``, ``me``, ``my``, ``mine`` or ``myself``, else 0.
- ``has_speaker``: 1 when a speaker was given, else 0.
- ``writer_signal``: the writer's own store score in [0, 1] (e.g. an LLM's), 0.5 when absent.
- ``has_writer_signal``: 1 when a writer signal was given, else 0.
- ``budget_left``: fraction of the storage budget left, in [0, 1]; 1 when unlimited.
- ``length_percentile``: share of the candidates seen so far in this stream (this one included) whose length is
  at most this one's, in [0, 1]; 0.5 outside a stream (see ``WriteStream``).
- ``novelty_percentile``: the same for ``novelty``; 0.5 outside a stream.
- ``budget_rate``: stores still allowed over candidates still to come (this one included), clipped to [0, 1]: the
  share of the rest of the stream that may be stored; 1 when unlimited or the stream length is unknown.
- ``from_assistant``: 1 when the speaker is an agent rather than a person (``assistant``, ``ai``, ``bot``,
  ``model``, ``system`` or ``tool``, any case), else 0. In assistant logs the facts worth remembering are the
  user's; an agent's long replies would otherwise win every length rule.
"""

N_WRITE_FEATURES = len(WRITE_FEATURES)
"""The width of a write feature vector."""
WRITE_COLUMN: dict[str, int] = {name: i for i, name in enumerate(WRITE_FEATURES)}
"""Column index of each of ``WRITE_FEATURES``."""

_WORD_RE = re.compile(r"\w+")
_NUMBER_RE = re.compile(r"\d+(?:[.,:/-]\d+)*")
_SENTENCE_SPLIT_RE = re.compile(r"[.!?]+(?:\s+|$)|\n+")
_ALPHA_WORD_RE = re.compile(r"[^\W\d_][\w'’-]*")
_QUESTION_RE = re.compile(r"\?(?=[\s\"'’”)\]]|$)")
_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_DATE_RE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b"  # ISO 2023-05-08
    r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"  # 8/5/2023, 08.05.23
    rf"|\b(?:{_MONTHS})\.?\b"  # May, Sept.
    rf"|\b(?:{_WEEKDAYS})\b"
    r"|\b(?:19|20)\d{2}\b"  # a year
)
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself"})
_AGENT_SPEAKERS = frozenset({"assistant", "ai", "bot", "model", "system", "tool"})


def finite_number(value: float, what: str) -> float:
    """``value`` as a finite float; ``BadInputError`` naming ``what`` otherwise."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise BadInputError(f"{what} must be finite, got {value!r}")
    return out


def _words(text: str) -> set[str]:
    return set(_WORD_RE.findall(text.lower()))


def _count_entities(text: str) -> int:
    count = 0
    for sentence in _SENTENCE_SPLIT_RE.split(text):
        words = _ALPHA_WORD_RE.findall(sentence)
        count += sum(1 for w in words[1:] if w[0].isupper() and w != "I" and not w.startswith(("I'", "I’")))
    return count


def write_features(
    text: str,
    nearest_similarity: float | None,
    nearest_text: str | None,
    speaker: str = "",
    writer_signal: float | None = None,
    budget_left: float | None = None,
    length_percentile: float | None = None,
    novelty_percentile: float | None = None,
    budget_rate: float | None = None,
) -> np.ndarray:
    """The float32 feature vector (columns ``WRITE_FEATURES``) of a candidate memory ``text``.

    ``nearest_similarity`` / ``nearest_text``: cosine and text of the most similar existing memory of the same
    target, ``None`` when the target is empty. ``writer_signal``: the writer's own store score in [0, 1] (clipped).
    ``budget_left``: fraction of a storage budget left (clipped to [0, 1]), ``None`` when unlimited. The stream
    columns (``length_percentile``, ``novelty_percentile``, ``budget_rate``) come from a ``WriteStream``; ``None``
    gives their neutral values (0.5, 0.5, 1). Non-finite numbers raise ``BadInputError``; every feature is finite.
    """
    if not isinstance(text, str):
        raise BadInputError(f"text must be a string, got {type(text).__name__}")
    if nearest_text is not None and not isinstance(nearest_text, str):
        raise BadInputError(f"nearest_text must be a string or None, got {type(nearest_text).__name__}")
    cosine = 0.0 if nearest_similarity is None else min(1.0, max(-1.0, finite_number(nearest_similarity, "similarity")))
    novelty = 1.0 if nearest_similarity is None else 1.0 - cosine
    identical = nearest_text is not None and " ".join(text.split()) == " ".join(nearest_text.split())
    duplicate = (nearest_similarity is not None and cosine >= DUPLICATE_COSINE) or identical
    overlap = 0.0
    if nearest_text is not None:
        a, b = _words(text), _words(nearest_text)
        union = a | b
        overlap = len(a & b) / len(union) if union else 0.0
    words = _words(text)
    signal = 0.5 if writer_signal is None else min(1.0, max(0.0, finite_number(writer_signal, "writer_signal")))
    budget = 1.0 if budget_left is None else min(1.0, max(0.0, finite_number(budget_left, "budget_left")))

    def unit(value: float | None, default: float, what: str) -> float:
        return default if value is None else min(1.0, max(0.0, finite_number(value, what)))

    values = {
        "novelty": novelty,
        "nearest_cosine": cosine,
        "exact_duplicate": float(duplicate),
        "log_length": math.log1p(len(text)),
        "token_overlap": overlap,
        "log_numbers": math.log1p(len(_NUMBER_RE.findall(text))),
        "log_entities": math.log1p(_count_entities(text)),
        "has_date": float(_DATE_RE.search(text) is not None),
        "is_question": float(_QUESTION_RE.search(text) is not None),
        "first_person": float(not _FIRST_PERSON.isdisjoint(words)),
        "has_speaker": float(bool(speaker and speaker.strip())),
        "writer_signal": signal,
        "has_writer_signal": float(writer_signal is not None),
        "budget_left": budget,
        "length_percentile": unit(length_percentile, 0.5, "length_percentile"),
        "novelty_percentile": unit(novelty_percentile, 0.5, "novelty_percentile"),
        "budget_rate": unit(budget_rate, 1.0, "budget_rate"),
        "from_assistant": float(speaker.strip().lower() in _AGENT_SPEAKERS) if isinstance(speaker, str) else 0.0,
    }
    return np.array([values[name] for name in WRITE_FEATURES], dtype=np.float32)
