"""ReMe's transcript of messages, as ReMeLight's compactor and memory writer read it (``format_messages``) and as
its one-line previews show a message (``format_message`` with ``PREVIEW_CHARS``). Messages are read through
``reme.reme_light.messages`` (any shape it accepts) and counted with its token counters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reme.errors import BadInputError
from reme.messages import json_text

from .messages import TRUNCATION_MARKER, resolve_token_counter, validate_messages, view_message

__all__ = ["DEFAULT_BLOCK_CHARS", "PREVIEW_CHARS", "format_message", "format_messages"]

DEFAULT_BLOCK_CHARS = 1000
"""ReMe's transcript cuts each block to this many characters."""

PREVIEW_CHARS = 100
"""ReMe's one-line previews (``get_history_str``) cut each block to this many characters."""


def _flatten(text: str, max_chars: int) -> str:
    """Newlines become spaces; longer than ``max_chars`` characters: cut, with ``...``."""
    flat = text.replace("\n", " ")
    return flat if len(flat) <= max_chars else flat[:max_chars] + "..."


def _media_url(block: Mapping[str, Any]) -> str:
    source = block.get("source")
    if isinstance(source, Mapping) and source.get("type") != "base64":
        return str(source.get("url") or "")
    return ""


def _output_text(output: Any) -> str:
    """A tool result's output as text: text parts, ``[image] url`` for media, ``[file] name: path`` for files."""
    if isinstance(output, str):
        return output
    if not isinstance(output, list):
        return json_text(output)
    parts: list[str] = []
    for block in output:
        if isinstance(block, str):
            parts.append(block)
            continue
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text") or ""))
        elif kind in ("image", "audio", "video"):
            url = _media_url(block)
            if url:
                parts.append(f"[{kind}] {url}")
        elif kind == "file":
            path = str(block.get("path") or block.get("url") or "")
            parts.append(f"[file] {block.get('name') or path}: {path}")
    return "\n".join(parts)


def _format_block(
    block: Mapping[str, Any], max_chars: int, include_thinking: bool, tool_names: Mapping[str, str]
) -> str:
    kind = block.get("type")
    if kind == "text":
        text = str(block.get("text") or "")
        return f"[text]: {_flatten(text, max_chars)}" if text else ""
    if kind == "thinking":
        text = str(block.get("thinking") or "")
        return f"[think]: {_flatten(text, max_chars)}" if text and include_thinking else ""
    if kind in ("image", "audio", "video"):
        return f"[{kind}]: {_media_url(block)}"
    if kind == "tool_use":
        raw = block.get("raw_input")
        params = raw if isinstance(raw, str) and raw else json_text(block.get("input", ""))
        return f"[tool_use]: {block.get('name') or ''} params={_flatten(params, max_chars)}"
    if kind == "tool_result":
        output = _output_text(block.get("output", ""))
        if not output:
            return ""
        shown = output.split(TRUNCATION_MARKER)[0].rstrip("\n") if TRUNCATION_MARKER in output else output
        name = block.get("name") or tool_names.get(str(block.get("id") or ""), "")
        return f"[tool_result]: {name} output={_flatten(shown, max_chars)}"
    return ""


def format_message(
    message: Any,
    max_chars: int = DEFAULT_BLOCK_CHARS,
    include_thinking: bool = True,
    index: int = 0,
    tool_names: Mapping[str, str] | None = None,
) -> str:
    """One message in ReMe's transcript format: a header ``[timestamp] name:`` (no ``[timestamp] `` when the
    message has none) and one line per non-empty block, ``[text]: ...``, ``[think]: ...``, ``[tool_use]: name
    params=...``, ``[tool_result]: name output=...`` (the output up to a ``<<<TRUNCATED>>>`` notice), media as
    ``[image]: url``; each block's text has its newlines turned into spaces and is cut to ``max_chars``
    characters (followed by ``...`` when cut). ``tool_names`` (tool-call id -> tool name) names a tool result
    that does not carry its tool's name (OpenAI ``role: "tool"`` messages)."""
    view = view_message(message, index)
    header = (f"[{view.timestamp}] " if view.timestamp else "") + f"{view.name}:"
    names = tool_names or {}
    lines = [_format_block(b, max_chars, include_thinking, names) for b in view.blocks]
    return "\n".join([header, *(line for line in lines if line)])


def format_messages(
    messages: Sequence[Any],
    max_tokens: int | None,
    counter: Any = None,
    *,
    include_thinking: bool = True,
    max_chars: int = DEFAULT_BLOCK_CHARS,
) -> str:
    """ReMe's transcript of ``messages`` for the compactor and the memory writer.

    Each message is formatted by ``format_message`` and counted (``counter``, default ReMe's rule count). Taking
    the messages newest first, the latest is always included (even alone over ``max_tokens``); an older one is
    included while the running total stays within ``max_tokens``, and the first that would exceed it ends the
    transcript (everything older is dropped). ``max_tokens=None`` keeps every message. The messages are joined
    by a blank line, oldest first."""
    items = validate_messages(messages)
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise BadInputError(f"max_tokens must be an integer or None, got {max_tokens!r}")
    count = resolve_token_counter(counter)
    views = [view_message(m, i) for i, m in enumerate(items)]
    tool_names = {
        str(b.get("id")): str(b.get("name") or "")
        for v in views
        for b in v.blocks
        if b.get("type") == "tool_use" and b.get("id")
    }
    parts: list[str] = []
    total = 0
    for i in range(len(items) - 1, -1, -1):
        text = format_message(items[i], max_chars, include_thinking, index=i, tool_names=tool_names)
        tokens = count(text)
        if max_tokens is not None and i != len(items) - 1 and total + tokens > max_tokens:
            break
        parts.append(text)
        total += tokens
    return "\n\n".join(reversed(parts))
