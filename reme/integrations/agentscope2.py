"""AgentScope 2.x integration: the compact policy decides what an agent keeps verbatim when it compresses its context.

AgentScope 2.x replaced 1.x's long-term-memory interface with middlewares. Two pieces make an AgentScope 2 agent
run on this project:

- **Long-term memory**: AgentScope's own ``agentscope.middleware.ReMeMiddleware`` embeds ``reme.ReMe(**config)``
  (ReMe 0.4's application) and drives its ``search`` and ``auto_memory`` jobs; on this project those are a logged
  rank decision and LLM write decisions (``reme.application``). Nothing to add: install this project in place of
  ``reme-ai``.
- **Compaction**: ``ReMeCompactMiddleware`` (this module) hooks ``on_compress_context``. AgentScope compresses by
  summarising the oldest messages and keeping a recent tail that fits ``reserve_ratio * context_size`` tokens; here
  the workspace's compact policy (``reme.yaml``'s ``policies.compact``; ReMe's tail-reserve rule by default, or a
  learned gate) decides which messages stay, its decision (with its log-probability) is logged, and the kept tail is
  handed to AgentScope as the reserve of that compression. AgentScope keeps a contiguous tail, so a policy that keeps
  older messages past a compacted one is applied as its longest kept tail (the decision records what it chose).
  ``reward(value)`` after the task credits the compactions since the last reward.

Example::

    from agentscope.agent import Agent
    from agentscope.middleware import ReMeMiddleware
    from reme.integrations.agentscope2 import ReMeCompactMiddleware

    compact = ReMeCompactMiddleware("./workspace")
    agent = Agent(name="Friday", system_prompt="...", model=model,
                  middlewares=[ReMeMiddleware(workspace_dir="./workspace/notes"), compact])
    ...
    compact.reward(1.0)  # the task succeeded
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from agentscope.middleware import MiddlewareBase  # type: ignore[import-not-found, unused-ignore]

from reme.memory import Memory
from reme.policy.compact import CompactState, apply
from reme.policy.trajectory import RewardEvent
from reme.reme_light.context import compact_exploration, explore_gates

log = logging.getLogger(__name__)

__all__ = ["ReMeCompactMiddleware", "as_compact_dicts"]

MAX_RESERVE_RATIO = 0.89
"""AgentScope's ``ContextConfig.reserve_ratio`` must stay below 0.9."""


def as_compact_dicts(messages: list[Any]) -> list[dict[str, Any]]:
    """AgentScope 2.x messages as the dicts ``CompactState.from_messages`` reads (``tool_call`` blocks named
    ``tool_use``, as in 1.x)."""
    out = []
    for message in messages:
        data = message.model_dump(mode="json") if hasattr(message, "model_dump") else dict(message)
        blocks = []
        for block in data.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_call":
                block = {**block, "type": "tool_use"}
            blocks.append(block)
        out.append({**data, "content": blocks})
    return out


class ReMeCompactMiddleware(MiddlewareBase):  # type: ignore[misc, unused-ignore]
    """The compact decision of an AgentScope 2.x agent (see the module docstring).

    Args:
        workspace: the workspace whose ``reme.yaml`` names the compact policy and whose log receives the decisions.
        policy: a compact policy to use instead (its decisions must stay replayable: a heuristic or a registered
            version).
        mode: ``greedy`` (serving) or ``sample`` (collecting on-policy data).
    """

    def __init__(self, workspace: str | Path = ".reme", *, policy: Any = None, mode: str | None = None) -> None:
        self.memory = Memory(workspace)
        if policy is None:
            from reme.policy.guard import load_guarded

            policies = self.memory.settings.policies
            policy = load_guarded(self.memory.workspace.root, "compact", policies.compact, policies.on_failure)
        self.policy = policy
        self.mode = mode or self.memory.settings.mode
        self._rng = np.random.default_rng()
        self.pending: list[str] = []
        """Compaction decisions since the last ``reward``."""
        self.applied: list[dict[str, Any]] = []
        """Each compression: its ``decision_id``, the messages the policy kept (``kept_by_policy``) and the messages
        the agent's context held right after it (``kept``)."""

    async def on_compress_context(
        self, agent: Any, input_kwargs: dict[str, Any], next_handler: Callable[..., Any]
    ) -> None:
        config = input_kwargs.get("context_config") or agent.context_config
        context = list(agent.state.context)
        if not context:
            await next_handler(**input_kwargs)
            return
        size = int(agent.model.context_size)
        model_input = await agent._prepare_model_input()  # prepared once: the threshold test and the reserve
        if not await _over_threshold(agent, config, model_input):  # AgentScope would not compress: nothing to decide
            await next_handler(**input_kwargs)
            return
        budget = int(config.reserve_ratio * size)
        state = CompactState.from_messages(as_compact_dicts(context), budget=budget)
        state = explore_gates(state, compact_exploration(self.memory.settings))  # the workspace's exploration
        decision = self.policy.decide(state, self.mode, self._rng)
        self.memory.log_decision(decision, self.policy, integration="agentscope2", agent=getattr(agent, "name", ""))
        self.pending.append(decision.decision_id)
        to_compact, _, valid = apply(state, decision)
        if not valid or not to_compact:  # the policy keeps everything (or its split is unusable): no compression
            return
        tail = len(context) - (max(to_compact) + 1)
        reserve = await _reserve_for_tail(agent, context, tail, model_input.get("tools"))
        ratio = min(MAX_RESERVE_RATIO, max(1e-6, reserve / max(1, size)))
        await next_handler(**{**input_kwargs, "context_config": config.model_copy(update={"reserve_ratio": ratio})})
        kept = len(agent.state.context)
        self.applied.append({"decision_id": decision.decision_id, "kept_by_policy": tail, "kept": kept})
        if kept != tail:
            log.warning("AgentScope kept %d messages where the compact policy kept %d", kept, tail)

    def reward(self, value: float, source: str = "task") -> list[RewardEvent]:
        """Credit the compactions since the last call (``value`` in [-1, 1])."""
        events = [self.memory.feedback(value, decision_id=d, source=source) for d in self.pending]
        self.pending = []
        return events

    def close(self) -> None:
        self.memory.close()


async def _over_threshold(agent: Any, config: Any, model_input: dict[str, Any]) -> bool:
    """Whether the agent's next model input exceeds ``trigger_ratio * context_size`` in AgentScope's own count (the
    test ``compress_context`` makes before compressing)."""
    return bool(await agent.model.count_tokens(**model_input) >= config.trigger_ratio * agent.model.context_size)


async def _reserve_for_tail(agent: Any, context: list[Any], tail: int, tools: Any) -> float:
    """The reserve (in AgentScope's own token count) under which AgentScope keeps exactly the last ``tail``
    messages: just above their count, so its split stops at the message before them and keeps none of its blocks."""
    from agentscope.message import SystemMsg, UserMsg  # type: ignore[import-not-found, unused-ignore]

    system = [SystemMsg(name="system", content=await agent._get_system_prompt())]
    if agent.state.summary:
        system.append(UserMsg("user", agent.state.summary))
    start = max(0, len(context) - tail)
    return float(await agent.model.count_tokens(system + context[start:], tools)) + 0.01
