"""The ``compact`` decision: which messages of an over-budget context stay verbatim and which are compacted.

ReMe 0.3.1.x splits an over-threshold context in ``AsMsgHandler.context_check`` (the tail-reserve rule): walking
from the newest message, it keeps messages while the kept tokens stay within ``memory_compact_reserve`` (10,000 by
default), pulls in the tool-call message of every kept tool result (its tokens count against the reserve), stops at
the first message that does not fit, and compacts everything older. When the kept messages do not pair every
tool call with its result (``is_valid`` false) the host skips compaction entirely.

Here that split is a sequence of keep/compact *gates*, one per message, taken in a fixed order: newest first
(``Decision.extra["order"]``). A gate is **forced** (log-probability 0) when a hard rule decides it:

- ``protected``: a protected message (system messages, and any the host names) is always kept;
- ``tool_call``: a message whose tool call answers a tool result of a kept message is kept (a tool result never
  loses its call);
- ``budget``: a message whose keeping would exceed the remaining reserve is compacted.

The *remaining reserve* at a gate is ``budget`` minus the tokens of every message already committed to be kept: the
messages kept so far, the tool-call messages they pulled in, and (from the start) the protected messages and the
tool calls those need. "Keeping" a message costs its own tokens plus those of the not-yet-committed, older
messages holding the calls of its tool results (transitively), exactly as ReMe charges a kept tool result for its
call up front. A forced keep therefore never overdraws the reserve, except when the protected messages (with
their calls) alone exceed it: then they are kept anyway and ``extra["budget_unmet"]`` is true.

At an unforced gate the policy chooses, with ``p(keep) = sigmoid(logit)``; the joint log-probability is the sum
over unforced gates, so the distribution over action vectors is normalised and every action can be re-scored
exactly. ``apply`` turns a decision into ReMe's ``(to_compact, to_keep, is_valid)`` triple, with ReMe's skip.

The threshold check (``total tokens < memory_compact_threshold``: keep everything, no decision) belongs to the
caller: a ``CompactState`` exists only for a context that is over the threshold.

Two documented differences from ReMe, both outside its normal message shapes: tool-call closure is transitive (a
pulled-in call message that itself carries tool results pulls in their calls too; ReMe pulls one level), and a
tool-use id present in several messages pulls in all of them (ReMe keeps the last one's index).

This module owns the state, its features, the gate walk (``walk_gates``: one path for deciding and re-scoring,
shared by every compact policy) and the heuristic; the learned gates are in ``reme.policy.compact_mlp``, and a
message's tokens and tool ids are read by ``reme.messages``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from reme.errors import BadInputError
from reme.messages import parse_message, rule_token_count
from reme.policy.checkpoint import params_version
from reme.policy.decision import Decision, DecisionKind, Matrix, Mode, Policy, log_sigmoid
from reme.policy.explore import GateExploration, gate_behaviour_probability

__all__ = [
    "COMPACT",
    "COMPACT_FEATURES",
    "DEFAULT_COMPACT_RESERVE",
    "KEEP",
    "CompactState",
    "GateWalk",
    "HeuristicCompactPolicy",
    "apply",
    "compact_features",
    "compact_state_from_record",
    "gate_decision",
    "keep_flags",
    "walk_gates",
]

DEFAULT_COMPACT_RESERVE = 10_000
"""ReMe's ``memory_compact_reserve``: tokens the kept (verbatim) tail may use."""

KEEP = "keep"
COMPACT = "compact"
_LABELS = (KEEP, COMPACT)

COMPACT_FEATURES: tuple[str, ...] = (
    "log_tokens",
    "position_from_tail",
    "role_system",
    "role_user",
    "role_assistant",
    "role_tool",
    "has_tool_call",
    "has_tool_result",
    "tokens_over_budget",
    "tail_tokens_over_budget",
    "protected",
)
"""Columns of ``compact_features``, one row per message:

- ``log_tokens``: ``log(1 + tokens)``;
- ``position_from_tail``: ``(n - 1 - i) / max(n - 1, 1)``, 0 for the newest message, 1 for the oldest;
- ``role_system`` / ``role_user`` / ``role_assistant`` / ``role_tool``: role one-hot (all 0 for any other role);
- ``has_tool_call``: 1 if the message makes a tool call (carries a tool_use id);
- ``has_tool_result``: 1 if it carries a tool result;
- ``tokens_over_budget``: ``tokens / max(budget, 1)``;
- ``tail_tokens_over_budget``: tokens of this message and all newer ones, over ``max(budget, 1)``;
- ``protected``: 1 for a protected message.
"""

_ROLES = ("system", "user", "assistant", "tool")


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CompactState:
    """An over-threshold context, one entry per message in message order (oldest first)."""

    tokens: list[int]
    """Tokens of each message."""
    roles: list[str]
    """Role of each message (``system``, ``user``, ``assistant``, ``tool``, ...)."""
    tool_use_ids: list[list[str]]
    """Ids of the tool calls each message makes."""
    tool_result_ids: list[list[str]]
    """Ids of the tool results each message carries."""
    protected: list[bool]
    """Messages that are always kept (system messages and host-protected ones)."""
    budget: int = DEFAULT_COMPACT_RESERVE
    """The reserve, in tokens, that kept messages may use (ReMe's ``memory_compact_reserve``)."""
    features: np.ndarray | None = None
    """Optional ``(n, F)`` float32 features for a learned gate (default: ``compact_features``)."""
    exploration: GateExploration | None = None
    """The exploration rule this decision is taken under (``reme.policy.explore``), set by the caller from
    ``policies.exploration.compact``; never part of the record's inputs (a re-score is the policy's alone)."""

    def __post_init__(self) -> None:
        n = len(self.tokens)
        fields = (self.roles, self.tool_use_ids, self.tool_result_ids, self.protected)
        if any(len(f) != n for f in fields):
            raise BadInputError("CompactState: tokens, roles, tool ids and protected need one entry per message")
        self.tokens = [int(t) for t in self.tokens]
        if any(t < 0 for t in self.tokens):
            raise BadInputError("CompactState: token counts must be >= 0")
        self.roles = [str(r) for r in self.roles]
        self.tool_use_ids = [[str(x) for x in ids] for ids in self.tool_use_ids]
        self.tool_result_ids = [[str(x) for x in ids] for ids in self.tool_result_ids]
        self.protected = [bool(p) for p in self.protected]
        if isinstance(self.budget, bool) or int(self.budget) != self.budget or self.budget < 0:
            raise BadInputError(f"CompactState: budget must be an integer >= 0, got {self.budget!r}")
        self.budget = int(self.budget)
        if self.features is not None:
            feats = np.asarray(self.features, dtype=np.float32)
            if feats.ndim != 2 or feats.shape[0] != n:
                raise BadInputError(f"CompactState: features must be (n_messages={n}, F), got {feats.shape}")
            self.features = feats

    @property
    def n_messages(self) -> int:
        return len(self.tokens)

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)

    @classmethod
    def from_messages(
        cls,
        messages: Sequence[Any],
        budget: int = DEFAULT_COMPACT_RESERVE,
        token_counter: Callable[[str], int] | None = None,
        protected_ids: Collection[str] = (),
    ) -> CompactState:
        """Build the state from OpenAI-format dicts (``content`` str or parts, ``tool_calls[].id``,
        ``tool_call_id`` on role ``tool``) or AgentScope-like dicts (content blocks ``tool_use`` / ``tool_result``
        with an ``id``). ``token_counter(text) -> int`` counts each text block (default ``rule_token_count``:
        floor of UTF-8 bytes / 3.75). A message is protected when its role is ``system`` or its ``id`` is in
        ``protected_ids``."""
        counter = token_counter or rule_token_count
        keep_ids = {str(x) for x in protected_ids}
        parsed = [parse_message(m, counter) for m in messages]
        return cls(
            tokens=[p[1] for p in parsed],
            roles=[p[0] for p in parsed],
            tool_use_ids=[p[2] for p in parsed],
            tool_result_ids=[p[3] for p in parsed],
            protected=[p[0] == "system" or (p[4] is not None and p[4] in keep_ids) for p in parsed],
            budget=budget,
        )

    def to_inputs(self) -> dict[str, Any]:
        """A JSON-able dict (``Decision.inputs``) from which ``from_inputs`` rebuilds this state exactly."""
        features = None
        if self.features is not None:
            names = COMPACT_FEATURES if self.features.shape[1] == len(COMPACT_FEATURES) else ()
            features = Matrix.of(self.features, names).model_dump()
        return {
            "tokens": list(self.tokens),
            "roles": list(self.roles),
            "tool_use_ids": [list(x) for x in self.tool_use_ids],
            "tool_result_ids": [list(x) for x in self.tool_result_ids],
            "protected": list(self.protected),
            "budget": self.budget,
            "features": features,
        }

    @classmethod
    def from_inputs(cls, d: Mapping[str, Any]) -> CompactState:
        missing = [
            k for k in ("tokens", "roles", "tool_use_ids", "tool_result_ids", "protected", "budget") if k not in d
        ]
        if missing:
            raise BadInputError(f"compact inputs lack {missing}")
        features = d.get("features")
        return cls(
            tokens=list(d["tokens"]),
            roles=list(d["roles"]),
            tool_use_ids=[list(x) for x in d["tool_use_ids"]],
            tool_result_ids=[list(x) for x in d["tool_result_ids"]],
            protected=list(d["protected"]),
            budget=d["budget"],
            features=None if features is None else Matrix.model_validate(features).array(),
        )


def compact_features(state: CompactState) -> np.ndarray:
    """``(n, len(COMPACT_FEATURES))`` float32 features of each message (columns documented at
    ``COMPACT_FEATURES``)."""
    n = state.n_messages
    out = np.zeros((n, len(COMPACT_FEATURES)), dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    tokens = np.asarray(state.tokens, dtype=np.float64)
    budget = float(max(state.budget, 1))
    out[:, 0] = np.log1p(tokens)
    out[:, 1] = (n - 1 - np.arange(n)) / max(n - 1, 1)
    for i, role in enumerate(state.roles):
        if role in _ROLES:
            out[i, 2 + _ROLES.index(role)] = 1.0
    out[:, 6] = [1.0 if ids else 0.0 for ids in state.tool_use_ids]
    out[:, 7] = [1.0 if ids else 0.0 for ids in state.tool_result_ids]
    out[:, 8] = tokens / budget
    out[:, 9] = np.cumsum(tokens[::-1])[::-1] / budget
    out[:, 10] = np.asarray(state.protected, dtype=np.float64)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# The gate walk: one path for deciding and re-scoring
# --------------------------------------------------------------------------------------------------------------


def _call_dependencies(state: CompactState) -> list[list[int]]:
    """For each message, the other messages holding the tool calls of its tool results."""
    holders: dict[str, list[int]] = {}
    for j, ids in enumerate(state.tool_use_ids):
        for tool_id in ids:
            if tool_id:
                holders.setdefault(tool_id, []).append(j)
    deps: list[list[int]] = []
    for i, ids in enumerate(state.tool_result_ids):
        found = sorted({j for tool_id in ids for j in holders.get(tool_id, []) if j != i})
        deps.append(found)
    return deps


def _closure(deps: list[list[int]], start: Iterable[int], below: int, exclude: Collection[int]) -> set[int]:
    """``start`` plus every message reachable through tool-call dependencies, visiting only messages older than
    ``below`` and not in ``exclude``."""
    seen = set(start)
    stack = list(seen)
    while stack:
        for j in deps[stack.pop()]:
            if j < below and j not in seen and j not in exclude:
                seen.add(j)
                stack.append(j)
    return seen


def _is_valid(state: CompactState, keep: Sequence[bool]) -> bool:
    """ReMe's check: the tool_use ids of the kept messages equal their tool_result ids."""
    uses = {x for i, k in enumerate(keep) if k for x in state.tool_use_ids[i] if x}
    results = {x for i, k in enumerate(keep) if k for x in state.tool_result_ids[i] if x}
    return uses == results


@dataclass
class GateWalk:
    """The outcome of one walk over the gates, per message in message order."""

    keep: list[bool]
    forced: list[bool]
    forced_by: list[str | None]
    logprob: float
    behaviour_logprob: float = 0.0
    """Under an exploration rule: log of the behaviour probability of the gates taken (``reme.policy.explore``)."""
    explored: list[int] | None = None
    """Under an exploration rule: the messages it kept where the policy compacted them."""


def keep_flags(state: CompactState, action: Any) -> list[bool]:
    """The action as keep flags; ``ValueError`` for a wrong length or an unknown label."""
    if isinstance(action, str | bytes) or not isinstance(action, Sequence):
        raise ValueError(f"a compact action is a list of 'keep' | 'compact', got {type(action).__name__}")
    if len(action) != state.n_messages:
        raise ValueError(f"a compact action needs one label per message: {len(action)} != {state.n_messages}")
    bad = [a for a in action if a not in _LABELS]
    if bad:
        raise ValueError(f"unknown compact labels {bad[:3]!r}: use 'keep' or 'compact'")
    return [a == KEEP for a in action]


def walk_gates(
    state: CompactState,
    logit_at: Callable[[int, bool], float],
    *,
    wanted: list[bool] | None = None,
    mode: Mode = "greedy",
    rng: np.random.Generator | None = None,
    explore: GateExploration | None = None,
) -> GateWalk:
    """Take the gates newest first. ``logit_at(i, stopped)`` is the keep-logit of unforced gate ``i``, where
    ``stopped`` says an earlier gate compacted. With ``wanted`` (keep flags of an action) the walk re-scores it
    (``ValueError`` when a forced gate disagrees); without, it chooses greedily (keep when the logit is >= 0) or
    samples, and then, under ``explore``, a gate the policy compacts is kept with the rule's probability (the
    walk records the behaviour log-probability of the gates taken)."""
    n = state.n_messages
    if wanted is None and mode == "sample" and rng is None:
        rng = np.random.default_rng()
    deps = _call_dependencies(state)
    committed = _closure(deps, [i for i in range(n) if state.protected[i]], n, ())
    used = sum(state.tokens[j] for j in committed)
    keep = [False] * n
    forced = [False] * n
    forced_by: list[str | None] = [None] * n
    total = 0.0
    behaviour = 0.0
    flipped: list[int] = []
    stopped = False
    for i in range(n - 1, -1, -1):
        if i in committed:
            forced[i], keep[i] = True, True
            forced_by[i] = "protected" if state.protected[i] else "tool_call"
            if wanted is not None and not wanted[i]:
                raise ValueError(f"message {i} must be kept ({forced_by[i]}), the action compacts it")
            continue
        pulled = _closure(deps, [i], i, committed)  # i and the older, uncommitted calls it needs
        cost = sum(state.tokens[j] for j in pulled)
        if used + cost > state.budget:
            forced[i], forced_by[i], stopped = True, "budget", True
            if wanted is not None and wanted[i]:
                raise ValueError(f"message {i} cannot be kept: {cost} tokens exceed the remaining reserve")
            continue
        z = float(logit_at(i, stopped))
        if not math.isfinite(z):
            raise ValueError(f"gate {i} has a non-finite keep-logit {z}")
        if wanted is not None:
            k = wanted[i]
        elif mode == "greedy":
            k = z >= 0.0
        else:
            assert rng is not None
            k = bool(rng.random() < math.exp(log_sigmoid(z)))
        if explore is not None and wanted is None:
            p_keep = (1.0 if z >= 0.0 else 0.0) if mode == "greedy" else math.exp(log_sigmoid(z))
            if not k and explore.keeps(i):
                k = True
                flipped.append(i)
            b = gate_behaviour_probability(k, p_keep, explore.epsilon)
            behaviour += math.log(b) if b > 0 else -math.inf
        total += log_sigmoid(z) if k else log_sigmoid(-z)
        keep[i] = k
        if k:
            committed |= pulled
            used += cost
        else:
            stopped = True
    return GateWalk(
        keep=keep, forced=forced, forced_by=forced_by, logprob=min(total, 0.0), behaviour_logprob=min(behaviour, 0.0),
        explored=None if explore is None or wanted is not None else flipped,
    )  # fmt: skip


def gate_decision(
    policy: Any, state: CompactState, logit_at: Callable[[int, bool], float], mode: Mode, rng: Any
) -> Decision:
    if mode not in ("greedy", "sample"):
        raise ValueError(f"unknown mode {mode!r}: use 'greedy' or 'sample'")
    explore = state.exploration if state.exploration is not None and state.exploration.epsilon > 0 else None
    walk = walk_gates(state, logit_at, mode=mode, rng=rng, explore=explore)
    kept_tokens = sum(t for t, k in zip(state.tokens, walk.keep) if k)
    decision = Decision(
        kind="compact",
        policy=policy.name,
        version=policy.version,
        mode=mode,
        action=[KEEP if k else COMPACT for k in walk.keep],
        logprob=walk.logprob,
        forced=walk.forced,
        inputs=state.to_inputs(),
        extra={
            "is_valid": _is_valid(state, walk.keep),
            "budget_unmet": kept_tokens > state.budget,
            "kept_tokens": kept_tokens,
            "budget": state.budget,
            "order": list(range(state.n_messages - 1, -1, -1)),
            "forced_by": walk.forced_by,
            "params": dict(policy.params),
        },
    )
    if explore is not None:
        explore.record(decision, walk.behaviour_logprob, walk.explored or [])
    return decision


def compact_state_from_record(decision: Decision) -> CompactState:
    if decision.kind != "compact":
        raise ValueError(f"not a compact decision: kind {decision.kind!r}")
    return CompactState.from_inputs(decision.inputs)


def apply(state: CompactState, decision: Decision) -> tuple[list[int], list[int], bool]:
    """ReMe's split from a decision: ``(to_compact_indices, to_keep_indices, is_valid)``, indices in message order.

    When the kept messages do not pair every tool call with its result, or they exceed the reserve
    (``budget_unmet``), this returns ``([], all indices, False)``: ReMe's hook then skips compaction entirely."""
    keep = keep_flags(state, decision.action)
    everything = list(range(state.n_messages))
    kept_tokens = sum(t for t, k in zip(state.tokens, keep) if k)
    if not _is_valid(state, keep) or kept_tokens > state.budget:
        return [], everything, False
    return [i for i in everything if not keep[i]], [i for i in everything if keep[i]], True


# --------------------------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------------------------


class HeuristicCompactPolicy:
    """ReMe's tail-reserve rule as a stochastic policy.

    At an unforced gate (the message fits the remaining reserve), ``logit(keep) = +1 / temperature`` while no
    earlier gate compacted, and ``-1 / temperature`` after one did; ``p(keep) = sigmoid(logit)``. The greedy action
    is exactly ReMe's split: keep from the tail while it fits, stop at the first message that does not (everything
    older is compacted, even a smaller one that would fit), with tool-call closure.
    """

    kind: DecisionKind = "compact"
    name = "heuristic-tail-reserve"
    learned: bool = False

    def __init__(self, temperature: float = 0.1):
        ok = isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0
        if not ok or not math.isfinite(1.0 / temperature):
            raise ValueError(f"temperature must be a finite number > 0 (with a finite inverse), got {temperature!r}")
        self.temperature = float(temperature)
        self.params: dict[str, Any] = {"temperature": self.temperature}
        self._version = params_version(self.name, self.params)

    @property
    def version(self) -> str:
        return self._version

    def _logit_at(self, i: int, stopped: bool) -> float:
        return (-1.0 if stopped else 1.0) / self.temperature

    def decide(self, state: CompactState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        return gate_decision(self, state, self._logit_at, mode, rng)

    def logprob(self, state: CompactState, action: Any) -> float:
        return walk_gates(state, self._logit_at, wanted=keep_flags(state, action)).logprob

    def state_from_record(self, decision: Decision) -> CompactState:
        return compact_state_from_record(decision)


if TYPE_CHECKING:  # the heuristic satisfies the protocol (checked by mypy only)

    def _protocol_check(h: HeuristicCompactPolicy) -> Policy[CompactState]:
        return h
