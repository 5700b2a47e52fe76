"""``compact``: one conversation through the workspace's compact policy and the LLM compactor, for the HTTP
service (``POST /v1/compact``) and the MCP tool ``compact_messages``.

The compact policy (the workspace's active one, ``reme.yaml``; ReMe's tail reserve by default) decides which
messages stay verbatim when the conversation holds at least ``memory_compact_threshold`` tokens; that decision is
logged with its log-probability. The compacted messages then go to the LLM compactor (ReMe's structured summary,
itself a logged decision). A failed or invalid summary compacts nothing: every message is kept, nothing is lost.
Without an LLM (or with ``summarize: false``) the split is returned without a summary, for the caller to summarise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["CompactIn", "CompactOut", "Compaction", "active_compact_policy", "compact"]


class CompactIn(BaseModel):
    """A conversation, and ReMe's compaction settings."""

    messages: list[dict[str, Any]] = Field(max_length=100_000)
    """OpenAI-style (``role``, ``content``, ``tool_calls``, ``tool_call_id``) or AgentScope-style messages."""
    memory_compact_threshold: int | None = Field(default=None, ge=0)
    """Compact when the messages hold at least this many tokens (default ReMe's, from the next two)."""
    max_input_length: int = Field(default=128 * 1024, ge=1)
    compact_ratio: float = Field(default=0.7, gt=0, le=1)
    memory_compact_reserve: int = Field(default=10000, ge=0)
    """Tokens that may stay verbatim."""
    summarize: bool = True
    """Summarise the compacted messages with the server's LLM (when it has one)."""
    previous_summary: str = ""
    language: str = "en"
    target: str | None = None
    """The target the compact decision is logged under (default ``default``); a token must hold it."""


class CompactOut(BaseModel):
    """The outcome: ``compacted`` holds the positions of the messages summarised away, ``kept`` the messages to
    keep verbatim (in order); ``decision_id`` names the logged compact decision (``null`` below the threshold)."""

    decision_id: str | None = None
    policy: str | None = None
    valid: bool = True
    """False when the policy's split broke a hard constraint (then nothing is compacted: ReMe's skip)."""
    compacted: list[int] = Field(default_factory=list)
    kept: list[dict[str, Any]] = Field(default_factory=list)
    summary: str | None = None
    summary_error: str | None = None


async def compact(
    body: CompactIn,
    *,
    memory: Any,
    policy: Any,
    llm: Any,
    locked: Callable[..., Awaitable[Any]],
) -> CompactOut:
    """Compact ``body.messages`` (see the module docstring). ``locked(fn, *args)`` runs ``fn`` off the event loop
    under the workspace's lock; the LLM call runs outside it."""
    from reme.reme_light.compactor import run_compactor
    from reme.reme_light.context import calculate_memory_compact_threshold, check_context, compact_exploration
    from reme.reme_light.formatting import format_messages

    threshold = body.memory_compact_threshold
    if threshold is None:
        threshold = calculate_memory_compact_threshold(body.max_input_length, body.compact_ratio)
    from reme.schema import normalize_target

    target = normalize_target(body.target)
    to_compact, _, valid, decision = await locked(
        lambda: check_context(
            body.messages,
            threshold,
            body.memory_compact_reserve,
            None,
            policy,
            memory.trajectory,
            target=target,
            exploration=compact_exploration(memory.settings),
        )
    )
    positions = {id(m): i for i, m in enumerate(body.messages)}
    compacted = sorted(positions[id(m)] for m in to_compact)
    out = CompactOut(
        decision_id=decision.decision_id if decision is not None else None,
        policy=decision.policy if decision is not None else None,
        valid=valid,
    )
    if compacted and body.summarize and llm is not None:
        transcript = format_messages([body.messages[i] for i in compacted], threshold)
        result = await run_compactor(
            transcript, llm=llm, previous_summary=body.previous_summary, language=body.language
        )
        if result.decision is not None:
            summary_decision = result.decision
            await locked(lambda: memory.log_decision(summary_decision, None, target=target))
        if result.is_valid:
            out.summary = result.summary
        else:
            out.summary_error, compacted = result.error, []
    elif compacted and body.summarize:
        out.summary_error = "the server has no LLM: the compacted messages are returned unsummarised"
    keep = sorted(set(range(len(body.messages))) - set(compacted))
    out.compacted = compacted
    out.kept = [body.messages[i] for i in keep]
    return out


def active_compact_policy(memory: Any) -> Any:
    """The workspace's active compact policy (``policies.compact`` of ``reme.yaml``; the heuristic by default)."""
    from reme.policy.guard import load_guarded

    policies = memory.settings.policies
    return load_guarded(memory.workspace.root, "compact", policies.compact, policies.on_failure)


class Compaction:
    """``compact`` over one workspace with its active compact policy, loaded on first use and kept: the shared body
    of ``POST /v1/compact`` and the MCP tool ``compact_messages``."""

    def __init__(self, memory: Any, llm: Any) -> None:
        self.memory = memory
        self.llm = llm
        self._policy: list[Any] = []  # empty until loaded

    def policy(self) -> Any:
        """The workspace's active compact policy (call it under the workspace lock: it loads once)."""
        if not self._policy:
            self._policy.append(active_compact_policy(self.memory))
        return self._policy[0]

    async def __call__(self, body: CompactIn, locked: Callable[..., Awaitable[Any]]) -> CompactOut:
        """Compact ``body.messages``; ``locked(fn, *args)`` runs ``fn`` off the event loop under the lock."""
        policy = await locked(self.policy)
        return await compact(body, memory=self.memory, policy=policy, llm=self.llm, locked=locked)
