"""The ReMe face's LLM prompts and texts: the summarizer's request for the memories of one target, the retrieval
answer's request, the numbered listing of memories, the transcript of a conversation, ``summarize_memory``'s answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from reme.schema import MemoryNode

__all__ = ["NO_MEMORY", "format_nodes", "retrieve_prompt", "summary_answer", "summary_prompt", "transcript"]

NO_MEMORY = "NO_MEMORY_NEEDED"
"""What the summarizer LLM answers when the conversation holds nothing worth keeping."""


_SUMMARY_FOCUS = {
    "user": (
        "durable facts about the user {name}: preferences, personal details, relationships, plans, and events "
        "with their dates. Skip small talk and anything that only holds for this moment."
    ),
    "task": (
        "reusable know-how for the task {name}: steps that worked, pitfalls and how they were avoided, decisions "
        "and their reasons. Skip generic advice and plain facts that are not procedures."
    ),
    "tool": (
        "lessons about using the tool {name}: arguments that worked or failed, causes of errors and their fixes, "
        "cost or latency observations. Skip invocations that teach nothing."
    ),
}

_SUMMARY_FORMAT = (
    "Reply with a JSON array only, one object per memory: "
    '[{{"content": "<one self-contained statement>", "when_to_use": "<when recalling it helps, or empty>"}}]. '
    "Each memory must make sense without the conversation. If nothing is worth keeping, reply exactly {none}."
)


def summary_prompt(target: str, transcript: str, description: str = "", known: Sequence[str] = ()) -> list[dict]:
    """The chat messages asking an LLM for the memories of ``target`` in a conversation."""
    kind, name = target.split(":", 1)
    system = (
        "You maintain an assistant's long-term memory. From the conversation, extract "
        + _SUMMARY_FOCUS[kind].format(name=name)
        + " "
        + _SUMMARY_FORMAT.format(none=NO_MEMORY)
    )
    user = f"Conversation:\n{transcript}"
    if description:
        user = f"Context: {description}\n\n{user}"
    if known:
        listing = "\n".join(f"- {k}" for k in known)
        user += f"\n\nAlready remembered (do not repeat these):\n{listing}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def retrieve_prompt(query: str, nodes: Sequence[MemoryNode], description: str = "") -> list[dict]:
    """The chat messages asking an LLM to answer ``query`` from retrieved memories."""
    system = (
        "Answer the question using only the numbered memories given. Prefer the more recent memory when two "
        "disagree. If the memories do not hold the answer, say so in one sentence. Be brief."
    )
    user = f"Question: {query}"
    if description:
        user += f"\nContext: {description}"
    user += f"\n\nMemories:\n{format_nodes(nodes)}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def format_nodes(nodes: Sequence[MemoryNode]) -> str:
    """Memories as a numbered list, one per line: ``1. [message_time] content (when to use: ...)``."""
    if not nodes:
        return "No relevant memories found."
    lines = []
    for i, node in enumerate(nodes, start=1):
        stamp = f"[{node.message_time}] " if node.message_time else ""
        hint = f" (when to use: {node.when_to_use})" if node.when_to_use else ""
        lines.append(f"{i}. {stamp}{node.content}{hint}")
    return "\n".join(lines)


def transcript(messages: list[dict[str, str]]) -> str:
    lines = []
    for m in messages:
        stamp = f"[{m['time_created']}] " if m["time_created"] else ""
        who = f"{m['role']} ({m['name']})" if m["name"] and m["name"] != m["role"] else m["role"]
        lines.append(f"{stamp}{who}: {m['content']}")
    return "\n".join(lines)


def summary_answer(written: Sequence[MemoryNode]) -> str:
    """``summarize_memory``'s text answer: how many memories were written, then one line per memory."""
    if not written:
        return "No new memories were written."
    lines = [f"{len(written)} memories written:"] + [f"- [{n.memory_target}] {n.content}" for n in written]
    return "\n".join(lines)
