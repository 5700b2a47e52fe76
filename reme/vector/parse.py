"""Reading the summarizer LLM's reply: the memories it proposed (``parse_candidates``), and which of them would be
accepted as memories (``valid_items``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from reme.errors import BadInputError
from reme.vector.prompts import NO_MEMORY

log = logging.getLogger("reme.vector")

__all__ = ["parse_candidates", "valid_items"]

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_candidates(text: str) -> list[dict[str, str]] | None:
    """The memories an LLM proposed: ``[{"content", "when_to_use"}]``; ``[]`` for ``NO_MEMORY_NEEDED`` (or an
    empty array); ``None`` when the reply cannot be read (no JSON array of memories, or none of its items is one).

    Accepts a bare array, an array in a code fence or amid prose, ``{"memories": [...]}``, and plain strings as
    items; ``<think>`` blocks are ignored."""
    body = _THINK_RE.sub("", text or "").strip()
    fenced = _FENCE_RE.search(body)
    if fenced:
        body = fenced.group(1).strip()
    parsed: Any = None
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, ValueError):
        start, end = body.find("["), body.rfind("]")
        if 0 <= start < end:
            try:
                parsed = json.loads(body[start : end + 1])
            except (json.JSONDecodeError, ValueError):
                parsed = None
    if isinstance(parsed, Mapping):
        parsed = next((parsed[k] for k in ("memories", "memory", "items") if isinstance(parsed.get(k), list)), None)
    if not isinstance(parsed, list):
        return [] if NO_MEMORY in body else None
    out = []
    for item in parsed:
        if isinstance(item, str):
            item = {"content": item}
        if not isinstance(item, Mapping):
            continue
        content = item.get("content", item.get("memory", item.get("text")))
        when = item.get("when_to_use", "")
        if isinstance(content, str) and content.strip():
            out.append({"content": content.strip(), "when_to_use": when.strip() if isinstance(when, str) else ""})
    if parsed and not out:
        return None
    return out


def valid_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates that would be accepted as memories; others are dropped with a warning (one bad proposal must
    not lose the rest, since ``add_many`` rejects a batch with any bad item)."""
    from reme.memory import build_node

    out = []
    seen: set[str] = set()
    for item in items:
        try:
            build_node(item)
        except BadInputError as exc:
            log.warning("summarize_memory: dropping a proposed memory: %s", exc)
            continue
        if item["memory_id"] not in seen:  # the same text twice in one reply
            seen.add(item["memory_id"])
            out.append(item)
    return out
