"""``ReMe.retrieve_memory``'s read path: search each target with the rank policy (a logged decision each), merge
the hits by score, and let the LLM (when there is one) answer from them, a logged ``rank`` decision of policy
``llm-retrieve-synthesis``.
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
from reme.vector.llm_calls import LLM_RETRIEVE_POLICY, llm_call_decision
from reme.vector.prompts import format_nodes, retrieve_prompt
from reme.vector.targets import call_targets

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.vector.face import ReMe

log = logging.getLogger("reme.vector")

__all__ = ["retrieve"]


async def retrieve(
    face: ReMe,
    memory: Memory,
    query: str,
    description: str,
    messages: Sequence[Any] | None,
    user_name: Any,
    task_name: Any,
    tool_name: Any,
    top_k: int,
    raise_exception: bool,
) -> tuple[str, list[MemoryNode], list[dict], bool]:
    """``ReMe.retrieve_memory``'s work: the answer, the memories found, the LLM exchange, and whether it succeeded."""
    if not query and messages:
        turns = text_messages(messages)
        users = [m for m in turns if m["role"] == "user"]
        query = (users or turns or [{"content": ""}])[-1]["content"]
    if not isinstance(query, str) or not query.strip():
        raise BadInputError("give a query (or messages with a user message)")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise BadInputError(f"retrieve_top_k must be a positive integer, got {top_k!r}")
    top_k = min(top_k, 1000)
    targets = call_targets(memory, face.targets, user_name, task_name, tool_name)

    def search() -> tuple[list[MemoryNode], list[str]]:
        scored: dict[str, tuple[float, MemoryNode]] = {}
        decision_ids = []
        for target in targets:
            decision, hits = memory.search_with_decision(query, top_k, target, min_score=-math.inf)
            decision_ids.append(decision.decision_id)
            for hit in hits:
                best = scored.get(hit.memory.memory_id)
                if best is None or hit.score > best[0]:
                    scored[hit.memory.memory_id] = (hit.score, hit.memory)
        ranked = sorted(scored.values(), key=lambda pair: -pair[0])
        return [node for _, node in ranked[:top_k]], decision_ids

    nodes, rank_ids = await asyncio.to_thread(search)
    face.last_decision_ids = list(rank_ids)
    listing = format_nodes(nodes)
    llm = face.get_llm()
    if llm is None or not nodes:
        return listing, nodes, [], True
    prompt = retrieve_prompt(query, nodes, description)
    try:
        result = await llm.achat(prompt)
    except Exception as exc:
        if raise_exception:
            raise
        log.warning("retrieve_memory: the LLM call failed (%s); answering with the memories found", exc)
        return listing, nodes, [], False
    decision = llm_call_decision(
        llm, "rank", LLM_RETRIEVE_POLICY, "answer", result, prompt, [n.memory_id for n in nodes],
        query=query, targets=targets, rank_decision_ids=rank_ids,
    )  # fmt: skip
    memory.log_decision(decision)
    face.last_decision_ids.append(decision.decision_id)
    exchange = [*prompt, {"role": "assistant", "content": result.text}]
    return result.text.strip() or listing, nodes, exchange, True
