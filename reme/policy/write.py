"""The ``write`` decision: per candidate memory, ``store`` it, ``discard`` it, or ``update`` (supersede) the
nearest existing near-duplicate of the same target (Memory-R1's ADD / NOOP / UPDATE). Deletions stay explicit
calls of the library; they are never an action of this policy.

The state of one decision is a ``WriteState``: a float32 feature vector (columns ``WRITE_FEATURES``, built by
``reme.policy.write_features``), the id of the most similar existing memory of the same target (if any), the
actions that are allowed (``update`` only when a nearest memory exists), the fraction of a storage budget left
and, inside a ``WriteStream``, the features of the stream's recent candidates.

This module owns the state, the stream and the hand-set policies of the protocol of ``reme.policy.decision``:

- ``HeuristicWritePolicy`` (``heuristic-reme-add``): ReMe 0.3.1.x's vector ``add_memory`` rule. ReMe always
  stores and deduplicates by content id, so the same text of the same target replaces the existing record:
  greedy, it stores everything except an exact duplicate, which updates that duplicate. Its logits are
  +-1/T, so sampling explores. ``explicit_write_policy`` is this rule at a temperature that never discards.
- ``NoveltyLengthWritePolicy`` (``heuristic-novelty-length``): a budget-paced novelty/length rule.
- ``RandomWritePolicy`` (``random-budget``): stores at the rate the budget affords.

The learned ones (``MLPWritePolicy``, ``PacedMLPWritePolicy``) are in ``reme.policy.write_mlp``. All of them score
through one path (``action_logprobs``) used by ``decide`` and ``logprob`` (``WritePolicyBase``), so a recorded
log-probability and a re-score from the record (``state_from_record``) agree exactly.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.checkpoint import params_version
from reme.policy.decision import Decision, DecisionKind, Matrix, Mode, Policy, log_softmax
from reme.policy.write_features import (
    DUPLICATE_COSINE,
    N_WRITE_FEATURES,
    WRITE_COLUMN,
    WRITE_FEATURES,
    finite_number,
    write_features,
)

__all__ = [
    "EXPLICIT_WRITE_TEMPERATURE",
    "NOVELTY_LENGTH_DEFAULTS",
    "WRITE_ACTIONS",
    "HeuristicWritePolicy",
    "NoveltyLengthWritePolicy",
    "RandomWritePolicy",
    "WritePolicyBase",
    "WriteState",
    "WriteStream",
    "default_allowed",
    "explicit_write_policy",
    "make_write_state",
    "state_needs_nearest",
]

WRITE_ACTIONS: tuple[str, ...] = ("store", "discard", "update")
"""The actions, in the order of the logits (and of greedy tie-breaking)."""


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
    text: str = ""
    """The candidate's own text (what an LLM writer reads; the feature policies see only ``features``). Not part of
    the recorded inputs: an LLM decision keeps its prompt in ``extra["replay"]`` instead."""
    context: str = ""
    """A little of what came before the candidate (the previous turn), for an LLM writer; empty when unknown."""

    def __post_init__(self) -> None:
        features = np.asarray(self.features)
        if features.shape != (N_WRITE_FEATURES,):
            raise BadInputError(f"write features must have shape ({N_WRITE_FEATURES},), got {features.shape}")
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
            self.budget_left = finite_number(self.budget_left, "budget_left")
        if self.reference is not None:
            ref = np.ascontiguousarray(np.asarray(self.reference), dtype=np.float32).reshape(-1, N_WRITE_FEATURES)
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
    context: str = "",
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
        text=text,
        context=context,
    )


class WriteStream:
    """Running statistics of one stream of candidates (a conversation, a target's writes) for the stream columns.

    ``budget``: how many candidates may be stored (``None``: unlimited); ``expected``: how many candidates the stream
    holds (``None``: unknown). ``observe`` is called once per candidate, before its decision; ``record`` after it.
    """

    REFERENCE_SIZE = 64
    """Earlier candidates a paced policy ranks a new one against (the most recent ones)."""

    LIVE_HORIZON = 64
    """``at_rate``: candidates over which a live stream pays back storing ahead of (or behind) its rate."""

    def __init__(self, budget: int | None = None, expected: int | None = None) -> None:
        for name, value in (("budget", budget), ("expected", expected)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise BadInputError(f"{name} must be an integer >= 0 or None, got {value!r}")
        self.budget = budget
        self.expected = expected
        self.rate: float | None = None
        """``at_rate``: the share of an open-ended stream that may be stored."""
        self.seen = 0
        """Candidates observed so far (the current one included once observed)."""
        self.stored = 0
        self._lengths: list[float] = []
        self._novelties: list[float] = []
        self._recent: list[np.ndarray] = []

    @classmethod
    def at_rate(cls, rate: float) -> WriteStream:
        """An open-ended stream (a target's writes in use, ``policies.write_budget``) that may store ``rate`` of its
        candidates: the total budget is unlimited (``budget_left`` is ``None``) and ``budget_rate`` is ``rate``
        corrected by what was stored ahead of or behind it, spread over the next ``LIVE_HORIZON`` candidates."""
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 < float(rate) <= 1.0:
            raise BadInputError(f"rate must be a number in (0, 1], got {rate!r}")
        stream = cls()
        stream.rate = float(rate)
        return stream

    def copy(self) -> WriteStream:
        other = WriteStream(self.budget, self.expected)
        other.rate = self.rate
        other.seen, other.stored = self.seen, self.stored
        other._lengths, other._novelties = list(self._lengths), list(self._novelties)
        other._recent = list(self._recent)
        return other

    def reference(self) -> np.ndarray:
        """``(m, F)`` features of the most recent earlier candidates (m <= ``REFERENCE_SIZE``)."""
        if not self._recent:
            return np.zeros((0, N_WRITE_FEATURES), dtype=np.float32)
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
        if self.rate is not None:
            behind = self.rate * max(self.seen - 1, 0) - self.stored
            return min(1.0, max(0.0, self.rate + behind / self.LIVE_HORIZON))
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
    needs_nearest: bool = True
    """Whether the state needs the candidate's nearest existing memory (a similarity search) rather than only the
    memory of the same id (what ``HeuristicWritePolicy``, ReMe's content-id rule, looks at)."""
    learned: bool = False
    """Whether the policy has trained weights (a checkpoint), rather than hand-set parameters."""

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


def state_needs_nearest(policy: Any) -> bool:
    """Whether a write policy's state is built from the candidate's nearest memory of its target (a similarity
    search) or only from the memory of the same id: the policy's ``needs_nearest``. A policy that does not declare
    it (a host's own) is given the nearest memory, as every policy but ReMe's content-id rule is."""
    return bool(getattr(policy, "needs_nearest", True))


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
    needs_nearest: bool = False  # an exact duplicate is the record of the same content id

    def __init__(self, temperature: float = 0.1, duplicate_threshold: float = DUPLICATE_COSINE) -> None:
        t = finite_number(temperature, "temperature")
        if t <= 0 or not math.isfinite(1.0 / t):
            raise BadInputError(f"temperature must be > 0 (and its inverse finite), got {temperature!r}")
        d = finite_number(duplicate_threshold, "duplicate_threshold")
        if not -1.0 <= d <= 1.0:
            raise BadInputError(f"duplicate_threshold must be a cosine in [-1, 1], got {duplicate_threshold!r}")
        self.temperature = t
        self.duplicate_threshold = d
        # below the exact-duplicate cosine, a near duplicate is a different text: only a similarity search finds it
        self.needs_nearest = d < DUPLICATE_COSINE
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
        return bool(
            f[WRITE_COLUMN["exact_duplicate"]] >= 0.5 or f[WRITE_COLUMN["nearest_cosine"]] >= self.duplicate_threshold
        )

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
        w = finite_number(novelty_weight, "novelty_weight")
        t = finite_number(temperature, "temperature")
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
        return float((1 - w) * f[WRITE_COLUMN["length_percentile"]] + w * f[WRITE_COLUMN["novelty_percentile"]])

    def logits(self, state: WriteState) -> np.ndarray:
        f = state.features
        inv_t = 1.0 / self.temperature
        duplicate = "update" in state.allowed and f[WRITE_COLUMN["exact_duplicate"]] >= 0.5
        if duplicate:
            values = {"store": -inv_t, "discard": -inv_t, "update": inv_t}
        else:
            z = (self.score(state) - (1.0 - float(f[WRITE_COLUMN["budget_rate"]]))) * inv_t
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
        rate = float(state.features[WRITE_COLUMN["budget_rate"]])
        probs = {"store": rate, "discard": 1.0 - rate, "update": 0.0}
        if "store" not in state.allowed:
            probs = {"store": 0.0, "discard": 1.0, "update": 0.0}
        with np.errstate(divide="ignore"):
            return np.log(np.array([probs[a] if a in state.allowed else 0.0 for a in WRITE_ACTIONS]))


if TYPE_CHECKING:  # the classes satisfy the protocol (checked by mypy only)

    def _protocol_check(
        h: HeuristicWritePolicy, n: NoveltyLengthWritePolicy, r: RandomWritePolicy
    ) -> list[Policy[WriteState]]:
        return [h, n, r]
