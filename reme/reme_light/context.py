"""The context check (ReMe 0.3.1.x's ``ContextChecker``): is the context over its threshold, and if so, which
messages are compacted and which stay verbatim.

Below the threshold (``total tokens < memory_compact_threshold``) nothing is decided: every message is kept. Above
it, the split is a compact policy's ``Decision`` (``reme.policy.compact``; by default ``HeuristicCompactPolicy``,
ReMe's tail-reserve rule: keep from the newest message while the kept tokens fit ``memory_compact_reserve``, with
each kept tool result's call pulled in), logged with its log-probability when a ``TrajectoryLog`` is given, and
turned into message lists by ``apply``. When the kept messages would leave a tool call without its result (or a
result without its call), ``apply`` reports the split invalid and ReMe's host skips compaction: nothing is
compacted.

Protected messages (always kept) are system prompts: ``system`` messages that carry no tool call or tool
result. AgentScope's agents store tool results in ``system`` messages; those are conversation and are split like
any other message, as ReMe does.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.messages import resolve_token_counter
from reme.policy.compact import DEFAULT_COMPACT_RESERVE, CompactState, HeuristicCompactPolicy, apply
from reme.policy.decision import Decision, Mode
from reme.policy.explore import GateExploration

from .messages import is_system_prompt, to_compact_dict, validate_messages

__all__ = [
    "THRESHOLD_FACTOR",
    "build_compact_state",
    "calculate_memory_compact_threshold",
    "check_context",
    "compact_exploration",
    "explore_gates",
]

log = logging.getLogger(__name__)

THRESHOLD_FACTOR = 0.95
"""ReMe 0.3.1.x's safety factor on ``max_input_length * compact_ratio`` (0.9 before March 2026)."""


def calculate_memory_compact_threshold(max_input_length: int, compact_ratio: float) -> int:
    """ReMe's compaction threshold: ``int(max_input_length * compact_ratio * 0.95)`` tokens
    (``131072 * 0.7 * 0.95 -> 87162``)."""
    for name, value in (("max_input_length", max_input_length), ("compact_ratio", compact_ratio)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise BadInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return int(max_input_length * compact_ratio * THRESHOLD_FACTOR)


def _check_tokens(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInputError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def build_compact_state(
    messages: Sequence[Any], memory_compact_reserve: int = DEFAULT_COMPACT_RESERVE, token_counter: Any = None
) -> CompactState:
    """The ``CompactState`` of ``messages`` (any accepted format): tokens and tool ids as the compact policy reads
    them, budget ``memory_compact_reserve``, system prompts protected (see the module docstring)."""
    items = validate_messages(messages)
    _check_tokens("memory_compact_reserve", memory_compact_reserve)
    counter = resolve_token_counter(token_counter)
    dicts = [to_compact_dict(m, i) for i, m in enumerate(items)]
    state = CompactState.from_messages(dicts, budget=memory_compact_reserve, token_counter=counter)
    return replace(state, protected=[is_system_prompt(m, i) for i, m in enumerate(items)])


def check_context(
    messages: list[Any],
    memory_compact_threshold: int,
    memory_compact_reserve: int = DEFAULT_COMPACT_RESERVE,
    token_counter: Any = None,
    policy: Any = None,
    trajectory: Any = None,
    rng: np.random.Generator | None = None,
    mode: Mode = "greedy",
    target: str | None = None,
    exploration: tuple[float, int] = (0.0, 0),
) -> tuple[list[Any], list[Any], bool, Decision | None]:
    """``(messages_to_compact, messages_to_keep, is_valid, decision)``: the message objects themselves, each list
    in the original order.

    - total tokens below ``memory_compact_threshold``: ``([], messages, True, None)`` (no decision);
    - else the ``policy`` (default ``HeuristicCompactPolicy()``) decides in ``mode`` (``greedy`` or ``sample``,
      with ``rng``); the decision is appended to ``trajectory`` (a ``TrajectoryLog``) when given; a valid split
      returns its two lists and ``True``; an invalid one ``([], messages, False, decision)`` (ReMe's skip).

    ``token_counter`` is a callable ``text -> tokens`` or an object with ``count_text`` (default ReMe's rule
    count). ``target`` (when given) is recorded on the decision, so its rewards can be checked against a caller's
    targets. ``exploration`` is ``(epsilon, seed)`` of the compact rule (``policies.exploration.compact``;
    ``reme.policy.explore``): at 0, the policy's split alone. Malformed messages or arguments raise
    ``BadInputError``; the ``ReMeLight`` method turns any error into ReMe's ``([], messages, False)``."""
    items = validate_messages(messages)
    _check_tokens("memory_compact_threshold", memory_compact_threshold)
    if mode not in ("greedy", "sample"):
        raise BadInputError(f"mode must be 'greedy' or 'sample', got {mode!r}")
    state = build_compact_state(items, memory_compact_reserve, token_counter)
    if not items or state.total_tokens < memory_compact_threshold:
        return [], messages, True, None
    chooser = policy if policy is not None else HeuristicCompactPolicy()
    state = explore_gates(state, exploration)
    decision: Decision = chooser.decide(state, mode=mode, rng=rng)
    if target is not None:
        decision.extra["target"] = target
    if trajectory is not None:
        trajectory.append(decision)
    to_compact, to_keep, valid = apply(state, decision)
    log.info(
        "check_context: %d tokens >= threshold %d; %s keeps %d of %d messages (%s)",
        state.total_tokens,
        memory_compact_threshold,
        decision.policy,
        len(to_keep),
        len(items),
        "valid" if valid else "invalid: compaction skipped",
    )
    if not valid:
        return [], messages, False, decision
    return [items[i] for i in to_compact], [items[i] for i in to_keep], True, decision


def explore_gates(state: CompactState, exploration: tuple[float, int]) -> CompactState:
    """``state`` with the compact exploration rule attached when its epsilon is above 0 (``reme.policy.explore``;
    a fresh draw key per decision), else ``state`` itself."""
    epsilon, seed = exploration
    if epsilon <= 0:
        return state
    return replace(state, exploration=GateExploration(float(epsilon), int(seed), uuid.uuid4().hex))


def compact_exploration(settings: Any) -> tuple[float, int]:
    """``(epsilon, seed)`` of a workspace's compact exploration (``policies.exploration``) for ``check_context``."""
    rule = settings.policies.exploration
    return float(rule.compact), int(rule.seed)
