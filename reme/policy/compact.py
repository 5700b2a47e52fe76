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
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from reme.errors import BadInputError
from reme.policy.checkpoint import checkpoint_version, load_checkpoint, params_version, save_checkpoint
from reme.policy.decision import Decision, DecisionKind, Matrix, Mode, Policy, log_sigmoid

if TYPE_CHECKING:
    import torch

__all__ = [
    "COMPACT_FEATURES",
    "DEFAULT_COMPACT_RESERVE",
    "CompactState",
    "HeuristicCompactPolicy",
    "MLPCompactPolicy",
    "RankedMLPCompactPolicy",
    "apply",
    "compact_features",
    "message_token_count",
    "rule_token_count",
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
# Token counting (ReMe's rule-based fallback) and message parsing
# --------------------------------------------------------------------------------------------------------------


def rule_token_count(text: str) -> int:
    """ReMe's rule-based token estimate: UTF-8 bytes / 3.75, rounded **down** (ReMe's ``int(...)``)."""
    return len(text.encode("utf-8")) * 4 // 15  # == floor(bytes / 3.75), in exact integer arithmetic


def _as_mapping(message: Any) -> Mapping[str, Any]:
    if isinstance(message, Mapping):
        return message
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        out = to_dict()
        if isinstance(out, Mapping):
            return out
    if hasattr(message, "role"):  # an AgentScope-like object
        return {k: getattr(message, k, None) for k in ("id", "role", "content", "tool_calls", "tool_call_id")}
    raise BadInputError(f"a message must be a dict with a 'role' (got {type(message).__name__})")


def _dumps(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _media_tokens(block: Mapping[str, Any], counter: Callable[[str], int]) -> int:
    """ReMe's count for an image/audio/video block: base64 chars / 4, else the URL's tokens, else 10."""
    source = block.get("source") or {}
    if not isinstance(source, Mapping):
        return 10
    if source.get("type") == "base64":
        data = str(source.get("data") or "")
        return len(data) // 4 if data else 10
    url = str(source.get("url") or "")
    return counter(url) if url else 10


def _block_pieces(block: Any, counter: Callable[[str], int]) -> Iterable[tuple[str, int]]:
    """(text, fixed tokens) pieces of one content block; unknown block types count nothing (as in ReMe)."""
    if isinstance(block, str):
        yield block, 0
        return
    if not isinstance(block, Mapping):
        return
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text"):
        yield str(block.get("text") or ""), 0
    elif kind == "thinking":
        yield str(block.get("thinking") or ""), 0
    elif kind == "tool_use":
        yield str(block.get("name") or "") + _dumps(block.get("input", "")), 0
    elif kind == "tool_result":
        output = block.get("output", "")
        if isinstance(output, list):
            for part in output:
                yield from _block_pieces(part, counter)
        else:
            yield _dumps(output), 0
    elif kind in ("image", "audio", "video"):
        yield "", _media_tokens(block, counter)
    elif kind == "image_url":
        url = block.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        yield "", counter(str(url)) if url else 10
    elif kind == "file":
        yield str(block.get("path") or block.get("url") or ""), 0


def _parse(message: Any, counter: Callable[[str], int]) -> tuple[str, int, list[str], list[str], str | None]:
    """``(role, tokens, tool_use_ids, tool_result_ids, message id)`` of an OpenAI or AgentScope message."""
    msg = _as_mapping(message)
    role = str(msg.get("role") or "")
    content = msg.get("content")
    pieces: list[tuple[str, int]] = []
    uses: list[str] = []
    results: list[str] = []
    if isinstance(content, str):
        pieces.append((content, 0))
    elif isinstance(content, list):
        for block in content:
            pieces.extend(_block_pieces(block, counter))
            if isinstance(block, Mapping) and block.get("id"):
                if block.get("type") == "tool_use":
                    uses.append(str(block["id"]))
                elif block.get("type") == "tool_result":
                    results.append(str(block["id"]))
    elif content is not None:
        pieces.append((_dumps(content), 0))
    for call in msg.get("tool_calls") or []:  # OpenAI assistant tool calls
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function") or {}
        if isinstance(fn, Mapping):
            pieces.append((str(fn.get("name") or "") + _dumps(fn.get("arguments", "")), 0))
        if call.get("id"):
            uses.append(str(call["id"]))
    if role == "tool" and msg.get("tool_call_id"):  # OpenAI tool result
        results.append(str(msg["tool_call_id"]))
    tokens = sum((counter(text) if text else 0) + fixed for text, fixed in pieces)
    msg_id = msg.get("id")
    return role, int(tokens), uses, results, None if msg_id is None else str(msg_id)


def message_token_count(message: Any, token_counter: Callable[[str], int] | None = None) -> int:
    """Tokens of one message: ``token_counter`` (default ``rule_token_count``) summed over its text blocks (text,
    thinking, tool-call name + JSON arguments, tool-result output), as ReMe counts block by block."""
    return _parse(message, token_counter or rule_token_count)[1]


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
        parsed = [_parse(m, counter) for m in messages]
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
class _Walk:
    keep: list[bool]
    forced: list[bool]
    forced_by: list[str | None]
    logprob: float


def _check_action(state: CompactState, action: Any) -> list[bool]:
    """The action as keep flags; ``ValueError`` for a wrong length or an unknown label."""
    if isinstance(action, str | bytes) or not isinstance(action, Sequence):
        raise ValueError(f"a compact action is a list of 'keep' | 'compact', got {type(action).__name__}")
    if len(action) != state.n_messages:
        raise ValueError(f"a compact action needs one label per message: {len(action)} != {state.n_messages}")
    bad = [a for a in action if a not in _LABELS]
    if bad:
        raise ValueError(f"unknown compact labels {bad[:3]!r}: use 'keep' or 'compact'")
    return [a == KEEP for a in action]


def _walk(
    state: CompactState,
    logit_at: Callable[[int, bool], float],
    *,
    wanted: list[bool] | None = None,
    mode: Mode = "greedy",
    rng: np.random.Generator | None = None,
) -> _Walk:
    """Take the gates newest first. ``logit_at(i, stopped)`` is the keep-logit of unforced gate ``i``, where
    ``stopped`` says an earlier gate compacted. With ``wanted`` (keep flags of an action) the walk re-scores it
    (``ValueError`` when a forced gate disagrees); without, it chooses greedily (keep when the logit is >= 0) or
    samples."""
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
        total += log_sigmoid(z) if k else log_sigmoid(-z)
        keep[i] = k
        if k:
            committed |= pulled
            used += cost
        else:
            stopped = True
    return _Walk(keep=keep, forced=forced, forced_by=forced_by, logprob=min(total, 0.0))


def _decision(
    policy: Any, state: CompactState, logit_at: Callable[[int, bool], float], mode: Mode, rng: Any
) -> Decision:
    if mode not in ("greedy", "sample"):
        raise ValueError(f"unknown mode {mode!r}: use 'greedy' or 'sample'")
    walk = _walk(state, logit_at, mode=mode, rng=rng)
    kept_tokens = sum(t for t, k in zip(state.tokens, walk.keep) if k)
    return Decision(
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


def _state_from_record(decision: Decision) -> CompactState:
    if decision.kind != "compact":
        raise ValueError(f"not a compact decision: kind {decision.kind!r}")
    return CompactState.from_inputs(decision.inputs)


def apply(state: CompactState, decision: Decision) -> tuple[list[int], list[int], bool]:
    """ReMe's split from a decision: ``(to_compact_indices, to_keep_indices, is_valid)``, indices in message order.

    When the kept messages do not pair every tool call with its result, or they exceed the reserve
    (``budget_unmet``), this returns ``([], all indices, False)``: ReMe's hook then skips compaction entirely."""
    keep = _check_action(state, decision.action)
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
        return _decision(self, state, self._logit_at, mode, rng)

    def logprob(self, state: CompactState, action: Any) -> float:
        return _walk(state, self._logit_at, wanted=_check_action(state, action)).logprob

    def state_from_record(self, decision: Decision) -> CompactState:
        return _state_from_record(decision)


class MLPCompactPolicy:
    """A learned per-message gate: ``p(keep_i) = sigmoid(MLP(features_i))``, under the same forcing rules.

    The MLP is ``Linear(F, hidden) -> tanh -> Linear(hidden, 1)`` with float32 weights; logits are computed in
    float64 from the float32 features (``state.features`` when given, else ``compact_features(state)``), so a
    re-score from the record is exact. ``version`` is the checkpoint version of the current weights (the value
    ``save`` returns and ``load`` checks), recomputed from the weights, so it changes when they are trained.
    """

    kind: DecisionKind = "compact"
    name = "mlp-compact"

    def __init__(
        self,
        hidden: int = 32,
        seed: int = 0,
        feature_spec: Sequence[str] = COMPACT_FEATURES,
        training_data_hash: str = "",
    ):
        import torch

        if hidden < 1 or not feature_spec:
            raise ValueError("hidden must be >= 1 and feature_spec non-empty")
        self.feature_spec: tuple[str, ...] = tuple(str(x) for x in feature_spec)
        self.training_data_hash = training_data_hash
        self.config: dict[str, Any] = {"hidden": int(hidden), "n_features": len(self.feature_spec)}
        self.params = self.config
        generator = torch.Generator().manual_seed(int(seed))
        self.net = torch.nn.ModuleDict(
            {
                "hidden": torch.nn.Linear(len(self.feature_spec), int(hidden)),
                "out": torch.nn.Linear(int(hidden), 1),
            }
        )
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float32) * 0.3)
        self.net.eval()

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        """The trainable weights (for an optimizer)."""
        return self.net.parameters()

    def _spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "policy": self.name,
            "feature_spec": list(self.feature_spec),
            "config": self.config,
            "training_data_hash": self.training_data_hash,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}

    @property
    def version(self) -> str:
        from safetensors.torch import save

        # the hash save_checkpoint writes, so a fresh policy's decisions name the version it will be saved under
        return checkpoint_version(self._spec(), save(self._tensors()))

    # -- scoring ---------------------------------------------------------------------------------------------

    def features(self, state: CompactState) -> np.ndarray:
        """The float32 features the gate scores: ``state.features`` when present, else ``compact_features``."""
        if state.features is not None:
            feats = state.features
        elif self.feature_spec == COMPACT_FEATURES:
            feats = compact_features(state)
        else:
            raise ValueError(f"policy expects features {self.feature_spec}; the state carries none")
        if feats.shape[1] != len(self.feature_spec):
            raise ValueError(f"policy expects {len(self.feature_spec)} features, the state has {feats.shape[1]}")
        return np.ascontiguousarray(feats, dtype=np.float32)

    def logits_torch(self, features: Any) -> torch.Tensor:
        """Differentiable float64 keep-logits ``(n,)`` of a ``(n, F)`` float32 array or tensor."""
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(features).to(torch.float64)
        hidden = cast("torch.nn.Linear", self.net["hidden"])
        out = cast("torch.nn.Linear", self.net["out"])
        h = torch.tanh(F.linear(x, hidden.weight.double(), hidden.bias.double()))
        return F.linear(h, out.weight.double(), out.bias.double()).squeeze(-1)

    def logits(self, state: CompactState) -> np.ndarray:
        """Float64 keep-logit of each message, no gradient. The same maths as ``logits_torch`` in numpy: serving
        a tiny MLP through torch's thread pool costs milliseconds per call on a busy machine."""
        x = self.features(state).astype(np.float64)
        w = {k: v.numpy().astype(np.float64) for k, v in self._tensors().items()}
        h = np.tanh(x @ w["hidden.weight"].T + w["hidden.bias"])
        return np.asarray(h @ w["out.weight"].T + w["out.bias"], dtype=np.float64).reshape(-1)

    def _logit_fn(self, state: CompactState) -> tuple[np.ndarray, Callable[[int, bool], float]]:
        z = self.logits(state)
        return z, lambda i, stopped: float(z[i])

    def _gate_logits_torch(self, state: CompactState) -> torch.Tensor:
        """The differentiable keep-logits of every gate (the MLP's outputs here)."""
        import torch

        return self.logits_torch(torch.from_numpy(self.features(state)))

    def decide(self, state: CompactState, mode: Mode = "greedy", rng: np.random.Generator | None = None) -> Decision:
        feats = self.features(state)
        scored = replace(state, features=feats)  # the record carries the very features that were scored
        _, logit_at = self._logit_fn(scored)
        return _decision(self, scored, logit_at, mode, rng)

    def logprob(self, state: CompactState, action: Any) -> float:
        _, logit_at = self._logit_fn(state)
        return _walk(state, logit_at, wanted=_check_action(state, action)).logprob

    def logprob_torch(self, state: CompactState, action: Any) -> torch.Tensor:
        """Differentiable log-probability of ``action`` (a float64 scalar; 0 when every gate is forced)."""
        import torch
        import torch.nn.functional as F

        _, logit_at = self._logit_fn(state)
        # the numpy walk validates the action and finds the free gates; torch re-computes their log-probabilities
        walk = _walk(state, logit_at, wanted=_check_action(state, action))
        free = [i for i in range(state.n_messages) if not walk.forced[i]]
        logits = self._gate_logits_torch(state)
        if not free:
            return logits.sum() * 0.0 if logits.numel() else torch.zeros((), dtype=torch.float64)
        idx = torch.as_tensor(free, dtype=torch.long)
        sign = torch.as_tensor([1.0 if walk.keep[i] else -1.0 for i in free], dtype=torch.float64)
        return F.logsigmoid(sign * logits[idx]).sum()

    def state_from_record(self, decision: Decision) -> CompactState:
        return _state_from_record(decision)

    # -- checkpoints -----------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> str:
        """Write ``policy.safetensors`` + ``policy.json``; returns the version (equal to ``self.version``)."""
        return save_checkpoint(
            directory,
            kind=self.kind,
            policy=self.name,
            feature_spec=list(self.feature_spec),
            config=self.config,
            tensors=self._tensors(),
            training_data_hash=self.training_data_hash,
        )

    @classmethod
    def load(cls, directory: str | Path) -> MLPCompactPolicy:
        """A policy from a checkpoint directory; ``BadInputError`` when it is corrupt or not a compact MLP."""
        import torch

        spec, tensors = load_checkpoint(directory)
        if spec.get("kind") != "compact" or spec.get("policy") != cls.name:
            raise BadInputError(
                f"{directory} holds a {spec.get('kind')}/{spec.get('policy')} policy, not compact/{cls.name}"
            )
        config = spec.get("config")
        feature_spec = spec.get("feature_spec")
        if not isinstance(config, dict) or not isinstance(feature_spec, list) or not feature_spec:
            raise BadInputError(f"{directory}: policy.json lacks a config or feature_spec")
        try:
            hidden = int(config["hidden"])
            policy = cls(
                hidden=hidden, feature_spec=feature_spec, training_data_hash=str(spec.get("training_data_hash", ""))
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInputError(f"{directory}: bad compact-MLP config {config!r}: {exc}") from None
        policy.config = dict(config)
        policy.params = policy.config
        expected = {k: (tuple(v.shape), v.dtype) for k, v in policy.net.state_dict().items()}
        found = {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}
        if found != expected:
            raise BadInputError(f"weights in {directory} do not fit the compact MLP: {found} != {expected}")
        with torch.no_grad():
            policy.net.load_state_dict(tensors)
        if policy.version != spec.get("version"):
            raise BadInputError(
                f"{directory}: weights reload at version {policy.version}, spec says {spec.get('version')}"
            )
        return policy


class RankedMLPCompactPolicy(MLPCompactPolicy):
    """A learned *value* per message, ranked per token and filled into the reserve.

    The MLP's output ``v_i`` scores how much keeping message ``i`` verbatim is worth (trained first on hindsight
    labels, then by GRPO). Each message's priority is ``log sigmoid(v_i) - a * log(1 + tokens_i)`` (value per
    token, ``a = token_exponent``); ``ahead_i = sum_j tokens_j * sigmoid((prio_j - prio_i) / rank_temperature)``
    over ``j != i`` is a soft count of the tokens ranked before it, and the keep-logit is

        z_i = (budget - ahead_i - tokens_i) / (budget_temperature * budget)

    so the greedy gate keeps the longest prefix of the ranking by value per token that fits the reserve, wherever
    its messages sit in the context (ReMe's tail keeps the prefix of the ranking by recency). Sampling, re-scoring
    and the forcing rules are those of every compact policy; the keep-logits are float64 functions of the recorded
    features, so a record re-scores exactly.
    """

    name = "mlp-compact-ranked"

    def __init__(
        self,
        hidden: int = 32,
        seed: int = 0,
        feature_spec: Sequence[str] = COMPACT_FEATURES,
        training_data_hash: str = "",
        token_exponent: float = 0.75,
        rank_temperature: float = 0.1,
        budget_temperature: float = 0.05,
    ):
        for label, value in (("rank_temperature", rank_temperature), ("budget_temperature", budget_temperature)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a finite number > 0, got {value!r}")
        if not (isinstance(token_exponent, int | float) and math.isfinite(token_exponent) and token_exponent >= 0):
            raise ValueError(f"token_exponent must be a finite number >= 0, got {token_exponent!r}")
        super().__init__(hidden=hidden, seed=seed, feature_spec=feature_spec, training_data_hash=training_data_hash)
        self.config.update(
            token_exponent=float(token_exponent),
            rank_temperature=float(rank_temperature),
            budget_temperature=float(budget_temperature),
        )

    def _ranked(self, value: Any, state: CompactState, xp: Any) -> Any:
        """Keep-logits from value logits, in numpy (``xp=np``) or torch (the same float64 maths)."""
        tokens = xp.asarray(np.asarray(state.tokens, dtype=np.float64))
        budget = float(max(state.budget, 1))
        a = float(self.config.get("token_exponent", 0.75))
        rank_t = float(self.config.get("rank_temperature", 0.1))
        budget_t = float(self.config.get("budget_temperature", 0.05))
        if xp is np:
            log_value = -np.logaddexp(0.0, -value)
            priority = log_value - a * np.log1p(tokens)
            before = 0.5 * (1.0 + np.tanh((priority[None, :] - priority[:, None]) / (2.0 * rank_t)))  # sigmoid
        else:
            import torch.nn.functional as F

            priority = F.logsigmoid(value) - a * xp.log1p(tokens)
            before = xp.sigmoid((priority[None, :] - priority[:, None]) / rank_t)
        ahead = (before * tokens[None, :]).sum(1) - 0.5 * tokens  # drop j == i (sigmoid(0) = 0.5)
        return (budget - ahead - tokens) / (budget_t * budget)

    def keep_logits(self, state: CompactState) -> np.ndarray:
        """Float64 keep-logit of each message (``logits`` are the values they are ranked by)."""
        if state.n_messages == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._ranked(self.logits(state), state, np), dtype=np.float64)

    def _logit_fn(self, state: CompactState) -> tuple[np.ndarray, Callable[[int, bool], float]]:
        z = self.keep_logits(state)
        return z, lambda i, stopped: float(z[i])

    def _gate_logits_torch(self, state: CompactState) -> torch.Tensor:
        import torch

        value = self.logits_torch(torch.from_numpy(self.features(state)))
        if state.n_messages == 0:
            return value
        return cast("torch.Tensor", self._ranked(value, state, torch))


if TYPE_CHECKING:  # the classes satisfy the protocol (checked by mypy only)

    def _protocol_check(
        h: HeuristicCompactPolicy, m: MLPCompactPolicy, r: RankedMLPCompactPolicy
    ) -> list[Policy[CompactState]]:
        return [h, m, r]
