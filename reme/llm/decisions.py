"""LLM outputs as decisions: the log-probability of the text that expressed an action, recorded in the trajectory.

An LLM decision (policy name ``llm-*``) is not re-scored by the audit: ``reme trajectories verify`` checks that its
``logprob`` is the sum of ``extra["token_logprobs"]``, the per-token log-probabilities the model returned for the
span of its output that expressed the action (a tool call, ``[SILENT]``, a summary). When the endpoint returned no
log-probabilities the decision is recorded with ``logprob: null`` and ``trainable: false``, never a made-up number.
"""

from __future__ import annotations

from typing import Any

from reme.policy.decision import Decision, DecisionKind

__all__ = ["llm_decision", "span_token_logprobs"]


def span_token_logprobs(result: Any, start: int = 0, end: int | None = None) -> list[float] | None:
    """The log-probabilities of the output tokens of ``result`` (a ``ChatResult``) that overlap ``text[start:end]``.

    Tokens are located by their cumulative character offsets; when the pieces do not concatenate to the text (some
    servers normalise whitespace), each piece is found with ``str.find`` after the previous one. ``None`` when the
    result carries no log-probabilities."""
    tokens: list[str] | None = getattr(result, "tokens", None)
    logprobs: list[float] | None = getattr(result, "token_logprobs", None)
    if logprobs is None:
        return None
    text: str = result.text
    end = len(text) if end is None else end
    if tokens is None or len(tokens) != len(logprobs):
        return list(logprobs) if (start, end) == (0, len(text)) else None
    out: list[float] = []
    exact = "".join(tokens) == text
    position = 0
    for piece, lp in zip(tokens, logprobs):
        if exact:
            begin = position
        else:
            found = text.find(piece, position) if piece else position
            begin = position if found < 0 else found
        stop = begin + len(piece)
        position = stop
        if (begin < end and stop > start) or (not piece and start <= begin < end):
            out.append(float(lp))
    return out


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
) -> Decision:
    """A ``Decision`` for an action an LLM expressed in ``result.text[start:end]``: ``logprob`` is the sum of that
    span's token log-probabilities (``None`` and ``trainable=False`` without them), ``extra["token_logprobs"]``
    holds them, ``version`` is the model name."""
    tokens = span_token_logprobs(result, start, end)
    if tokens is not None:
        tokens = [min(float(t), 0.0) for t in tokens]  # a server that rounds a near-certain token above 0
    record_extra: dict[str, Any] = {
        "token_logprobs": tokens,
        "span": [start, len(result.text) if end is None else end],
        "backend": getattr(result, "backend", ""),
        **(extra or {}),
    }
    logprob = None if tokens is None else float(sum(tokens))
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
