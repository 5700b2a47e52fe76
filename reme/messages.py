"""The one reader of chat messages: OpenAI and AgentScope messages in, roles, text, tool ids and token counts out.

Every part of the library that reads a host's messages reads them here:

- ``parse_message`` / ``message_token_count``: the role, tokens, tool-call and tool-result ids and id of an
  OpenAI dict (``content`` a string or parts, ``tool_calls[].id``, ``tool_call_id`` on role ``tool``) or an
  AgentScope message (a ``Msg`` or its dict: content blocks ``text``, ``thinking``, ``tool_use``,
  ``tool_result``, media). Tokens are counted block by block as ReMe counts them, by default with
  ``rule_token_count`` (ReMe's rule-based fallback). The compaction state (``reme.policy.compact``) and ReMeLight
  (``reme.reme_light.messages``) count with these, so both see the same number; ``resolve_token_counter`` turns
  what a host passes as a counter (a callable, a ``count_text`` object, AgentScope's async counter) into one.
- ``block_messages`` / ``block_text``: AgentScope messages as dicts with a block-list content, an id and a
  ``created_at`` time (ReMe 0.4's jobs, ``reme.jobs.evolve``).
- ``text_messages`` / ``content_text``: ReMe 0.3.1's messages as ``{"role", "content", "time_created", "name"}``
  dicts of strings, messages without text dropped (the ``reme.vector`` face).

A base-layer module: it imports nothing of the library but its errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from reme.errors import BadInputError

__all__ = [
    "TIME_KEYS",
    "ParsedMessage",
    "TokenCounter",
    "as_mapping",
    "block_messages",
    "block_text",
    "content_text",
    "is_async_counter",
    "json_text",
    "message_token_count",
    "parse_message",
    "resolve_token_counter",
    "rule_token_count",
    "text_messages",
]

TokenCounter = Callable[[str], int]
"""Counts the tokens of one text."""

TIME_KEYS = ("created_at", "time_created", "timestamp", "createdAt", "timeCreated", "created_time")
"""Keys (on the message or in its ``metadata``) that ``block_messages`` takes a message's time from, first found."""


# --------------------------------------------------------------------------------------------------------------
# Token counting (ReMe's rule-based fallback) and message parsing
# --------------------------------------------------------------------------------------------------------------


def rule_token_count(text: str) -> int:
    """ReMe's rule-based token estimate: UTF-8 bytes / 3.75, rounded **down** (ReMe's ``int(...)``)."""
    return len(text.encode("utf-8")) * 4 // 15  # == floor(bytes / 3.75), in exact integer arithmetic


def is_async_counter(counter: Any) -> bool:
    """Whether ``counter`` counts only through an async ``count(...)`` (AgentScope's ``TokenCounterBase``, as hosts
    pass it: ``await counter.count(messages=[], text=...)``), with no synchronous way in."""
    import inspect

    if counter is None or isinstance(counter, str) or callable(getattr(counter, "count_text", None)):
        return False
    return inspect.iscoroutinefunction(getattr(counter, "count", None)) and not callable(counter)


def resolve_token_counter(counter: Any = None) -> TokenCounter:
    """A ``text -> tokens`` function from what a caller passed: ``None`` or ``"default"`` (ReMe's rule count,
    ``floor(UTF-8 bytes / 3.75)``), a callable, or an object with a ``count_text(text)`` method. An async-only
    counter (``is_async_counter``) gives the rule count here; ``reme.reme_light.messages.prepared_counter`` awaits
    it instead."""
    if counter is None or (isinstance(counter, str) and counter == "default") or is_async_counter(counter):
        return rule_token_count
    count_text = getattr(counter, "count_text", None)
    if callable(count_text):
        return count_text
    if callable(counter):
        return counter
    raise BadInputError(
        f"a token counter is a callable text -> int, has count_text(text) or an async count(text=...), got "
        f"{type(counter).__name__}"
    )


def as_mapping(message: Any) -> Mapping[str, Any]:
    """A message as a mapping: a mapping as it is, an object's ``to_dict()``, or an AgentScope-like object's
    ``id`` / ``role`` / ``content`` / ``tool_calls`` / ``tool_call_id`` attributes; ``BadInputError`` otherwise."""
    if isinstance(message, Mapping):
        return message
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        out = to_dict()
        if isinstance(out, Mapping):
            return out
    if hasattr(message, "role"):  # an AgentScope-like object
        return {k: getattr(message, k, None) for k in ("id", "role", "content", "tool_calls", "tool_call_id")}
    raise BadInputError(f"a message must be a dict with a 'role' (got {type(message).__name__})")


def json_text(value: Any) -> str:
    """A value as text: a string as it is, else its JSON (non-ASCII kept), else ``str(value)``."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _media_tokens(block: Mapping[str, Any], counter: Callable[[str], int]) -> int:
    """ReMe's count for an image/audio/video block: base64 chars / 4, else the URL's tokens, else 10."""
    source = block.get("source") or {}
    if not isinstance(source, Mapping):
        return 10
    if source.get("type") == "base64":
        data = str(source.get("data") or "")
        return len(data) // 4 if data else 10
    url = str(source.get("url") or "")
    return counter(url) if url else 10


def _block_pieces(block: Any, counter: Callable[[str], int]) -> Iterable[tuple[str, int]]:
    """(text, fixed tokens) pieces of one content block; unknown block types count nothing (as in ReMe)."""
    if isinstance(block, str):
        yield block, 0
        return
    if not isinstance(block, Mapping):
        return
    kind = block.get("type")
    if kind in ("text", "input_text", "output_text"):
        yield str(block.get("text") or ""), 0
    elif kind == "thinking":
        yield str(block.get("thinking") or ""), 0
    elif kind == "tool_use":
        yield str(block.get("name") or "") + json_text(block.get("input", "")), 0
    elif kind == "tool_result":
        output = block.get("output", "")
        if isinstance(output, list):
            for part in output:
                yield from _block_pieces(part, counter)
        else:
            yield json_text(output), 0
    elif kind in ("image", "audio", "video"):
        yield "", _media_tokens(block, counter)
    elif kind == "image_url":
        url = block.get("image_url")
        url = url.get("url") if isinstance(url, Mapping) else url
        yield "", counter(str(url)) if url else 10
    elif kind == "file":
        yield str(block.get("path") or block.get("url") or ""), 0


class ParsedMessage(NamedTuple):
    """What the compaction state needs of one message."""

    role: str
    tokens: int
    tool_use_ids: list[str]
    """Ids of the tool calls the message makes."""
    tool_result_ids: list[str]
    """Ids of the tool calls whose results it carries."""
    id: str | None


def parse_message(message: Any, counter: Callable[[str], int]) -> ParsedMessage:
    """Role, tokens (``counter`` summed over the text pieces, plus media counts), tool-call and tool-result ids and
    id of an OpenAI or AgentScope message."""
    msg = as_mapping(message)
    role = str(msg.get("role") or "")
    content = msg.get("content")
    pieces: list[tuple[str, int]] = []
    uses: list[str] = []
    results: list[str] = []
    if isinstance(content, str):
        pieces.append((content, 0))
    elif isinstance(content, list):
        for block in content:
            pieces.extend(_block_pieces(block, counter))
            if isinstance(block, Mapping) and block.get("id"):
                if block.get("type") == "tool_use":
                    uses.append(str(block["id"]))
                elif block.get("type") == "tool_result":
                    results.append(str(block["id"]))
    elif content is not None:
        pieces.append((json_text(content), 0))
    for call in msg.get("tool_calls") or []:  # OpenAI assistant tool calls
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function") or {}
        if isinstance(fn, Mapping):
            pieces.append((str(fn.get("name") or "") + json_text(fn.get("arguments", "")), 0))
        if call.get("id"):
            uses.append(str(call["id"]))
    if role == "tool" and msg.get("tool_call_id"):  # OpenAI tool result
        results.append(str(msg["tool_call_id"]))
    tokens = sum((counter(text) if text else 0) + fixed for text, fixed in pieces)
    msg_id = msg.get("id")
    return ParsedMessage(role, int(tokens), uses, results, None if msg_id is None else str(msg_id))


def message_token_count(message: Any, token_counter: Callable[[str], int] | None = None) -> int:
    """Tokens of one message: ``token_counter`` (default ``rule_token_count``) summed over its text blocks (text,
    thinking, tool-call name + JSON arguments, tool-result output), as ReMe counts block by block."""
    return parse_message(message, token_counter or rule_token_count).tokens


# --------------------------------------------------------------------------------------------------------------
# AgentScope messages as block dicts (ReMe 0.4's jobs)
# --------------------------------------------------------------------------------------------------------------


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return dict(message)
    if hasattr(message, "model_dump"):
        return dict(message.model_dump(mode="json"))
    if hasattr(message, "to_dict"):
        return dict(message.to_dict())
    raise BadInputError(f"a message must be an object, got {type(message).__name__}")


def block_messages(messages: Any) -> list[dict[str, Any]]:
    """AgentScope messages (``Msg`` or their JSON) as dicts with ``id``, ``role``, ``name``, ``created_at`` and a
    list ``content`` (a string content becomes one text block)."""
    if not isinstance(messages, list):
        raise BadInputError("messages must be a list")
    out: list[dict[str, Any]] = []
    for raw in messages:
        item = _as_dict(raw)
        content = item.get("content")
        if isinstance(content, str):
            item["content"] = [{"type": "text", "text": content}]
        elif not isinstance(content, list):
            item["content"] = []
        created = next((item.get(k) or (item.get("metadata") or {}).get(k) for k in TIME_KEYS
                        if item.get(k) or (item.get("metadata") or {}).get(k)), "")  # fmt: skip
        item["created_at"] = str(created or "")
        item["id"] = str(item.get("id") or f"m{len(out)}-{hash(json.dumps(item, sort_keys=True, default=str))}")
        out.append(item)
    return out


def block_text(message: dict[str, Any]) -> str:
    """The non-blank ``text`` blocks of a ``block_messages`` message, joined by newlines."""
    parts = [str(b.get("text", "")) for b in message["content"] if isinstance(b, dict) and b.get("type") == "text"]
    return "\n".join(p for p in parts if p.strip())


# --------------------------------------------------------------------------------------------------------------
# ReMe 0.3.1's messages as text dicts (the reme.vector face)
# --------------------------------------------------------------------------------------------------------------


def content_text(content: Any) -> str:
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


def text_messages(messages: Any) -> list[dict[str, str]]:
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
        text = content_text(content).strip()
        if text:
            out.append({"role": role.lower(), "content": text, "time_created": str(time), "name": str(name)})
    return out
