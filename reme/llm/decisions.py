"""LLM outputs as decisions: the log-probability of the text that expressed an action, recorded in the trajectory.

``reme trajectories verify`` checks that an LLM decision's (policy name ``llm-*``) ``logprob`` is the sum of
``extra["token_logprobs"]``, the per-token log-probabilities the model returned for the
span of its output that expressed the action (a tool call, ``[SILENT]``, a summary). When the endpoint returned no
log-probabilities the decision is recorded with ``logprob: null`` and ``trainable: false``, never a made-up number.
The decision of an in-process model, given its ``prompt``, is also re-scored by that model (``reme.llm.replay``).
"""

from __future__ import annotations

import math
from typing import Any

from reme.policy.decision import Decision, DecisionKind

__all__ = ["llm_decision", "span_token_logprobs"]


def span_token_logprobs(result: Any, start: int = 0, end: int | None = None) -> list[float] | None:
    """The log-probabilities of the output tokens of ``result`` (a ``ChatResult``) that overlap
    ``text[start:end]`` (``ChatResult.span_token_logprobs``), clipped to <= 0 (a server that rounds a near-certain
    token above 0). ``None`` when the result carries no log-probabilities, or unusable ones (not finite)."""
    logprobs: list[float] | None = getattr(result, "token_logprobs", None)
    if logprobs is None:
        return None
    end = len(result.text) if end is None else end
    if getattr(result, "tokens", None) is not None and hasattr(result, "span_token_logprobs"):
        picked = result.span_token_logprobs(start, end)
    elif (start, end) == (0, len(result.text)):  # no token pieces: only the whole output can be attributed
        picked = list(logprobs)
    else:
        return None
    if picked is None:
        return None
    try:
        out = [min(float(t), 0.0) for t in picked]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(t) for t in out) else None


def llm_decision(
    kind: DecisionKind,
    policy: str,
    action: Any,
    result: Any,
    *,
    start: int = 0,
    end: int | None = None,
    model: str | None = None,
    inputs: dict[str, Any] | None = None,
    memory_ids: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    prompt: list[dict[str, Any]] | None = None,
) -> Decision:
    """A ``Decision`` for an action an LLM expressed in ``result.text[start:end]``: ``logprob`` is the sum of that
    span's token log-probabilities (``None`` and ``trainable=False`` without them), ``extra["token_logprobs"]``
    holds them, ``version`` is the model name. ``prompt`` (the messages the model was given) makes the decision of an
    in-process model re-scorable: its token ids and the prompt go into ``extra["replay"]`` (``reme.llm.replay``)."""
    tokens = span_token_logprobs(result, start, end)
    record_extra: dict[str, Any] = {
        "token_logprobs": tokens,
        "span": [start, len(result.text) if end is None else end],
        "backend": getattr(result, "backend", ""),
        **(extra or {}),
    }
    if prompt is not None and tokens is not None and hasattr(result, "span_token_indices"):
        from reme.llm.replay import replay_record

        stop = len(result.text) if end is None else end
        replay = replay_record(result, prompt, result.span_token_indices(start, stop))
        if replay is not None:  # an in-process model: `reme trajectories verify` re-runs it on these ids
            record_extra["replay"] = replay
    logprob = None if tokens is None else math.fsum(tokens)
    return Decision(
        kind=kind,
        policy=policy,
        version=model or getattr(result, "model", "") or "unknown",
        mode="sample",
        action=action,
        logprob=logprob,
        inputs=inputs or {},
        memory_ids=memory_ids or [],
        extra=record_extra,
    )
