"""``ReMe.list_memory``'s filtering and ordering of memories by ``MemoryNode`` fields or metadata keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reme.schema import MemoryNode

__all__ = ["select_nodes"]

SORTABLE = frozenset(MemoryNode.model_fields)


def select_nodes(
    nodes: list[MemoryNode], filters: Mapping[str, Any] | None, key: str, reverse: bool, limit: int | None
) -> list[MemoryNode]:
    """``nodes`` that match every ``filters`` entry, sorted by ``key`` (largest first when ``reverse``, ties newest
    first), at most ``limit``."""
    if filters:
        nodes = [n for n in nodes if all(_matches(_field(n, k), v) for k, v in filters.items())]
    if reverse:
        nodes.reverse()  # equal keys keep newest-first order under the stable sort below
    try:
        nodes.sort(key=lambda n: _sort_value(_field(n, key)), reverse=reverse)
    except TypeError:  # values of mixed types under one metadata key
        nodes.sort(key=lambda n: str(_field(n, key)), reverse=reverse)
    return nodes if limit is None else nodes[:limit]


def _field(node: MemoryNode, key: str) -> Any:
    if key in SORTABLE:
        return getattr(node, key)
    return node.metadata.get(key)


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list | tuple | set | frozenset):
        return value in wanted
    return bool(value == wanted)


def _sort_value(value: Any) -> tuple[int, Any]:
    """Missing values sort below every present one."""
    return (0, 0) if value is None else (1, value)
