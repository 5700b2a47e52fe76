"""OpenAI Agents SDK integration (the ``openai-agents`` extra): memory tools for an ``Agent``, and run hooks that
send the run's outcome back as a reward on the searches made during the run.

- ``MemoryTools(memory, target)`` holds two ``function_tool``s: ``remember(fact)`` stores a fact through the
  workspace's write policy (stored, updated or discarded; logged), and ``recall(query)`` searches (a logged ranking
  decision). Give ``tools.tools`` to ``Agent(tools=...)``.
- ``MemoryRunHooks(tools, outcome=...)`` is the ``RunHooks`` of one run: it collects the ids of the ranking
  decisions of the ``recall`` calls of that run (matched by tool-call id, so concurrent runs sharing one
  ``MemoryTools`` keep their decisions apart), and when the run ends, rewards them with ``outcome(final_output)``
  (source ``task``). ``hooks.reward(value)`` adds a reward later, e.g. the user's verdict (source ``feedback``).
- ``run_with_memory(agent, input, tools, outcome=...)`` is ``Runner.run`` with such hooks; it returns the result
  and the hooks.

Example::

    from agents import Agent, OpenAIChatCompletionsModel
    from reme.integrations.openai_agents import MemoryTools, run_with_memory

    tools = MemoryTools("./workspace", target="user:alice")
    agent = Agent(name="assistant", instructions="Use recall before answering.", tools=tools.tools, model=model)
    result, hooks = await run_with_memory(agent, "Where do I live now?", tools)
    hooks.reward(1.0)  # the user liked the answer: credit the searches behind it

Rewards are ``Memory.feedback(value, decision_id=...)`` records in the workspace's trajectory log, joined to their
decisions by ``reme.policy.rewards.join_rewards`` (and ``reme train-policy --from-trajectories``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import (  # type: ignore[import-not-found, unused-ignore]
    Agent,
    FunctionTool,
    RunContextWrapper,
    RunHooks,
    Runner,
    RunResult,
    Tool,
    function_tool,
)
from agents.run_context import AgentHookContext  # type: ignore[import-not-found, unused-ignore]
from agents.tool_context import ToolContext  # type: ignore[import-not-found, unused-ignore]

from reme.errors import BadInputError
from reme.memory import Memory
from reme.policy.trajectory import RewardEvent

__all__ = ["MemoryRunHooks", "MemoryTools", "run_with_memory"]

_MAX_UNCLAIMED_CALLS = 4096
"""Tool calls whose decisions no hook claimed (runs without ``MemoryRunHooks``) that are kept, newest."""

Outcome = Callable[[Any], float | None]
"""Scores a run's final output; ``None``: no reward for this run."""


class MemoryTools:
    """``remember`` / ``recall`` tools over one reme ``Memory`` and target (see the module docstring).

    Args:
        memory: an open ``Memory``, or a workspace directory to open one in (then ``close()`` closes it).
        target: the memory target read and written, e.g. ``user:alice``; ``None`` the default target.
        limit: memories ``recall`` returns.
        min_score: the fused-score floor of a hit (default the workspace's, 0.1).
        source: the ``metadata["source"]`` stamped on every memory ``remember`` writes.
    """

    def __init__(
        self,
        memory: Memory | str | Path,
        target: str | None = None,
        *,
        limit: int = 5,
        min_score: float | None = None,
        source: str = "openai-agents",
    ) -> None:
        self._owns_memory = not isinstance(memory, Memory)
        self.memory: Memory = memory if isinstance(memory, Memory) else Memory(memory)
        """The reme memory the tools read and write."""
        self.target = target
        """The memory target read and written."""
        self.limit = limit
        """Memories ``recall`` returns."""
        self.min_score = min_score
        """Fused-score floor of a hit (``None``: the workspace's)."""
        self.source = source
        """``metadata["source"]`` of the memories ``remember`` writes."""
        self._calls: OrderedDict[str, list[str]] = OrderedDict()  # tool-call id -> ranking decision ids
        self._lock = threading.Lock()
        self.remember: FunctionTool = function_tool(self._remember_fn(), name_override="remember")
        """The tool storing one fact."""
        self.recall: FunctionTool = function_tool(self._recall_fn(), name_override="recall")
        """The tool searching the memory."""

    @property
    def tools(self) -> list[Tool]:
        """Both tools, for ``Agent(tools=...)``."""
        return [self.remember, self.recall]

    def claim(self, tool_call_id: str) -> list[str]:
        """The ranking-decision ids of one ``recall`` call (``[]`` for other calls), handed over once."""
        with self._lock:
            return self._calls.pop(tool_call_id, [])

    def _note(self, tool_call_id: str, decision_id: str) -> None:
        with self._lock:
            self._calls.setdefault(tool_call_id, []).append(decision_id)
            while len(self._calls) > _MAX_UNCLAIMED_CALLS:
                self._calls.popitem(last=False)

    def _remember_fn(self) -> Callable[..., Any]:
        tools = self

        async def remember(ctx: ToolContext[Any], fact: str) -> str:
            """Save one fact worth remembering in later conversations (who, what, when, where), as a short
            self-contained statement.

            Args:
                fact: The fact to remember.
            """
            try:
                metadata = {"source": tools.source, "tool_call_id": ctx.tool_call_id}
                node = await asyncio.to_thread(tools.memory.add, fact, tools.target, metadata=metadata)
            except BadInputError as exc:
                return f"Error: {exc}"
            if node is None:
                return "Not stored: judged not worth keeping."
            return f"Remembered (memory {node.memory_id})."

        return remember

    def _recall_fn(self) -> Callable[..., Any]:
        tools = self

        async def recall(ctx: ToolContext[Any], query: str) -> str:
            """Search what is remembered: facts about the user, earlier conversations, past decisions. Returns a
            JSON list of memories, best first.

            Args:
                query: What to look for, e.g. a name, a place, a topic or a question.
            """
            try:
                decision, hits = await asyncio.to_thread(
                    tools.memory.search_with_decision, query, tools.limit, tools.target, min_score=tools.min_score
                )
            except BadInputError as exc:
                return f"Error: {exc}"
            tools._note(ctx.tool_call_id, decision.decision_id)
            found = [
                {"memory_id": h.memory.memory_id, "content": h.memory.content, "score": round(h.score, 4)} for h in hits
            ]
            return json.dumps(found, ensure_ascii=False) if found else "No matching memories."

        return recall

    def close(self) -> None:
        """Close the memory when this object opened it."""
        if self._owns_memory:
            self.memory.close()


class MemoryRunHooks(RunHooks[Any]):  # type: ignore[misc, unused-ignore]
    """The hooks of one run: collect the run's ``recall`` decisions and reward them (see the module docstring).

    Args:
        tools: the ``MemoryTools`` the run's agents use.
        outcome: scores the run's final output when it ends (``None``: no automatic reward).
        episode_id: stamped on the rewards, to group them per conversation.

    Subclass it (and call ``super()``) to add your own hooks to a run.
    """

    def __init__(self, tools: MemoryTools, *, outcome: Outcome | None = None, episode_id: str | None = None) -> None:
        super().__init__()
        self.tools = tools
        """The tools whose decisions are collected."""
        self.outcome = outcome
        """Scores the final output (``None``: no automatic reward)."""
        self.episode_id = episode_id
        """Stamped on the rewards."""
        self.decision_ids: list[str] = []
        """Ranking decisions of the run's ``recall`` calls, in call order."""
        self.rewards: list[RewardEvent] = []
        """Rewards logged for them so far."""

    async def on_tool_end(self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: object) -> None:
        call_id = getattr(context, "tool_call_id", None)
        if isinstance(call_id, str):
            self.decision_ids.extend(self.tools.claim(call_id))

    async def on_agent_end(self, context: AgentHookContext[Any], agent: Agent[Any], output: Any) -> None:
        if self.outcome is None:
            return
        value = self.outcome(output)
        if value is not None:
            self.reward(value, source="task")

    def reward(self, value: float, *, source: str = "feedback") -> list[RewardEvent]:
        """Credit ``value`` to every ranking decision of the run (``source``: ``task`` for an outcome, ``feedback``
        for a user's verdict, ``answer`` for a graded answer). Returns the reward records logged."""
        events = [
            self.tools.memory.feedback(value, decision_id=d, source=source, episode_id=self.episode_id)
            for d in self.decision_ids
        ]
        self.rewards.extend(events)
        return events


async def run_with_memory(
    agent: Agent[Any],
    input: Any,
    tools: MemoryTools,
    *,
    outcome: Outcome | None = None,
    episode_id: str | None = None,
    **runner_kwargs: Any,
) -> tuple[RunResult, MemoryRunHooks]:
    """``Runner.run(agent, input, hooks=MemoryRunHooks(tools, ...), **runner_kwargs)``: returns the run's result and
    its hooks (``hooks.decision_ids``, ``hooks.reward(value)`` for feedback that arrives later)."""
    hooks = MemoryRunHooks(tools, outcome=outcome, episode_id=episode_id)
    result = await Runner.run(agent, input, hooks=hooks, **runner_kwargs)
    return result, hooks
