"""The ReMe face's reader of conversation messages: OpenAI / AgentScope dicts or objects with ``role`` and
``content`` (a string or a list of text blocks) as plain ``{"role", "content", "time_created", "name"}`` dicts.

Kept in a module of its own so that it can give way to the project's one message reader (``reme.messages``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reme.errors import BadInputError

__all__ = ["latest_time", "normalize_messages"]


def _message_text(content: Any) -> str:
    """The text of a message's content: a string, or the text blocks of an OpenAI / AgentScope block list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(getattr(block, "text", None), str):
                parts.append(block.text)
        return "\n".join(p for p in parts if p)
    return str(content)


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """ReMe messages (dicts or objects with ``role`` / ``content``, optional ``time_created`` and ``name``) as
    ``{"role", "content", "time_created", "name"}`` dicts of strings; messages without text are dropped."""
    if messages is None:
        return []
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise BadInputError("messages must be a list of messages")
    out = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
            time, name = message.get("time_created") or message.get("time") or "", message.get("name") or ""
        elif hasattr(message, "role") and hasattr(message, "content"):
            role, content = message.role, message.content
            time, name = getattr(message, "time_created", "") or "", getattr(message, "name", "") or ""
        else:
            raise BadInputError(f"message {i} has no role and content: {type(message).__name__}")
        role = getattr(role, "value", role)
        if not isinstance(role, str) or not role:
            raise BadInputError(f"message {i} has no role")
        text = _message_text(content).strip()
        if text:
            out.append({"role": role.lower(), "content": text, "time_created": str(time), "name": str(name)})
    return out


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
