"""The ``write`` decision: per candidate memory, ``store`` it, ``discard`` it, or ``update`` (supersede) the
nearest existing near-duplicate of the same target (Memory-R1's ADD / NOOP / UPDATE). Deletions stay explicit
calls of the library; they are never an action of this policy.

The state of one decision is a ``WriteState``: a float32 feature vector (columns ``WRITE_FEATURES``, built by
``write_features``), the id of the most similar existing memory of the same target (if any), the actions that
are allowed (``update`` only when a nearest memory exists) and the fraction of a storage budget left.

Two policies implement the protocol of ``reme.policy.decision``:

- ``HeuristicWritePolicy`` (``heuristic-reme-add``): ReMe 0.3.1.x's vector ``add_memory`` rule. ReMe always
  stores and deduplicates by content id, so the same text of the same target replaces the existing record:
  greedy, it stores everything except an exact duplicate, which updates that duplicate. Its logits are
  +-1/T, so sampling explores.
- ``MLPWritePolicy`` (``mlp-write``): logits = MLP(features) (F -> 32 -> 3, tanh), disallowed actions masked to
  -inf before the log-softmax; float64 throughout, saved and loaded with ``reme.policy.checkpoint``.

Both score through one path (``action_logprobs``) used by ``decide`` and ``logprob``, so a recorded
log-probability and a re-score from the record (``state_from_record``) agree exactly.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.checkpoint import checkpoint_version, load_checkpoint, params_version, save_checkpoint
from reme.policy.decision import Decision, DecisionKind, Matrix, Mode, log_softmax

if TYPE_CHECKING:
    import torch

__all__ = [
    "DUPLICATE_COSINE",
    "WRITE_ACTIONS",
    "WRITE_FEATURES",
    "HeuristicWritePolicy",
    "MLPWritePolicy",
    "NoveltyLengthWritePolicy",
    "PacedMLPWritePolicy",
    "RandomWritePolicy",
    "WritePolicyBase",
    "WriteState",
    "WriteStream",
    "default_allowed",
    "make_write_state",
    "write_features",
]

WRITE_ACTIONS: tuple[str, ...] = ("store", "discard", "update")
"""The actions, in the order of the logits (and of greedy tie-breaking)."""

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

N_FEATURES = len(WRITE_FEATURES)
_COL = {name: i for i, name in enumerate(WRITE_FEATURES)}

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


def _finite(value: float, what: str) -> float:
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
    cosine = 0.0 if nearest_similarity is None else min(1.0, max(-1.0, _finite(nearest_similarity, "similarity")))
    novelty = 1.0 if nearest_similarity is None else 1.0 - cosine
    identical = nearest_text is not None and " ".join(text.split()) == " ".join(nearest_text.split())
    duplicate = (nearest_similarity is not None and cosine >= DUPLICATE_COSINE) or identical
    overlap = 0.0
    if nearest_text is not None:
        a, b = _words(text), _words(nearest_text)
        union = a | b
        overlap = len(a & b) / len(union) if union else 0.0
    words = _words(text)
    signal = 0.5 if writer_signal is None else min(1.0, max(0.0, _finite(writer_signal, "writer_signal")))
    budget = 1.0 if budget_left is None else min(1.0, max(0.0, _finite(budget_left, "budget_left")))

    def unit(value: float | None, default: float, what: str) -> float:
        return default if value is None else min(1.0, max(0.0, _finite(value, what)))

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


def default_allowed(nearest_memory_id: str | None, budget_left: float | None = None) -> tuple[str, ...]:
    """``store`` (unless the budget is exhausted, ``budget_left <= 0``), ``discard``, and ``update`` when a
    nearest memory exists (an update replaces a record in place, so it needs no budget)."""
    allowed = [] if budget_left is not None and budget_left <= 0 else ["store"]
    allowed.append("discard")
    if nearest_memory_id is not None:
        allowed.append("update")
    return tuple(allowed)


@dataclass(eq=False)
class WriteState:
    """What a write policy sees for one candidate memory."""

    features: np.ndarray
    """float32 vector, columns ``WRITE_FEATURES``."""
    nearest_memory_id: str | None
    """The most similar existing memory of the same target, if any (the one an ``update`` supersedes)."""
    allowed: tuple[str, ...]
    """Allowed actions (a non-empty subset of ``WRITE_ACTIONS``; ``update`` only with a nearest memory)."""
    budget_left: float | None = None
    """Fraction of a storage budget left, ``None`` when unlimited."""
    reference: np.ndarray | None = None
    """float32 ``(m, F)`` features of the stream's most recent earlier candidates (``WriteStream.reference``): what
    a paced policy ranks this candidate against. ``None`` outside a stream."""

    def __post_init__(self) -> None:
        features = np.asarray(self.features)
        if features.shape != (N_FEATURES,):
            raise BadInputError(f"write features must have shape ({N_FEATURES},), got {features.shape}")
        features = np.ascontiguousarray(features, dtype=np.float32)
        if not np.all(np.isfinite(features)):
            raise BadInputError("write features must be finite")
        self.features = features
        if isinstance(self.allowed, str):
            raise BadInputError("allowed must be a sequence of actions, not a string")
        allowed = tuple(self.allowed)
        if not allowed:
            raise BadInputError("a write decision needs at least one allowed action")
        unknown = [a for a in allowed if a not in WRITE_ACTIONS]
        if unknown:
            raise BadInputError(f"unknown write action(s) {unknown!r}: use {', '.join(WRITE_ACTIONS)}")
        if len(set(allowed)) != len(allowed):
            raise BadInputError(f"allowed actions repeat: {allowed!r}")
        if self.nearest_memory_id is not None and not isinstance(self.nearest_memory_id, str):
            raise BadInputError("nearest_memory_id must be a string or None")
        if "update" in allowed and not self.nearest_memory_id:
            raise BadInputError("'update' is allowed only when a nearest memory exists")
        self.allowed = allowed
        if self.budget_left is not None:
            self.budget_left = _finite(self.budget_left, "budget_left")
        if self.reference is not None:
            ref = np.ascontiguousarray(np.asarray(self.reference), dtype=np.float32).reshape(-1, N_FEATURES)
            if not np.all(np.isfinite(ref)):
                raise BadInputError("reference features must be finite")
            self.reference = ref

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WriteState):
            return NotImplemented
        return (
            self.features.tobytes() == other.features.tobytes()
            and self.nearest_memory_id == other.nearest_memory_id
            and self.allowed == other.allowed
            and self.budget_left == other.budget_left
            and (self.reference is None) == (other.reference is None)
            and (
                self.reference is None
                or other.reference is None
                or self.reference.tobytes() == other.reference.tobytes()
            )
        )

    def mask(self) -> np.ndarray:
        """Boolean vector over ``WRITE_ACTIONS``: which actions are allowed."""
        return np.array([a in self.allowed for a in WRITE_ACTIONS], dtype=bool)

    def to_inputs(self) -> dict[str, Any]:
        """JSON-able inputs for a ``Decision`` record (the features stored exactly)."""
        return {
            "features": Matrix.of(self.features, WRITE_FEATURES).model_dump(),
            "nearest_memory_id": self.nearest_memory_id,
            "allowed": list(self.allowed),
            "budget_left": self.budget_left,
            "reference": None if self.reference is None else Matrix.of(self.reference, WRITE_FEATURES).model_dump(),
        }

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> WriteState:
        """Rebuild a state from ``to_inputs()`` (as recorded, possibly after a JSON round trip)."""
        if not isinstance(inputs, Mapping) or "features" not in inputs or "allowed" not in inputs:
            raise BadInputError("write inputs need 'features' and 'allowed'")
        try:
            matrix = Matrix.model_validate(inputs["features"])
            features = matrix.array()
        except (ValueError, TypeError) as exc:
            raise BadInputError(f"unreadable write features: {exc}") from None
        if matrix.names and tuple(matrix.names) != WRITE_FEATURES:
            raise BadInputError(
                f"write features were recorded with columns {matrix.names!r}, this policy expects {WRITE_FEATURES!r}"
            )
        budget = inputs.get("budget_left")
        reference = None
        if inputs.get("reference") is not None:
            try:
                reference = Matrix.model_validate(inputs["reference"]).array()
            except (ValueError, TypeError) as exc:
                raise BadInputError(f"unreadable write reference features: {exc}") from None
        return cls(
            features=features,
            nearest_memory_id=inputs.get("nearest_memory_id"),
            allowed=tuple(inputs["allowed"]),
            budget_left=None if budget is None else float(budget),
            reference=reference,
        )


def make_write_state(
    text: str,
    nearest_memory_id: str | None = None,
    nearest_similarity: float | None = None,
    nearest_text: str | None = None,
    speaker: str = "",
    writer_signal: float | None = None,
    budget_left: float | None = None,
    allowed: Sequence[str] | None = None,
    stream: WriteStream | None = None,
) -> WriteState:
    """A ``WriteState`` for a candidate ``text`` (``allowed`` defaults to ``default_allowed``).

    With a ``stream``, the candidate is observed by it (its length and novelty enter the running percentiles) and
    the budget columns come from it (``budget_left`` is then ignored)."""
    length_pct = novelty_pct = rate = None
    if stream is not None:
        novelty = 1.0 if nearest_similarity is None else 1.0 - min(1.0, max(-1.0, float(nearest_similarity)))
        length_pct, novelty_pct = stream.observe(len(text), novelty)
        budget_left, rate = stream.budget_left(), stream.budget_rate()
    features = write_features(
        text, nearest_similarity, nearest_text, speaker, writer_signal, budget_left, length_pct, novelty_pct, rate
    )
    reference = None
    if stream is not None:
        reference = stream.reference()
        stream.remember(features)
    return WriteState(
        features=features,
        nearest_memory_id=nearest_memory_id,
        allowed=tuple(allowed) if allowed is not None else default_allowed(nearest_memory_id, budget_left),
        budget_left=budget_left,
        reference=reference,
    )


class WriteStream:
    """Running statistics of one stream of candidates (a conversation, a target's writes) for the stream columns.

    ``budget``: how many candidates may be stored (``None``: unlimited); ``expected``: how many candidates the stream
    holds (``None``: unknown). ``observe`` is called once per candidate, before its decision; ``record`` after it.
    """

    REFERENCE_SIZE = 64
    """Earlier candidates a paced policy ranks a new one against (the most recent ones)."""

    def __init__(self, budget: int | None = None, expected: int | None = None) -> None:
        for name, value in (("budget", budget), ("expected", expected)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise BadInputError(f"{name} must be an integer >= 0 or None, got {value!r}")
        self.budget = budget
        self.expected = expected
        self.seen = 0
        """Candidates observed so far (the current one included once observed)."""
        self.stored = 0
        self._lengths: list[float] = []
        self._novelties: list[float] = []
        self._recent: list[np.ndarray] = []

    def copy(self) -> WriteStream:
        other = WriteStream(self.budget, self.expected)
        other.seen, other.stored = self.seen, self.stored
        other._lengths, other._novelties = list(self._lengths), list(self._novelties)
        other._recent = list(self._recent)
        return other

    def reference(self) -> np.ndarray:
        """``(m, F)`` features of the most recent earlier candidates (m <= ``REFERENCE_SIZE``)."""
        if not self._recent:
            return np.zeros((0, N_FEATURES), dtype=np.float32)
        return np.stack(self._recent)

    def remember(self, features: np.ndarray) -> None:
        self._recent.append(np.asarray(features, dtype=np.float32))
        if len(self._recent) > self.REFERENCE_SIZE:
            self._recent.pop(0)

    def observe(self, length: float, novelty: float) -> tuple[float, float]:
        """Add a candidate; returns its length and novelty percentiles among the candidates seen so far."""
        bisect.insort(self._lengths, float(length))
        bisect.insort(self._novelties, float(novelty))
        self.seen += 1
        return (
            bisect.bisect_right(self._lengths, float(length)) / self.seen,
            bisect.bisect_right(self._novelties, float(novelty)) / self.seen,
        )

    def budget_left(self) -> float | None:
        """Fraction of the budget still unused (``None`` when unlimited; 0 for a zero budget)."""
        if self.budget is None:
            return None
        return (self.budget - self.stored) / self.budget if self.budget > 0 else 0.0

    def budget_rate(self) -> float | None:
        """Stores left over candidates left (the observed current one included), in [0, 1]; ``None`` when the
        budget is unlimited or the stream length unknown."""
        if self.budget is None or self.expected is None:
            return None
        remaining = max(self.expected - self.seen + 1, 1)
        return min(1.0, max(0.0, (self.budget - self.stored) / remaining))

    def record(self, action: str) -> None:
        """Account for the decision just taken (only ``store`` uses budget; an update replaces in place)."""
        if action == "store":
            self.stored += 1


def _check_mode(mode: str) -> None:
    if mode not in ("greedy", "sample"):
        raise BadInputError(f"unknown mode {mode!r}: use 'greedy' or 'sample'")


def _choose(logp: np.ndarray, mode: Mode, rng: np.random.Generator | None) -> int:
    """Index into ``WRITE_ACTIONS``: the argmax (ties in action order) or a draw by inverse CDF."""
    if mode == "greedy":
        return int(np.argmax(logp))
    generator = rng if rng is not None else np.random.default_rng()
    probs = np.exp(logp)
    u = generator.random() * float(probs.sum())
    cumulative = 0.0
    last = 0
    for i, p in enumerate(probs):
        if p <= 0.0:
            continue
        cumulative += float(p)
        last = i
        if u < cumulative:
            return i
    return last


def _action_logprob(logp: np.ndarray, state: WriteState, action: Any) -> float:
    if not isinstance(action, str) or action not in WRITE_ACTIONS:
        raise BadInputError(f"unknown write action {action!r}: use {', '.join(WRITE_ACTIONS)}")
    if action not in state.allowed:
        raise BadInputError(f"write action {action!r} is not allowed here (allowed: {', '.join(state.allowed)})")
    value = float(logp[WRITE_ACTIONS.index(action)])
    if not math.isfinite(value):  # cannot happen for an allowed action; guard the protocol anyway
        raise BadInputError(f"log-probability of {action!r} is not finite")
    return min(value, 0.0)


def _state_from_record(decision: Decision) -> WriteState:
    if decision.kind != "write":
        raise BadInputError(f"not a write decision: kind {decision.kind!r}")
    return WriteState.from_inputs(decision.inputs)


def _decision(
    policy: WritePolicyBase,
    state: WriteState,
    logp: np.ndarray,
    mode: Mode,
    rng: np.random.Generator | None,
) -> Decision:
    action = WRITE_ACTIONS[_choose(logp, mode, rng)]
    return Decision(
        kind="write",
        policy=policy.name,
        version=policy.version,
        mode=mode,
        action=action,
        logprob=_action_logprob(logp, state, action),
        inputs=state.to_inputs(),
        memory_ids=[state.nearest_memory_id] if action == "update" and state.nearest_memory_id else [],
        extra={} if hasattr(policy, "save") else {"params": dict(policy.params)},
    )


class WritePolicyBase:
    """What every write policy shares: ``decide``, ``logprob`` and ``state_from_record`` all go through the
    subclass's ``action_logprobs`` (the one scoring path), so a recorded log-probability and a re-score from the
    record agree exactly."""

    kind: DecisionKind = "write"
    name: str = ""

    @property
    def version(self) -> str:
        raise NotImplementedError

    @property
    def params(self) -> dict[str, Any]:
        """Constructor arguments of a heuristic, recorded so the audit can rebuild it (none by default)."""
        return {}

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """log pi(a | state) for each of ``WRITE_ACTIONS`` (-inf for disallowed ones), float64."""
        raise NotImplementedError

    def decide(self, state: WriteState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        _check_mode(mode)
        return _decision(self, state, self.action_logprobs(state), mode, rng)

    def logprob(self, state: WriteState, action: Any) -> float:
        return _action_logprob(self.action_logprobs(state), state, action)

    def state_from_record(self, decision: Decision) -> WriteState:
        return _state_from_record(decision)


EXPLICIT_WRITE_TEMPERATURE = 1e-3
"""Temperature of the write policy of explicit adds (``add_memory``, imports, the chunks of a note). ReMe's add rule
with logits of +-1000: store (or update the same id) has log-probability exactly 0 and discard probability
exp(-2000) == 0, so even ``mode: sample`` never drops an explicit add, and the logged decision still re-scores
exactly."""


def explicit_write_policy() -> HeuristicWritePolicy:
    """The write policy of explicit adds: ReMe's ``add_memory`` rule that never discards (see
    ``EXPLICIT_WRITE_TEMPERATURE``). Its decisions are logged and re-scorable like any heuristic's."""
    return HeuristicWritePolicy(temperature=EXPLICIT_WRITE_TEMPERATURE)


class HeuristicWritePolicy(WritePolicyBase):
    """ReMe 0.3.1.x's ``add_memory`` rule, made stochastic.

    A candidate is a duplicate when ``update`` is allowed (a nearest memory exists) and its ``exact_duplicate``
    flag is set or its nearest cosine is >= ``duplicate_threshold`` (a threshold above ``DUPLICATE_COSINE``
    cannot undo the flag). Logits over the allowed actions: for a duplicate, update +1/T and the others -1/T;
    otherwise store +1/T and the others -1/T. Greedy: store, or update an exact duplicate (ReMe's same content id
    replaced the record); ties (only when ``store`` is not allowed) go to the first action in ``WRITE_ACTIONS``.
    """

    name: str = "heuristic-reme-add"

    def __init__(self, temperature: float = 0.1, duplicate_threshold: float = DUPLICATE_COSINE) -> None:
        t = _finite(temperature, "temperature")
        if t <= 0 or not math.isfinite(1.0 / t):
            raise BadInputError(f"temperature must be > 0 (and its inverse finite), got {temperature!r}")
        d = _finite(duplicate_threshold, "duplicate_threshold")
        if not -1.0 <= d <= 1.0:
            raise BadInputError(f"duplicate_threshold must be a cosine in [-1, 1], got {duplicate_threshold!r}")
        self.temperature = t
        self.duplicate_threshold = d
        self._version = params_version(
            self.name,
            {"temperature": t, "duplicate_threshold": d, "feature_spec": list(WRITE_FEATURES)},
        )

    @property
    def version(self) -> str:
        return self._version

    @property
    def params(self) -> dict[str, Any]:
        """Constructor arguments, recorded with each decision so the audit can rebuild this policy."""
        return {"temperature": self.temperature, "duplicate_threshold": self.duplicate_threshold}

    def is_duplicate(self, state: WriteState) -> bool:
        """Whether the candidate duplicates its nearest memory (only possible when ``update`` is allowed)."""
        if "update" not in state.allowed:
            return False
        f = state.features
        return bool(f[_COL["exact_duplicate"]] >= 0.5 or f[_COL["nearest_cosine"]] >= self.duplicate_threshold)

    def logits(self, state: WriteState) -> np.ndarray:
        """float64 logits over ``WRITE_ACTIONS``, -inf for disallowed actions."""
        favoured = "update" if self.is_duplicate(state) else "store"
        inv_t = 1.0 / self.temperature
        return np.array(
            [(inv_t if a == favoured else -inv_t) if a in state.allowed else -np.inf for a in WRITE_ACTIONS],
            dtype=np.float64,
        )

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """log pi(a | state) for each of ``WRITE_ACTIONS`` (-inf for disallowed ones); the one scoring path."""
        return log_softmax(self.logits(state))


NOVELTY_LENGTH_DEFAULTS: dict[str, float] = {"novelty_weight": 0.1, "temperature": 0.05}
"""Package defaults of ``NoveltyLengthWritePolicy``, tuned once (see ``docs/policies.md``)."""


class NoveltyLengthWritePolicy(WritePolicyBase):
    """A budget-paced novelty/length rule (``heuristic-novelty-length``): the write heuristic at a storage budget.

    Score ``s = (1 - w) * length_percentile + w * novelty_percentile`` (percentiles among the candidates of the
    stream so far); store when ``s`` clears ``1 - budget_rate``, i.e. when the candidate is in the top share of
    the stream that the remaining budget can still afford. ``logit(store) = (s - (1 - budget_rate)) / T``,
    ``logit(discard) = 0``; an exact duplicate updates its nearest memory (ReMe's rule) with logits +-1/T. Other
    updates get ``-1/T``. The defaults (``NOVELTY_LENGTH_DEFAULTS``) were tuned once on LoCoMo training
    conversations.
    """

    name: str = "heuristic-novelty-length"

    def __init__(
        self,
        novelty_weight: float = NOVELTY_LENGTH_DEFAULTS["novelty_weight"],
        temperature: float = NOVELTY_LENGTH_DEFAULTS["temperature"],
    ) -> None:
        w = _finite(novelty_weight, "novelty_weight")
        t = _finite(temperature, "temperature")
        if not 0.0 <= w <= 1.0:
            raise BadInputError(f"novelty_weight must be in [0, 1], got {novelty_weight!r}")
        if t <= 0 or not math.isfinite(1.0 / t):
            raise BadInputError(f"temperature must be > 0 (and its inverse finite), got {temperature!r}")
        self.novelty_weight = w
        self.temperature = t
        self._version = params_version(self.name, {**self.params, "feature_spec": list(WRITE_FEATURES)})

    @property
    def version(self) -> str:
        return self._version

    @property
    def params(self) -> dict[str, Any]:
        return {"novelty_weight": self.novelty_weight, "temperature": self.temperature}

    def score(self, state: WriteState) -> float:
        f = state.features
        w = self.novelty_weight
        return float((1 - w) * f[_COL["length_percentile"]] + w * f[_COL["novelty_percentile"]])

    def logits(self, state: WriteState) -> np.ndarray:
        f = state.features
        inv_t = 1.0 / self.temperature
        duplicate = "update" in state.allowed and f[_COL["exact_duplicate"]] >= 0.5
        if duplicate:
            values = {"store": -inv_t, "discard": -inv_t, "update": inv_t}
        else:
            z = (self.score(state) - (1.0 - float(f[_COL["budget_rate"]]))) * inv_t
            values = {"store": z, "discard": 0.0, "update": -inv_t}
        return np.array([values[a] if a in state.allowed else -np.inf for a in WRITE_ACTIONS], dtype=np.float64)

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        return log_softmax(self.logits(state))


class RandomWritePolicy(WritePolicyBase):
    """``random-budget``: store with probability ``budget_rate`` (the share of the rest of the stream the budget
    can still afford), else discard; never updates. Meant to be sampled; its greedy action stores when
    ``budget_rate >= 0.5``."""

    name: str = "random-budget"

    def __init__(self) -> None:
        self._version = params_version(self.name, {"feature_spec": list(WRITE_FEATURES)})

    @property
    def version(self) -> str:
        return self._version

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        rate = float(state.features[_COL["budget_rate"]])
        probs = {"store": rate, "discard": 1.0 - rate, "update": 0.0}
        if "store" not in state.allowed:
            probs = {"store": 0.0, "discard": 1.0, "update": 0.0}
        with np.errstate(divide="ignore"):
            return np.log(np.array([probs[a] if a in state.allowed else 0.0 for a in WRITE_ACTIONS]))


class MLPWritePolicy(WritePolicyBase):
    """A learned write policy: logits = MLP(features) (``WRITE_FEATURES`` -> ``hidden`` -> 3, tanh), float64.

    Disallowed actions are masked to -inf before the log-softmax. ``module`` is the ``torch.nn.Module`` a
    trainer optimises; ``logprob_torch`` gives batched, differentiable log-probabilities. ``version`` is the
    checkpoint version hash of the current weights (so it changes when a trainer changes them, and equals the
    version ``save`` writes).
    """

    name: str = "mlp-write"

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        import torch

        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise BadInputError(f"hidden must be a positive integer, got {hidden!r}")
        self.hidden = hidden
        self.training_data_hash = ""
        self.module = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, hidden, dtype=torch.float64),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, len(WRITE_ACTIONS), dtype=torch.float64),
        )
        generator = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for layer in (self.module[0], self.module[2]):
                assert isinstance(layer, torch.nn.Linear)
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
        self._version_key: bytes | None = None
        self._version_value = ""

    # -- versioning and checkpoints -------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "n_features": N_FEATURES,
            "actions": list(WRITE_ACTIONS),
            "activation": "tanh",
            "dtype": "float64",
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.module.state_dict().items()}

    @property
    def version(self) -> str:
        from safetensors.torch import save

        tensors = self._tensors()
        key = b"".join(t.numpy().tobytes() for t in tensors.values()) + self.training_data_hash.encode()
        if key != self._version_key:
            spec = {
                "kind": self.kind,
                "policy": self.name,
                "feature_spec": list(WRITE_FEATURES),
                "config": self.config(),
                "training_data_hash": self.training_data_hash,
            }
            self._version_value = checkpoint_version(spec, save(tensors))
            self._version_key = key
        return self._version_value

    def save(self, directory: str | Path, training_data_hash: str | None = None) -> str:
        """Write a checkpoint directory (kind ``write``, policy ``mlp-write``); returns its version."""
        if training_data_hash is not None:
            self.training_data_hash = str(training_data_hash)
        version = save_checkpoint(
            directory,
            kind=self.kind,
            policy=self.name,
            feature_spec=list(WRITE_FEATURES),
            config=self.config(),
            tensors=self._tensors(),
            training_data_hash=self.training_data_hash,
        )
        if version != self.version:  # the live hash and the written one are the same function of the same bytes
            raise BadInputError(f"checkpoint version {version} differs from the policy's version {self.version}")
        return version

    @classmethod
    def load(cls, directory: str | Path) -> MLPWritePolicy:
        """Load a checkpoint written by ``save``; a corrupt, edited or foreign checkpoint raises ``BadInputError``."""
        import torch

        spec, tensors = load_checkpoint(directory)
        if spec.get("kind") != "write" or spec.get("policy") != cls.name:
            raise BadInputError(
                f"{directory} holds a {spec.get('kind')!r} / {spec.get('policy')!r} policy, not write / {cls.name}"
            )
        if list(spec.get("feature_spec") or []) != list(WRITE_FEATURES):
            raise BadInputError(f"{directory} was trained on features {spec.get('feature_spec')!r}, not this version's")
        config = spec.get("config")
        if not isinstance(config, dict):
            raise BadInputError(f"{directory} has no config")
        hidden = config.get("hidden")
        if not isinstance(hidden, int) or hidden < 1:
            raise BadInputError(f"{directory} has a bad hidden size {hidden!r}")
        policy = cls(hidden=hidden)
        if config != policy.config():
            raise BadInputError(f"{directory} has an unsupported config {config!r}")
        expected = policy.module.state_dict()
        if set(tensors) != set(expected):
            raise BadInputError(f"{directory} holds tensors {sorted(tensors)}, expected {sorted(expected)}")
        for key, tensor in tensors.items():
            if tensor.dtype != torch.float64 or tuple(tensor.shape) != tuple(expected[key].shape):
                raise BadInputError(f"{directory}: tensor {key} is {tensor.dtype} {tuple(tensor.shape)}")
            if not bool(torch.isfinite(tensor).all()):
                raise BadInputError(f"{directory}: tensor {key} is not finite")
        policy.module.load_state_dict(tensors, strict=True)
        policy.training_data_hash = str(spec.get("training_data_hash", ""))
        if policy.version != spec["version"]:
            raise BadInputError(f"{directory}: loaded weights do not reproduce version {spec['version']}")
        return policy

    # -- scoring ---------------------------------------------------------------------------------------------

    def _masked_logprobs(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(n, 3) float64 log-probabilities; -inf where ``mask`` is False. The one scoring path."""
        import torch

        logits = self.module(features)
        return torch.log_softmax(logits.masked_fill(~mask, -math.inf), dim=-1)

    def _batch(self, states: Sequence[WriteState]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        features = torch.from_numpy(np.stack([s.features for s in states]).astype(np.float64))
        mask = torch.from_numpy(np.stack([s.mask() for s in states]))
        return features, mask

    def _numpy_weights(self) -> tuple[np.ndarray, ...]:
        """The weights as float64 arrays, refreshed when a trainer changed them."""
        tensors = self._tensors()
        key = b"".join(t.numpy().tobytes() for t in tensors.values())
        if key != getattr(self, "_np_key", None):
            self._np_weights = tuple(
                tensors[k].numpy().astype(np.float64) for k in ("0.weight", "0.bias", "2.weight", "2.bias")
            )
            self._np_key = key
        return self._np_weights

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """log pi(a | state) for each of ``WRITE_ACTIONS`` (-inf for disallowed ones), float64. The maths of
        ``logprob_torch`` in numpy: one decision through torch costs ten times more on a busy machine."""
        w1, b1, w2, b2 = self._numpy_weights()
        logits = np.tanh(state.features.astype(np.float64) @ w1.T + b1) @ w2.T + b2
        return log_softmax(np.where(state.mask(), logits, -np.inf))

    def logprob_torch(self, states: Sequence[WriteState], actions: Sequence[str]) -> torch.Tensor:
        """Batched, differentiable log pi(action_i | state_i) (float64, shape ``(n,)``) for trainers."""
        import torch

        if len(states) != len(actions):
            raise BadInputError(f"{len(states)} states but {len(actions)} actions")
        if not states:
            return torch.zeros(0, dtype=torch.float64)
        index = []
        for state, action in zip(states, actions):
            if not isinstance(action, str) or action not in WRITE_ACTIONS:
                raise BadInputError(f"unknown write action {action!r}: use {', '.join(WRITE_ACTIONS)}")
            if action not in state.allowed:
                raise BadInputError(f"write action {action!r} is not allowed (allowed: {', '.join(state.allowed)})")
            index.append(WRITE_ACTIONS.index(action))
        logp = self._masked_logprobs(*self._batch(states))
        return logp.gather(1, torch.tensor(index, dtype=torch.long).unsqueeze(1)).squeeze(1)


class PacedMLPWritePolicy(MLPWritePolicy):
    """A learned score, ranked against the stream and paced by the budget (``mlp-write-paced``).

    The MLP (``WRITE_FEATURES`` -> ``hidden`` -> 2, tanh, float64) gives a score ``s`` and an update logit ``u``.
    The candidate's soft percentile among the stream's recent candidates (``state.reference``, itself counted once)
    is ``pct = (1 + sum_j sigmoid(s(x) - s(r_j))) / (1 + m)``; then, as in ``NoveltyLengthWritePolicy``,
    ``logit(store) = (pct - (1 - budget_rate)) / T``, ``logit(discard) = 0``, ``logit(update) = u``. Pacing is
    part of the structure (a candidate must out-rank the share of the stream the budget cannot afford), so
    training shapes *which* candidates are stored, not how many. Everything is a function of the state and the
    weights, so recorded log-probabilities re-score exactly.
    """

    name: str = "mlp-write-paced"
    TEMPERATURE = 0.05

    def __init__(self, hidden: int = 32, seed: int = 0) -> None:
        import torch

        super().__init__(hidden=hidden, seed=seed)
        generator = torch.Generator().manual_seed(int(seed) + 1)
        head = torch.nn.Linear(hidden, 2, dtype=torch.float64)
        with torch.no_grad():
            bound = 1.0 / math.sqrt(hidden)
            head.weight.uniform_(-bound, bound, generator=generator)
            head.bias.copy_(torch.tensor([0.0, -4.0], dtype=torch.float64))  # updates start rare
        self.module[2] = head
        self._version_key = None

    def config(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "n_features": N_FEATURES,
            "actions": list(WRITE_ACTIONS),
            "activation": "tanh",
            "dtype": "float64",
            "outputs": ["score", "update_logit"],
            "temperature": self.TEMPERATURE,
            "reference_size": WriteStream.REFERENCE_SIZE,
        }

    def _batch(self, states: Sequence[WriteState]) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        import torch

        m = max([0 if s.reference is None else len(s.reference) for s in states] + [0])
        features = torch.from_numpy(np.stack([s.features for s in states]).astype(np.float64))
        refs = np.zeros((len(states), max(m, 1), N_FEATURES), dtype=np.float64)
        ref_mask = np.zeros((len(states), max(m, 1)), dtype=bool)
        for i, s in enumerate(states):
            if s.reference is not None and len(s.reference):
                refs[i, : len(s.reference)] = s.reference
                ref_mask[i, : len(s.reference)] = True
        mask = torch.from_numpy(np.stack([s.mask() for s in states]))
        return features, torch.from_numpy(refs), torch.from_numpy(ref_mask), mask

    def _masked_logprobs(self, *batch: torch.Tensor) -> torch.Tensor:
        import torch

        features, refs, ref_mask, mask = batch
        out = self.module(features)
        score, update = out[:, 0], out[:, 1]
        ref_score = self.module(refs)[..., 0]
        wins = torch.sigmoid(score[:, None] - ref_score) * ref_mask
        pct = (1.0 + wins.sum(-1)) / (1.0 + ref_mask.sum(-1))
        rate = features[:, _COL["budget_rate"]]
        store = (pct - (1.0 - rate)) / self.TEMPERATURE
        logits = torch.stack([store, torch.zeros_like(store), update], dim=-1)
        return torch.log_softmax(logits.masked_fill(~mask, -math.inf), dim=-1)

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        """The maths of ``_masked_logprobs`` in numpy (float64), for fast serving."""
        w1, b1, w2, b2 = self._numpy_weights()

        def net(x: np.ndarray) -> np.ndarray:
            return np.tanh(x.astype(np.float64) @ w1.T + b1) @ w2.T + b2

        score, update = net(state.features[None, :])[0]
        ref = state.reference
        wins = 0.0
        m = 0
        if ref is not None and len(ref):
            m = len(ref)
            wins = float((1.0 / (1.0 + np.exp(-(score - net(ref)[:, 0])))).sum())
        pct = (1.0 + wins) / (1.0 + m)
        rate = float(state.features[_COL["budget_rate"]])
        logits = np.array([(pct - (1.0 - rate)) / self.TEMPERATURE, 0.0, update], dtype=np.float64)
        return log_softmax(np.where(state.mask(), logits, -np.inf))
