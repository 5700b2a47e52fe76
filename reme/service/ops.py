"""The service's operations, one body each, shared by its two faces: the HTTP routes (``app``) and the MCP tools
(``mcp_tools``) are thin adapters that parse their protocol's input, check access, run one of these under the
workspace lock and map its errors to their protocol.

Each operation is a plain function over an open ``Memory``: it validates its input (a target left out means
``default``), calls the library, and returns a pydantic result (the MCP tools' output schemas; the HTTP routes dump
them). Compaction and ReMe's flows have their own shared bodies (``compaction``, ``task_flows``,
``personal_tool_flows``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from reme.policy.trajectory import RewardEvent, read_records
from reme.schema import MemoryNode, normalize_target

if TYPE_CHECKING:
    from reme.memory import Memory

__all__ = [
    "MAX_LIMIT",
    "AddResult",
    "Deleted",
    "MemoryList",
    "SearchHitOut",
    "SearchResult",
    "TrajectoryExport",
    "add_memory",
    "delete_memory",
    "export_trajectories",
    "feedback",
    "get_memory",
    "list_memories",
    "search_memory",
    "trajectory_lines",
    "update_memory",
]

MAX_LIMIT = 1000
"""Largest ``limit`` of a search (the library's bound)."""


# ---------------------------------------------------------------------------------------------- results
class AddResult(BaseModel):
    """What ``add_memory`` did: ``stored`` is false when the write policy discarded the text (then ``memory``
    is null); otherwise ``memory`` is the memory written (for an update of a near-duplicate: that memory,
    with its id and the new content)."""

    stored: bool
    memory: MemoryNode | None = None


class SearchHitOut(BaseModel):
    """One search result: the memory's id and text, its ``score`` (ReMe's fused relevance, at most 1, the scale of
    ``min_score`` whatever policy ranked), the ranking policy's own ``policy_score`` (which set the order), the dense
    and keyword similarities (null when that side did not retrieve it), and its 0-based ``rank``."""

    memory_id: str
    content: str
    score: float
    policy_score: float | None = None
    vector_score: float | None = None
    keyword_score: float | None = None
    rank: int
    memory: MemoryNode


class SearchResult(BaseModel):
    """A search: ``decision_id`` names the ranking decision (give it to ``feedback``); ``results`` best first."""

    decision_id: str
    target: str
    results: list[SearchHitOut]


class MemoryList(BaseModel):
    """The memories of one target, oldest first."""

    target: str
    count: int
    memories: list[MemoryNode]


class Deleted(BaseModel):
    """The id of the memory that was deleted."""

    deleted: str


class TrajectoryExport(BaseModel):
    """The most recent records of the trajectory log, oldest first: decision records (``type: "decision"``), reward
    records (``type: "reward"``) and memory events (``type: "memory"``: deletions), as in the JSONL segments.
    ``unreadable`` counts lines that could not be parsed (a torn last line, a corrupted byte); ``reme trajectories
    verify`` names them."""

    records: list[dict[str, Any]]
    unreadable: int = 0


# ------------------------------------------------------------------------------------------- operations
def add_memory(
    memory: Memory,
    content: str,
    target: str | None,
    *,
    time: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AddResult:
    """Store one memory through the write policy (which may discard it or update a near-duplicate)."""
    node = memory.add(content, normalize_target(target), message_time=time or "", metadata=metadata)
    return AddResult(stored=node is not None, memory=node)


def search_memory(
    memory: Memory,
    query: str,
    limit: int,
    target: str | None,
    *,
    min_score: float | None = None,
    filters: dict[str, Any] | None = None,
) -> SearchResult:
    """Search one target (only memories whose metadata matches ``filters``, when given); the ranking decision is
    logged and named by the result's ``decision_id``."""
    name = normalize_target(target)
    decision, hits = memory.search_with_decision(query, limit, name, min_score=min_score, filters=filters)
    results = [
        SearchHitOut(
            memory_id=h.memory.memory_id,
            content=h.memory.content,
            score=h.score,
            policy_score=h.policy_score,
            vector_score=h.vector_score,
            keyword_score=h.keyword_score,
            rank=h.rank,
            memory=h.memory,
        )
        for h in hits
    ]
    return SearchResult(decision_id=decision.decision_id, target=name, results=results)


def get_memory(memory: Memory, memory_id: str) -> MemoryNode:
    """One memory by id (``NotFoundError`` for an unknown one)."""
    return memory.get(memory_id)


def list_memories(memory: Memory, target: str | None, limit: int | None) -> MemoryList:
    """The memories of one target, oldest first (at most ``limit``)."""
    name = normalize_target(target)
    nodes = memory.list(name, limit)
    return MemoryList(target=name, count=len(nodes), memories=nodes)


def update_memory(
    memory: Memory,
    memory_id: str,
    content: str | None,
    *,
    when_to_use: str | None,
    metadata: dict[str, Any] | None,
) -> MemoryNode:
    """Change a memory's content, when_to_use or metadata; it keeps its id."""
    return memory.update(memory_id, content, when_to_use=when_to_use, metadata=metadata)


def delete_memory(memory: Memory, memory_id: str) -> Deleted:
    """Delete one memory (``NotFoundError`` for an unknown one)."""
    memory.delete(memory_id)
    return Deleted(deleted=memory_id)


def feedback(memory: Memory, value: float, *, decision_id: str | None, memory_id: str | None) -> RewardEvent:
    """A reward in [-1, 1] on a decision (a search) or on a memory (credited to the write that stored it)."""
    return memory.feedback(value, decision_id=decision_id, memory_id=memory_id)


def export_trajectories(memory: Memory, limit: int | None) -> TrajectoryExport:
    """The trajectory log's records as JSON objects, oldest first (only the ``limit`` most recent ones)."""
    kept: deque[dict[str, Any]] = deque(maxlen=limit)
    unreadable = 0
    for line in read_records(memory.trajectory):
        if line.record is None:
            unreadable += 1
        else:
            kept.append(line.record.model_dump(mode="json"))
    return TrajectoryExport(records=list(kept), unreadable=unreadable)


def trajectory_lines(memory: Memory) -> Iterator[bytes]:
    """The trajectory log's segments as stored, line by line (the NDJSON export), read as the iterator is."""
    root = Path(memory.workspace.trajectory_dir)
    rows = getattr(memory.trajectory, "rows", None)
    if rows is not None:  # the PostgreSQL log: each row's body is the line a segment would hold
        return ((body + "\n").encode("utf-8") for _, body in rows())

    def lines() -> Iterator[bytes]:
        for path in sorted(root.glob("segment-*.jsonl")):
            with path.open("rb") as fh:
                yield from fh

    return lines()
