"""The targets of the ReMe face: ``user:<name>`` (personal memory), ``task:<name>`` (procedural) and ``tool:<name>``
(tool memory); which memory types each kind holds, and which targets a call names (``user_name`` / ``task_name`` /
``tool_name``) or a conversation implies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError
from reme.schema import MemoryType, normalize_target

if TYPE_CHECKING:
    from reme.memory import Memory

log = logging.getLogger("reme.vector")

__all__ = [
    "KIND_TYPE",
    "KIND_TYPES",
    "as_names",
    "call_targets",
    "conversation_targets",
    "named_targets",
    "one_target",
    "target_kind",
]

KIND_TYPE = {"user": MemoryType.personal, "task": MemoryType.procedural, "tool": MemoryType.tool}
"""Default memory type of a target kind."""
KIND_TYPES = {
    "user": {MemoryType.personal, MemoryType.identity, MemoryType.summary, MemoryType.history},
    "task": {MemoryType.procedural},
    "tool": {MemoryType.tool},
}
"""Memory types that may live in a target kind."""


def target_kind(target: str) -> str:
    return target.split(":", 1)[0]


def as_names(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise BadInputError(f"{what} must be a list of names")
    return [v for v in value if v]


def named_targets(
    user_name: str | Sequence[str] = "", task_name: str | Sequence[str] = "", tool_name: str | Sequence[str] = ""
) -> list[str]:
    """The targets named by the three keywords, each a name or a list of names (ReMe's ``str | list[str]``)."""
    return [
        normalize_target(f"{kind}:{name}")
        for kind, value in (("user", user_name), ("task", task_name), ("tool", tool_name))
        for name in as_names(value, f"{kind}_name")
    ]


def one_target(user_name: str = "", task_name: str = "", tool_name: str = "") -> str:
    """The target named by exactly one of the three keywords."""
    given = [(k, n) for k, n in (("user", user_name), ("task", task_name), ("tool", tool_name)) if n]
    if len(given) != 1:
        raise BadInputError("give exactly one of user_name, task_name, tool_name")
    kind, name = given[0]
    if not isinstance(name, str):
        raise BadInputError(f"{kind}_name must be a string, got {type(name).__name__}")
    return normalize_target(f"{kind}:{name}")


def call_targets(memory: Memory, defaults: Sequence[str], user_name: Any, task_name: Any, tool_name: Any) -> list[str]:
    """The targets of a retrieve call: the ones named, else ``defaults`` (the constructor's), else every
    user/task/tool target of the workspace."""
    named = named_targets(user_name, task_name, tool_name)
    if named:
        return named
    if defaults:
        return list(defaults)
    return [t for t in memory.records.targets() if target_kind(t) in KIND_TYPE]


def conversation_targets(messages: Any, turns: list[dict[str, str]]) -> list[str]:
    """The targets of a conversation summarised with no names given (ReMe then summarises all three kinds): each user
    speaker's ``user:<name>`` (``user:user`` when unnamed), ``task:default``, and ``tool:<name>`` for each tool the
    conversation called (an OpenAI ``tool_calls`` entry, a ``tool`` message's ``name``, an AgentScope ``tool_use``
    block)."""
    users = list(dict.fromkeys(m["name"] or "user" for m in turns if m["role"] == "user")) or ["user"]
    tools: list[str] = []
    for message in messages or []:
        get = message.get if isinstance(message, Mapping) else (lambda key, m=message: getattr(m, key, None))
        for call in get("tool_calls") or []:
            name = (call.get("function") or {}).get("name") if isinstance(call, Mapping) else None
            if isinstance(name, str) and name:
                tools.append(name)
        if str(get("role") or "") == "tool" and isinstance(get("name"), str) and get("name"):
            tools.append(str(get("name")))
        content = get("content")
        if isinstance(content, list):
            tools += [str(b.get("name")) for b in content if isinstance(b, Mapping) and b.get("type") == "tool_use"
                      and b.get("name")]  # fmt: skip
    names = [f"user:{u}" for u in users] + ["task:default"] + [f"tool:{t}" for t in dict.fromkeys(tools)]
    out = []
    for name in names:
        try:
            out.append(normalize_target(name))
        except BadInputError:
            log.debug("summarize_memory: skipping a target that is not a valid name: %.80r", name)
    return out
