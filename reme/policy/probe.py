"""A learned policy decides once on a probe state before it is accepted (activation, ``eval --policy``, serving).

A checkpoint can pass every check of its files and still fail every live decision (weights that overflow, a head
that returns NaN). Activation must not be where that is found out: ``probe`` builds a small state of the policy's
kind with this version's live features, asks for a greedy and a sampled decision, and requires finite scores and
log-probabilities. It raises ``BadInputError`` with the cause in one line.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reme.errors import BadInputError

__all__ = ["probe", "probe_state"]


def probe_state(kind: str, rng: np.random.Generator) -> Any:
    """A small, well-formed state of ``kind`` (features drawn at random, as a live decision's could be)."""
    if kind == "rank":
        from reme.policy.feature_sets import live_features
        from reme.policy.rank import RankState

        names = live_features("rank")
        features = rng.uniform(0.0, 1.0, size=(12, len(names))).astype(np.float32)
        return RankState(features, 5, [f"probe{i}" for i in range(12)], names)
    if kind == "write":
        from reme.policy.write import make_write_state

        return make_write_state("Alice moved to Lisbon in May.", "probe", 0.42, "Alice lives in Porto.", "user")
    if kind == "compact":
        from reme.policy.compact import CompactState

        roles = ["system", "user", "assistant", "user", "assistant", "user"]
        return CompactState(
            tokens=[40, 300, 900, 120, 700, 60],
            roles=roles,
            tool_use_ids=[[] for _ in roles],
            tool_result_ids=[[] for _ in roles],
            protected=[r == "system" for r in roles],
            budget=600,
        )
    raise BadInputError(f"unknown decision kind {kind!r}")


def probe(policy: Any, where: str = "") -> None:
    """Decide on a probe state (greedy and sampled); ``BadInputError`` unless both are finite."""
    label = where or f"{getattr(policy, 'kind', '?')} policy {getattr(policy, 'name', '?')}"
    rng = np.random.default_rng(0)
    state = probe_state(policy.kind, rng)
    try:
        for mode in ("greedy", "sample"):
            decision = policy.decide(state, mode=mode, rng=rng)
            if decision.logprob is not None and not np.isfinite(decision.logprob):
                raise ValueError(f"a {mode} decision has log-probability {decision.logprob}")
        scores = getattr(policy, "scores", None)
        if callable(scores) and policy.kind == "rank" and not np.isfinite(np.asarray(scores(state))).all():
            raise ValueError("its scores are not finite")
    except BadInputError:
        raise
    except Exception as exc:  # whatever a broken head raises, the answer is the same refusal
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{label} fails on a probe state: {first}") from None
