"""The record of one LLM call of the ReMe face (the summarizer's proposal, the retrieval answer) as a ``Decision``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reme.policy.decision import Decision, DecisionKind

__all__ = ["LLM_RETRIEVE_POLICY", "LLM_SUMMARIZER_POLICY", "llm_call_decision"]

LLM_SUMMARIZER_POLICY = "llm-vector-summarizer"
"""Policy name of the LLM call that proposes memories in ``summarize_memory`` (a ``write`` decision)."""
LLM_RETRIEVE_POLICY = "llm-retrieve-synthesis"
"""Policy name of the LLM call that answers from the retrieved memories in ``retrieve_memory`` (a ``rank``
decision: it is the last step of the read path, and a reward for the answer belongs to it)."""


def llm_call_decision(
    client: Any,
    kind: DecisionKind,
    policy: str,
    action: Any,
    result: Any,
    prompt: list[dict],
    memory_ids: list[str],
    **extra: Any,
) -> Decision:
    """The record of one LLM call (``reme.llm.decisions.llm_decision``) of ``client``: the whole output expresses
    the action, so ``logprob`` is the sum of all its token log-probabilities, ``None`` when the backend gave none."""
    from reme.llm.decisions import llm_decision

    return llm_decision(
        kind,
        policy,
        action,
        result,
        model=getattr(result, "model", "") or getattr(client, "model", "") or "unknown",
        inputs={"messages": prompt},
        memory_ids=memory_ids,
        prompt=prompt,
        extra={
            "tokens": getattr(result, "tokens", None) if getattr(result, "token_logprobs", None) is not None else None,
            "text": result.text,
            "finish_reason": getattr(result, "finish_reason", None),
            **extra,
        },
    )
