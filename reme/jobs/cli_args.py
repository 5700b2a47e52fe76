"""ReMe 0.4.x's ``key=value`` command-line arguments: ``reme search query="green tea" limit=5``.

``parse_action`` takes the first argument (a job name; leading dashes dropped; one with ``=`` is refused).
``parse_kwargs`` takes the rest: each must be ``key=value``; a dotted key nests (``service.port=2333`` ->
``{"service": {"port": 2333}}``); a value that reads as JSON is that value (``5``, ``0.5``, ``true``, ``null``,
``[1, 2]``, ``{"a": 1}``), ``True`` / ``False`` / ``None`` in any case too, anything else a string.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_action", "parse_args", "parse_kwargs", "parse_value"]


def _undash(arg: str) -> str:
    return arg.lstrip("-")


def parse_action(arg: str) -> str:
    """The job name of a command line (``ValueError`` for ``key=value`` or an empty name)."""
    action = _undash(str(arg)).strip()
    if not action or "=" in action:
        raise ValueError(f"First argument must be action, got: {arg}")
    return action


def parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_kwargs(*args: str) -> dict[str, Any]:
    """``key=value`` arguments as a (nested) dict (``ValueError`` naming one that is not ``key=value``)."""
    out: dict[str, Any] = {}
    for raw in args:
        arg = _undash(str(raw))
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Invalid argument format (expected key=value): {raw}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = parse_value(value)
    return out


def parse_args(*args: str) -> tuple[str, dict[str, Any]]:
    """``(action, kwargs)`` of a whole command line."""
    if not args:
        raise ValueError("No arguments provided")
    return parse_action(args[0]), parse_kwargs(*args[1:])
