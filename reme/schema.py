"""Records shared by every layer: memories, dataset episodes, search results.

Nothing here imports torch, faiss or the store; these are plain pydantic v2 models.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reme.errors import BadInputError

DEFAULT_TARGET = "default"
"""The target of memories added without one."""

MAX_CONTENT_CHARS = 1_000_000
"""Largest memory text accepted (characters). Longer texts belong in a file, chunked."""

_TARGET_RE = re.compile(r"^(default|(user|agent|task|tool|file):[^\x00-\x1f]{1,256})$")


class MemoryType(StrEnum):
    """ReMe 0.3.x memory types, plus ``chunk`` for Markdown file chunks (MEMORY.md, memory/*.md)."""

    identity = "identity"
    personal = "personal"
    procedural = "procedural"
    tool = "tool"
    summary = "summary"
    history = "history"
    chunk = "chunk"


_CLOCK: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current time, timezone-aware: the wall clock, or the clock installed by ``use_clock``."""
    if _CLOCK is None:
        return datetime.now(UTC)
    moment = _CLOCK()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc_now() -> str:
    """Current UTC time (``now()``) as ISO 8601 with seconds, the format every record uses."""
    return now().astimezone(UTC).isoformat(timespec="seconds")


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Read the time from ``clock`` instead of the wall clock, in this process, until the block ends: every record's
    ``time`` (decisions, rewards, memories) and the age of a memory at search time. For simulations that replay days
    in minutes (``benchmarks/simulate_use.py``): the credit rules charge storage per memory-day of these times.
    Process-wide, not per thread; blocks do not nest."""
    global _CLOCK
    if _CLOCK is not None:
        raise RuntimeError("use_clock: a clock is already installed")
    _CLOCK = clock
    try:
        yield
    finally:
        _CLOCK = None


def normalize_target(target: str | None) -> str:
    """Validate a memory target: ``default``, ``user:NAME``, ``agent:NAME``, ``task:NAME``, ``tool:NAME`` or
    ``file:NAME``. Sessions are not targets: a memory's ``session_id`` metadata, searched with
    ``filters={"session_id": ...}`` (one session) or without (all of the target's sessions).

    >>> normalize_target("user:alice")
    'user:alice'
    """
    if target is None or target == "":
        return DEFAULT_TARGET
    if not isinstance(target, str) or not _TARGET_RE.match(target):
        raise BadInputError(
            f"invalid target {target!r}: use 'default', 'user:NAME', 'agent:NAME', 'task:NAME', 'tool:NAME' or "
            "'file:NAME'"
        )
    return target


def check_text(text: Any, what: str = "text") -> str:
    """Reject what cannot be a memory text: non-strings, empty or blank, oversized, lone surrogates, NUL."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise BadInputError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise BadInputError(f"{what} is empty")
    if len(text) > MAX_CONTENT_CHARS:
        raise BadInputError(f"{what} is too long: {len(text):,} characters (limit {MAX_CONTENT_CHARS:,})")
    if "\x00" in text:
        raise BadInputError(f"{what} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInputError(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    return text


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in metadata and request bodies (Python's JSON code overflows its
stack near 1,000 levels)."""


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a JSON-like value cannot be stored (nested deeper than ``max_depth``, a lone surrogate in a string), or
    ``None``. Iterative, so a deep value cannot overflow the stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "holds a lone surrogate (text that is not valid Unicode)"
    return None


def make_memory_id(content: str, target: str, key: str = "") -> str:
    """Content id unique per target: HMAC-SHA256 of ``target + NUL + content`` under the workspace's id key
    (16 hex digits), so that re-adding a text to a target finds the same memory, while an id cannot be computed
    from a guessed text by anyone who lacks the key. An empty ``key`` (workspaces created before keyed ids, and
    offline datasets) gives the plain sha256(target + NUL + content)[:16].

    ReMe used sha256(content)[:16], which makes the same sentence of two users one memory.
    """
    message = f"{target}\x00{content}".encode()
    if not key:
        return hashlib.sha256(message).hexdigest()[:16]
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:16]


class MemoryNode(BaseModel):
    """One long-term memory; the fields of ReMe 0.3.x ``MemoryNode`` (without its vector)."""

    model_config = ConfigDict(use_enum_values=True)

    memory_id: str = ""
    memory_type: MemoryType = MemoryType.personal
    memory_target: str = DEFAULT_TARGET
    when_to_use: str = ""
    """Text embedded instead of ``content`` when set (ReMe's rule)."""
    content: str
    message_time: str = ""
    ref_memory_id: str = ""
    author: str = ""
    score: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)
    time_created: str = Field(default_factory=utc_now)
    time_modified: str = Field(default_factory=utc_now)

    @field_validator("memory_target")
    @classmethod
    def _target(cls, value: str) -> str:
        return normalize_target(value)

    @property
    def index_text(self) -> str:
        """The text that is embedded and keyword-indexed."""
        return self.when_to_use or self.content


class SearchHit(BaseModel):
    """One ranked search result."""

    memory: MemoryNode
    score: float
    """ReMe's fused relevance ``0.7 * vector + 0.3 * keyword`` (``retrieval.vector_weight``), at most 1 (below 0
    only for a negative cosine), whatever policy ranked the hits: the one scale that ``min_score`` thresholds, so a
    host's threshold keeps its meaning when a learned ranker is activated. The order is ``rank``'s: under a learned
    ranker ``score`` need not fall with it."""
    policy_score: float | None = None
    """The ranking policy's own score for this memory, which ordered the hits (the heuristic's is ``score``; a learned
    head's is an unbounded logit, comparable only within one search)."""
    vector_score: float | None = None
    keyword_score: float | None = None
    rank: int
    decision_id: str | None = None
    """The ranking decision that produced this result (for ``feedback``)."""


# ---------------------------------------------------------------------------------------------------------
# Dataset episodes: every loader (LoCoMo, LongMemEval, synthetic) produces these.


class Turn(BaseModel):
    """One message of a conversation."""

    turn_id: str
    """Unique within the episode. LoCoMo: the ``dia_id`` (``D3:7``); LongMemEval: ``{session_id}:{index}``."""
    session_id: str
    session_index: int
    """0-based position of the session in the episode."""
    turn_index: int
    """0-based position of the turn in its session."""
    speaker: str
    text: str
    date: str = ""
    """The session's date as the dataset writes it (``1:56 pm on 8 May, 2023``)."""
    image_caption: str = ""
    has_answer: bool = False
    """LongMemEval only: the dataset marks the turns that hold the answer."""

    def render(self, text_format: str = "dated") -> str:
        """The indexed text: ``plain`` is ``"{speaker}: {text}"`` plus `` [shares {caption}]``; ``dated``
        prefixes ``"({date}) "`` when the session has a date."""
        if text_format not in ("dated", "plain"):
            raise BadInputError(f"unknown text format {text_format!r}: use 'dated' or 'plain'")
        body = f"{self.speaker}: {self.text}"
        if self.image_caption:
            body += f" [shares {self.image_caption}]"
        if text_format == "plain" or not self.date:
            return body
        return f"({self.date}) {body}"


class Question(BaseModel):
    """A question asked after the conversation, with the turns that answer it."""

    question_id: str
    question: str
    answer: str = ""
    category: str = ""
    """LoCoMo: ``"1"``..``"5"``; LongMemEval: its ``question_type``; synthetic: LoCoMo's numbering."""
    evidence: list[str] = Field(default_factory=list)
    """Valid turn ids of the episode (malformed or unknown ids are dropped by the loader and reported)."""
    answer_session_ids: list[str] = Field(default_factory=list)
    question_date: str = ""
    adversarial: bool = False


class Episode(BaseModel):
    """One conversation (LoCoMo, synthetic) or one question's haystack (LongMemEval)."""

    episode_id: str
    format: str
    """``locomo`` or ``longmemeval`` (the synthetic generator writes LoCoMo)."""
    speakers: list[str] = Field(default_factory=list)
    turns: list[Turn]
    questions: list[Question] = Field(default_factory=list)
    session_dates: dict[str, str] = Field(default_factory=dict)
    observations: dict[str, list[str]] = Field(default_factory=dict)
    """Facts per source turn id (LoCoMo ``observation``), for the write and compaction issues."""
    session_summaries: dict[str, str] = Field(default_factory=dict)


class DatasetReport(BaseModel):
    """What a loader skipped or repaired; printed by the CLI, never a crash."""

    path: str
    format: str
    episodes: int = 0
    questions: int = 0
    warnings: list[str] = Field(default_factory=list)
