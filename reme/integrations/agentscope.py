"""AgentScope 1.x integration (the ``agentscope`` extra): reme as an agent's long-term memory, and ReMeLight's
context compaction as a ReAct agent's pre-reasoning hook.

``ReMeLongTermMemory`` follows ``agentscope.memory.LongTermMemoryBase``, so it plugs into ``ReActAgent(...,
long_term_memory=ltm, long_term_memory_mode=...)``:

- ``agent_control``: the agent gets the tools ``record_to_memory`` and ``retrieve_from_memory``;
- ``static_control``: the agent calls ``retrieve`` with each input and ``record`` with its working memory after each
  reply;
- ``both`` (AgentScope's default): both.

Every write goes through the workspace's write policy (stored, updated or discarded; the decision is logged) and
every retrieval is a logged ranking decision. The memory keeps the ids of the retrieval decisions made since the
last reward, so ``ltm.reward(1.0)`` after a task succeeded (or ``ltm.reward(-1.0, source="feedback")`` when the user
disliked the answer) is joined to exactly the searches that fed the agent (``reme.policy.rewards.join_rewards``).

``register_pre_reasoning_hook(agent, reme_light)`` runs ``ReMeLight.pre_reasoning_hook`` before each reasoning step
of the agent, the way QwenPaw / CoPaw wire ReMe: old tool results are truncated, and when the context is over the
threshold the compact policy splits it, the leaving messages are summarised into the agent memory's compressed
summary and written to long-term memory in the background.

Example::

    from agentscope.agent import ReActAgent
    from reme.integrations.agentscope import ReMeLongTermMemory

    ltm = ReMeLongTermMemory("./workspace", target="user:alice")
    agent = ReActAgent(name="Friday", sys_prompt="...", model=model, formatter=formatter, long_term_memory=ltm)
    reply = await agent(Msg("user", "Where do I live now?", "user"))
    ltm.reward(1.0)  # the task succeeded: credit the searches behind the reply

AgentScope 2.x replaced this interface with middlewares; this module needs ``agentscope>=1.0.17,<2`` (which in turn
needs ``mcp<2`` and ``greenlet`` to import; the extra pins them). With openai>=3, build AgentScope 1.x's
``OpenAIChatModel`` with ``stream=False``: its streaming parser fails on openai 3's deltas (``audio=None``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from agentscope.memory import LongTermMemoryBase  # type: ignore[import-not-found, unused-ignore]
from agentscope.message import Msg, TextBlock  # type: ignore[import-not-found, unused-ignore]
from agentscope.tool import ToolResponse  # type: ignore[import-not-found, unused-ignore]

from reme.errors import BadInputError
from reme.memory import Memory
from reme.policy.trajectory import RewardEvent
from reme.schema import SearchHit

log = logging.getLogger(__name__)

__all__ = ["ReMeLongTermMemory", "memory_search_decisions", "register_pre_reasoning_hook"]

RETRIEVED_MSG_NAME = "long_term_memory"
"""Name AgentScope's ReActAgent gives the message that carries retrieved memories (never recorded back)."""

COMPRESSED_MARK = "compressed"
"""The mark of compacted messages in an AgentScope working memory (``ReActAgent``'s ``_MemoryMark.COMPRESSED``)."""


def _tool_text(text: str, **metadata: Any) -> Any:
    """A ``ToolResponse`` holding one text block (and ``metadata`` for the host, not the model)."""
    return ToolResponse(content=[TextBlock(type="text", text=text)], metadata=metadata or None)


def _msg_text(msg: Any) -> str:
    """The text blocks of an AgentScope message, joined; ``""`` when it holds none."""
    getter = getattr(msg, "get_text_content", None)
    text = getter() if callable(getter) else getattr(msg, "content", None)
    return text.strip() if isinstance(text, str) else ""


class ReMeLongTermMemory(LongTermMemoryBase):  # type: ignore[misc, unused-ignore]
    """AgentScope long-term memory backed by a reme ``Memory`` (see the module docstring).

    Args:
        memory: an open ``Memory``, or a workspace directory to open one in (then ``close()`` closes it).
        target: the memory target (namespace) read and written, e.g. ``user:alice``; ``None`` the default target.
        limit: memories ``retrieve`` returns (the agent picks its own for ``retrieve_from_memory``, default 5).
        min_score: the fused-score floor of a hit (default the workspace's, 0.1).
        record_roles: roles of the messages that ``record`` stores (tool results, of role ``system``, are skipped
            by default).
        source: the ``metadata["source"]`` stamped on every memory written here.
    """

    def __init__(
        self,
        memory: Memory | str | Path,
        target: str | None = None,
        *,
        limit: int = 5,
        min_score: float | None = None,
        record_roles: Sequence[str] = ("user", "assistant"),
        source: str = "agentscope",
    ) -> None:
        super().__init__()
        self._owns_memory = not isinstance(memory, Memory)
        self.memory: Memory = memory if isinstance(memory, Memory) else Memory(memory)
        """The reme memory every record and retrieval goes to."""
        self.target = target
        """The memory target read and written."""
        self.limit = limit
        """Memories ``retrieve`` returns."""
        self.min_score = min_score
        """Fused-score floor of a hit (``None``: the workspace's)."""
        self.record_roles = tuple(record_roles)
        """Roles of the messages ``record`` stores."""
        self.source = source
        """``metadata["source"]`` of the memories written here."""
        self.pending_decisions: list[str] = []
        """Ids of the retrieval decisions made since the last ``reward``, oldest first."""
        self.last_hits: list[SearchHit] = []
        """The hits of the most recent retrieval (all keywords of a tool call together)."""
        self._recorded: set[str] = set()  # AgentScope re-sends the whole working memory to record() every reply

    # ------------------------------------------------------------------------------------------ plumbing
    async def _search(self, query: str, limit: int) -> tuple[str, list[SearchHit]]:
        """One logged search: its decision id (also added to ``pending_decisions``) and its hits."""
        decision, hits = await asyncio.to_thread(
            self.memory.search_with_decision, query, limit, self.target, min_score=self.min_score
        )
        self.pending_decisions.append(decision.decision_id)
        return decision.decision_id, hits

    async def _add(self, text: str, *, author: str = "", message_time: str = "", **metadata: Any) -> str | None:
        """Store one text through the write policy; the memory id written, or ``None`` when it was discarded."""
        node = await asyncio.to_thread(
            self.memory.add,
            text,
            self.target,
            author=author,
            message_time=message_time,
            metadata={"source": self.source, **metadata},
        )
        return node.memory_id if node is not None else None

    @staticmethod
    def _format(hits: Sequence[SearchHit]) -> str:
        return "\n".join(f"- {hit.memory.content}" for hit in hits)

    # ------------------------------------------------------------------------------------ developer API
    async def record(self, msgs: list[Msg | None], **kwargs: Any) -> list[str]:
        """Store the text of each message not stored before (by message id) whose role is in ``record_roles``,
        through the write policy. Retrieved-memory messages and messages without text are skipped. Returns the
        ids of the memories written (discarded ones are not)."""
        written: list[str] = []
        for msg in msgs or []:
            if msg is None or getattr(msg, "name", "") == RETRIEVED_MSG_NAME:
                continue
            msg_id = str(getattr(msg, "id", "") or "")
            if msg_id and msg_id in self._recorded:
                continue
            text = _msg_text(msg)
            if getattr(msg, "role", None) not in self.record_roles or not text:
                continue
            try:
                memory_id = await self._add(
                    text,
                    author=str(getattr(msg, "name", "") or ""),
                    message_time=str(getattr(msg, "timestamp", "") or ""),
                    role=str(msg.role),
                    msg_id=msg_id,
                )
            except BadInputError as exc:  # e.g. a timestamp that is not ISO 8601: store without it
                log.debug("record: %s; storing without the message time", exc)
                memory_id = await self._add(text, role=str(msg.role), msg_id=msg_id)
            if msg_id:
                self._recorded.add(msg_id)
            if memory_id is not None:
                written.append(memory_id)
        return written

    async def retrieve(self, msg: Msg | list[Msg] | None, limit: int | None = None, **kwargs: Any) -> str:
        """Search with the text of the input message(s) (``limit`` hits, default ``self.limit``); the hits as
        ``- text`` lines (``""`` when none). The search is a logged ranking decision, added to
        ``pending_decisions``."""
        msgs = msg if isinstance(msg, list) else [msg]
        query = "\n".join(text for m in msgs if m is not None and (text := _msg_text(m)))
        if not query:
            return ""
        _, self.last_hits = await self._search(query, limit or self.limit)
        return self._format(self.last_hits)

    # -------------------------------------------------------------------------------------- agent tools
    async def record_to_memory(self, thinking: str, content: list[str], **kwargs: Any) -> ToolResponse:
        """Save facts worth remembering for later conversations: who, what, when, where, and why, one
        self-contained statement per item.

        Args:
            thinking (`str`):
                Why these facts are worth remembering.
            content (`list[str]`):
                The facts to remember, one short statement each.
        """
        if isinstance(content, str):
            content = [content]
        stored = discarded = 0
        ids: list[str] = []
        for item in content or []:
            if not isinstance(item, str) or not item.strip():
                continue
            try:
                memory_id = await self._add(item.strip(), reason=thinking or "")
            except BadInputError as exc:
                return _tool_text(f"Error: {exc}")
            if memory_id is None:
                discarded += 1
            else:
                stored += 1
                ids.append(memory_id)
        return _tool_text(f"Remembered {stored} fact(s); {discarded} judged not worth keeping.", memory_ids=ids)

    async def retrieve_from_memory(self, keywords: list[str], limit: int = 5, **kwargs: Any) -> ToolResponse:
        """Look up what is remembered about some keywords (names, places, dates, topics). Each keyword is
        searched on its own.

        Args:
            keywords (`list[str]`):
                Specific, short search terms, e.g. a person's name, a place, a date.
            limit (`int`, optional):
                How many memories to return per keyword. Defaults to 5.
        """
        if isinstance(keywords, str):
            keywords = [keywords]
        queries = [k.strip() for k in keywords or [] if isinstance(k, str) and k.strip()]
        if not queries:
            return _tool_text("Error: give at least one non-empty keyword")
        limit = min(50, max(1, int(limit or self.limit)))
        seen: set[str] = set()
        hits: list[SearchHit] = []
        decisions: list[str] = []
        for query in queries:
            try:
                decision_id, found = await self._search(query, limit)
            except BadInputError as exc:
                return _tool_text(f"Error: {exc}")
            decisions.append(decision_id)
            for hit in found:
                if hit.memory.memory_id not in seen:
                    seen.add(hit.memory.memory_id)
                    hits.append(hit)
        self.last_hits = hits
        text = self._format(hits) if hits else "No matching memories."
        return _tool_text(text, decision_ids=decisions, memory_ids=[h.memory.memory_id for h in hits])

    # ------------------------------------------------------------------------------------------- rewards
    def reward(self, value: float, *, source: str = "task", episode_id: str | None = None) -> list[RewardEvent]:
        """Credit ``value`` to every retrieval decision made since the last reward (a task outcome: ``source=
        "task"``; a user's verdict: ``"feedback"``), then start a new batch. Returns the reward records logged."""
        events = [
            self.memory.feedback(value, decision_id=d, source=source, episode_id=episode_id)
            for d in self.pending_decisions
        ]
        self.pending_decisions = []
        return events

    def close(self) -> None:
        """Close the memory when this object opened it."""
        if self._owns_memory:
            self.memory.close()


# ---------------------------------------------------------------------------------- pre-reasoning hook
PreReasoningHook = Callable[[Any, dict[str, Any]], Awaitable[None]]


def register_pre_reasoning_hook(
    agent: Any,
    reme_light: Any,
    *,
    hook_name: str = "reme_pre_reasoning",
    drop_compacted: bool | None = None,
    **hook_kwargs: Any,
) -> PreReasoningHook:
    """Run ``reme_light.pre_reasoning_hook`` before every reasoning step of an AgentScope ``ReActAgent``
    (``agent.register_instance_hook("pre_reasoning", hook_name, hook)``); returns the hook.

    Each step the hook hands the agent's uncompressed working memory, its system prompt and its compressed summary to
    ReMeLight (which must be started). Tool results are truncated in place; when ReMeLight compacts, the messages that
    left the context go out of the working memory: with ReMeLight's own ``ReMeInMemoryMemory``
    (``reme_light.get_in_memory_memory()``) they are saved under ``dialog/`` and removed; with an AgentScope memory they
    are marked ``compressed`` when the agent was built with an enabled ``compression_config`` (which makes AgentScope
    leave marked messages out of the prompt), else deleted (``drop_compacted`` forces either). The new summary
    becomes the memory's compressed summary, which AgentScope puts before the messages.
    ``hook_kwargs`` go to ``pre_reasoning_hook`` (``language``, ``max_input_length``, ``compact_ratio``,
    ``memory_compact_reserve``, ...). The compaction decisions are logged in ReMeLight's workspace."""

    async def hook(self: Any, kwargs: dict[str, Any]) -> None:
        memory = self.memory
        messages = await memory.get_memory(exclude_mark=COMPRESSED_MARK, prepend_summary=False)
        get_summary = getattr(memory, "get_compressed_summary", None)
        summary = str((get_summary() if callable(get_summary) else getattr(memory, "_compressed_summary", "")) or "")
        kept, new_summary = await reme_light.pre_reasoning_hook(
            messages, system_prompt=str(getattr(self, "sys_prompt", "") or ""), compressed_summary=summary,
            **hook_kwargs,
        )  # fmt: skip
        kept_ids = {id(m) for m in kept}
        left = [m for m in messages if id(m) not in kept_ids]
        if left:
            save_and_remove = getattr(memory, "mark_messages_compressed", None)
            drop = drop_compacted
            if drop is None:
                config = getattr(self, "compression_config", None)
                drop = not (config is not None and getattr(config, "enable", False))
            if callable(save_and_remove):  # ReMeLight's in-memory memory: saved under dialog/, then removed
                await save_and_remove(left)
            elif drop:
                await memory.delete([m.id for m in left])
            else:
                await memory.update_messages_mark(new_mark=COMPRESSED_MARK, msg_ids=[m.id for m in left])
        if new_summary != summary:
            await memory.update_compressed_summary(new_summary)

    agent.register_instance_hook("pre_reasoning", hook_name, hook)
    return hook


def memory_search_decisions(response: Any) -> list[str]:
    """The ranking-decision ids behind a ``ReMeLight.memory_search`` answer (a ``ToolResponse`` whose text block is a
    JSON list of hits, each with ``metadata.decision_id``), for ``Memory.feedback`` once the task's outcome is known.
    ``[]`` when it holds no hits (or no JSON: an error message)."""
    ids: list[str] = []
    for block in getattr(response, "content", None) or []:
        if not (isinstance(block, dict) and block.get("type") == "text"):
            continue
        try:
            hits = json.loads(block.get("text") or "")
        except ValueError:
            continue
        for hit in hits if isinstance(hits, list) else []:
            decision_id = (hit.get("metadata") or {}).get("decision_id") if isinstance(hit, dict) else None
            if isinstance(decision_id, str) and decision_id not in ids:
                ids.append(decision_id)
    return ids
