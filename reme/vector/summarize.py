"""``ReMe.summarize_memory``'s write path: per target, the LLM proposes memories (a logged ``write`` decision of
policy ``llm-vector-summarizer``), and each proposal goes through the workspace's write policy (store, discard or
update, each logged). Without an LLM the conversation's user turns are the proposals.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError
from reme.messages import text_messages
from reme.schema import MemoryNode
from reme.vector.llm_calls import LLM_SUMMARIZER_POLICY, llm_call_decision
from reme.vector.parse import parse_candidates, valid_items
from reme.vector.prompts import summary_prompt, transcript
from reme.vector.targets import KIND_TYPE, conversation_targets, named_targets, target_kind

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.vector.face import ReMe

log = logging.getLogger("reme.vector")

__all__ = ["summarize"]


async def summarize(
    face: ReMe,
    memory: Memory,
    messages: Sequence[Any],
    description: str,
    user_name: Any,
    task_name: Any,
    tool_name: Any,
    top_k: int,
    raise_exception: bool,
    written: list[MemoryNode],
    exchange: list[dict],
) -> bool:
    """``ReMe.summarize_memory``'s work: fills ``written`` and ``exchange``; whether every LLM call succeeded."""
    turns = text_messages(messages)
    targets = named_targets(user_name, task_name, tool_name) or list(face.targets)
    if not targets:
        targets = conversation_targets(messages, turns)
    if not turns:
        return True
    message_time = latest_time(turns)
    llm = face.get_llm()
    success = True
    items: list[dict[str, Any]]
    for target in targets:
        kind = target_kind(target)
        base: dict[str, Any] = {
            "memory_target": target,
            "memory_type": KIND_TYPE[kind].value,
            "message_time": message_time,
        }
        if llm is None:
            items = [
                {**base, "content": m["content"], "memory_id": memory.memory_id_for(m["content"], target),
                 "metadata": {"source": "summarize_memory", "speaker": m["name"] or m["role"]}}
                for m in turns if m["role"] == "user"
            ]  # fmt: skip
            written.extend(await asyncio.to_thread(_add_gated, memory, valid_items(items)))
            continue
        known = await asyncio.to_thread(_similar, memory, target, transcript(turns), top_k)
        prompt = summary_prompt(target, transcript(turns), description, known)
        try:
            result = await llm.achat(prompt)
        except Exception as exc:
            if raise_exception:
                raise
            log.warning("summarize_memory: the LLM call for %s failed: %s", target, exc)
            success = False
            continue
        exchange.extend([*prompt, {"role": "assistant", "content": result.text}])
        candidates = parse_candidates(result.text)
        if candidates is None:
            log.warning("summarize_memory: unreadable LLM reply for %s, nothing written: %.200r", target, result.text)
            success = False
        author = getattr(result, "model", "") or getattr(llm, "model", "")
        items = [
            {**base, "content": c["content"], "when_to_use": c["when_to_use"],
             "memory_id": memory.memory_id_for(c["content"], target), "author": author}
            for c in candidates or []
        ]  # fmt: skip
        items = valid_items(items)
        decision = llm_call_decision(
            llm, "write", LLM_SUMMARIZER_POLICY, "write" if items else "silent", result, prompt,
            [i["memory_id"] for i in items], target=target, candidates=len(items),
            parse_error=candidates is None,
        )  # fmt: skip
        memory.log_decision(decision)  # logged before the write decisions it caused
        face.last_decision_ids.append(decision.decision_id)
        for item in items:
            item["metadata"] = {"source": "summarize_memory", "llm_decision_id": decision.decision_id}
        written.extend(await asyncio.to_thread(_add_gated, memory, items))
    return success


def _add_gated(memory: Memory, items: list[dict[str, Any]]) -> list[MemoryNode]:
    """Write candidates through the workspace's write policy (store / discard / update, each logged)."""
    if not items:
        return []
    return memory.add_many(items)


def _similar(memory: Memory, target: str, text: str, top_k: int) -> list[str]:
    """Texts of up to ``top_k`` stored memories of ``target`` close to ``text`` (shown to the summarizer so
    that it does not propose them again). Reads the index directly: this is context, not a decision."""
    if memory.count(target) == 0 or not isinstance(top_k, int) or top_k < 1:
        return []
    cands = memory.candidates(text[-4000:], min(int(top_k), 200), target)
    found = memory.records.get_by_seqs([int(i) for i in cands.ids])
    order = sorted(range(len(cands.ids)), key=lambda i: -_nan0(float(cands.vector_score[i])))[:top_k]
    return [found[int(cands.ids[i])].content for i in order if int(cands.ids[i]) in found]


def _nan0(value: float) -> float:
    return 0.0 if math.isnan(value) else float(value)


def latest_time(messages: list[dict[str, str]]) -> str:
    """The latest ISO 8601 ``time_created`` of the messages (``""`` when none parses)."""
    from reme.memory import check_time

    times = []
    for m in messages:
        try:
            if check_time(m["time_created"]):
                times.append(m["time_created"])
        except BadInputError:
            continue
    return max(times) if times else ""
