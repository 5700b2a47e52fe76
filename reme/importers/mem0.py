"""Import a mem0 export into a workspace: ``import_mem0(path, workspace)``.

mem0's ``Memory.get_all()`` (and the platform's export) gives memories as ``{"id", "memory", "hash", "metadata",
"created_at", "updated_at", "user_id", "agent_id", "run_id", ...}``. The file may be that object
(``{"results": [...]}``, with or without the graph store's ``"relations"``), a list of memories, or JSON Lines of
them (one memory per line). Each memory becomes:

- **content**: ``memory`` (a non-empty string; a record without one is an error naming it);
- **target**: ``user:<user_id>``, else ``agent:<agent_id>``, else ``default``;
- **metadata**: mem0's own ``metadata``, plus ``mem0_id`` (its id), ``session_id`` (its ``run_id``: a session
  is a slice of the user's memory here, ``docs/store.md``), ``agent_id`` when the memory also names a user,
  ``actor_id``, ``role`` and ``categories`` when present;
- **times**: ``created_at`` is the memory's time (``message_time``, what the rank features age from) and its
  creation time; ``updated_at`` is kept as ``mem0_updated_at`` (the import is this store's modification).

mem0's ``hash``, ``score`` and vectors are not imported: every memory is encoded with the workspace's model. As
for ReMe's data, everything is read and checked before anything is written, and the memories are written through
ReMe's add (always stored), each write decision logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError
from reme.importers.reme03 import read_dump, write_imported

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.retrieval.embedding import Encoder

__all__ = ["import_mem0", "mem0_record_to_item"]

_CARRIED = ("actor_id", "role", "categories")


def _records(path: Path) -> list[tuple[str, Any]]:
    """The memories of a mem0 export, each with where it came from."""
    if path.suffix.lower() != ".jsonl":
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8-sig") or "null")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError):
            data = None
        if isinstance(data, Mapping) and isinstance(data.get("results"), list):  # get_all(): results (+ relations)
            return [(f"{path.name}[results][{i}]", rec) for i, rec in enumerate(data["results"])]
    return read_dump(path)


def _name(record: Mapping[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int):
        raise BadInputError(f"{where}: {key} must be a string, got {type(value).__name__}")
    return str(value)


def mem0_record_to_item(record: Any, where: str) -> dict[str, Any]:
    """One mem0 memory as an ``add_many`` item (see the module); ``where`` names it in errors."""
    from reme.memory.checks import build_node, check_time

    if not isinstance(record, Mapping):
        raise BadInputError(f"{where}: a mem0 memory is an object, got {type(record).__name__}")
    content = record.get("memory")
    if not isinstance(content, str) or not content.strip():
        raise BadInputError(f"{where}: no 'memory' text (a mem0 memory holds its text under 'memory')")
    user, agent, run = (_name(record, key, where) for key in ("user_id", "agent_id", "run_id"))
    target = f"user:{user}" if user else f"agent:{agent}" if agent else "default"
    own = record.get("metadata") or {}
    if not isinstance(own, Mapping):
        raise BadInputError(f"{where}: metadata must be an object, got {type(own).__name__}")
    metadata: dict[str, Any] = dict(own)
    mem0_id = _name(record, "id", where)
    if mem0_id:
        metadata["mem0_id"] = mem0_id
    if run:
        metadata["session_id"] = run
    if user and agent:
        metadata["agent_id"] = agent
    for key in _CARRIED:
        if record.get(key) not in (None, "", []):
            metadata[key] = record[key]
    item: dict[str, Any] = {"content": content, "memory_target": target, "metadata": metadata}
    for key, field in (("created_at", "message_time"), ("created_at", "time_created")):
        value = record.get(key)
        if value:
            try:
                item[field] = check_time(str(value))
            except BadInputError as exc:
                raise BadInputError(f"{where}: {key}: {exc}") from None
    if record.get("updated_at"):
        metadata["mem0_updated_at"] = str(record["updated_at"])  # a write here is a modification: kept apart
    try:
        build_node(item)
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None
    return item


def import_mem0(path: str | Path, workspace: str | Path | Memory, *, encoder: Encoder | None = None) -> dict[str, int]:
    """Import a mem0 export (see the module) into ``workspace`` (a directory, or an open ``Memory``); ``encoder``
    overrides the workspace's (tests). Returns ``memories`` written and ``skipped`` (the same text twice in one
    target: one memory)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise BadInputError(f"{source} is not a file (a mem0 export: get_all()'s JSON, a list, or JSON Lines)")
    items = [mem0_record_to_item(record, where) for where, record in _records(source)]
    seen: set[tuple[str, str]] = set()
    unique = []
    for item in items:
        key = (item["memory_target"], item["content"])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return {"memories": write_imported(unique, workspace, encoder), "skipped": len(items) - len(unique)}
