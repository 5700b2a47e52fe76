"""The writes of a workspace: add through the write policy, update, delete.

An add validates every item first (``build_node``; bad input leaves the workspace unchanged), then per batch:
encodes, asks the write policy for one decision per memory (``store``, ``discard``, or ``update`` its nearest
existing memory; with ``policies.exploration.write`` above 0 a discard may be explored into a store,
``reme.policy.explore``), commits what the decisions keep in one transaction, updates the in-memory indexes
(``TargetIndexes.after_upsert``), and logs the decisions once their memories are durable.

What a write decision sees is what its policy declares it needs: ``needs_nearest = False`` (ReMe's heuristic, which
only asks whether the same memory id exists) skips the nearest-neighbour search that a learned policy's state needs.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from reme.errors import BadInputError, ConflictError, NotFoundError
from reme.memory.checks import build_node, check_id
from reme.policy.decision import Decision
from reme.policy.explore import explore_write
from reme.policy.registry import ensure_registered
from reme.policy.trajectory import MemoryEvent
from reme.schema import MemoryNode, MemoryType

if TYPE_CHECKING:
    from reme.memory.facade import Memory

__all__ = ["add_many", "decide_writes", "delete_many", "own_ids", "update"]

Nearest = tuple[str | None, float | None, str | None]
"""What a write decision knows of the closest stored memory: ``(id, cosine, text)``, or Nones."""


def add_many(
    memory: Memory,
    items: Iterable[MemoryNode | Mapping[str, Any] | str],
    target: str | None = None,
    *,
    vectors: np.ndarray | None = None,
    batch_size: int = 512,
    show_progress: bool | None = None,
    on_commit: Callable[[builtins.list[MemoryNode]], None] | None = None,
    foreign_ids: Literal["error", "new_id"] = "error",
    policy: Any | None = None,
) -> builtins.list[MemoryNode]:
    """Store many memories through a write policy (see ``Memory.add_many``)."""
    key = memory.records.id_key
    writer = policy or memory.write_policy
    if policy is not None:
        ensure_registered(memory.workspace.root, policy)  # its decisions must stay replayable
    nodes = own_ids(memory, [build_node(item, target, key) for item in items], foreign_ids)
    if vectors is not None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(nodes):
            raise BadInputError(f"vectors must have shape ({len(nodes)}, dim), got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise BadInputError("vectors contain NaN or infinite values")
    progress = memory.show_progress if show_progress is None else show_progress
    from reme.progress import progress_bar

    out: builtins.list[MemoryNode] = []
    with progress_bar("adding memories", total=len(nodes), enabled=progress) as advance:
        for start in range(0, len(nodes), batch_size):
            batch = nodes[start : start + batch_size]
            if vectors is not None:
                vecs = vectors[start : start + batch_size]
            else:
                vecs = memory.encoder.encode([n.index_text for n in batch])
            decisions = _decide(memory, batch, vecs, writer)
            keep = [i for i, d in enumerate(decisions) if d.action != "discard"]
            written: builtins.list[MemoryNode] = []
            if keep:
                with memory._write_lock:
                    with memory.records.transaction():  # a superseded memory is read and written at once
                        written = [_apply_write(memory, batch[i], decisions[i]) for i in keep]
                        committed = memory.records.upsert_many(written, vecs[keep], memory.model_id)
                    _apply_to_indexes(memory, written, vecs[keep], committed)
            for decision in decisions:  # logged once the memories they wrote are durable
                memory.log_decision(decision, writer)
            if on_commit is not None:
                on_commit(written)
            out.extend(written)
            advance(len(batch))
    return out


def own_ids(memory: Memory, nodes: builtins.list[MemoryNode], foreign_ids: str) -> builtins.list[MemoryNode]:
    """``nodes`` with no id that belongs to a memory of another target (see ``Memory.own_ids``)."""
    owner = memory.records.targets_of([n.memory_id for n in nodes])
    out = []
    for node in nodes:
        if owner.setdefault(node.memory_id, node.memory_target) != node.memory_target:
            if foreign_ids != "new_id":
                raise ConflictError(
                    f"memory id {node.memory_id!r} is already in use: choose another id, or leave it out"
                )
            node = node.model_copy(update={"memory_id": memory.memory_id_for(node.content, node.memory_target)})
            owner.setdefault(node.memory_id, node.memory_target)
        out.append(node)
    return out


def decide_writes(memory: Memory, texts: Sequence[str], target: str | None = None) -> builtins.list[Decision]:
    """One logged write decision per candidate text, nothing written (see ``Memory.decide_writes``)."""
    if not texts:
        return []
    nodes = [build_node(text, target, memory.records.id_key) for text in texts]
    vectors = memory.encoder.encode([n.index_text for n in nodes])
    decisions = _decide(memory, nodes, vectors)
    for decision in decisions:
        memory.log_decision(decision, memory.write_policy, gate="memory_writer")
    return decisions


def _decide(
    memory: Memory, batch: builtins.list[MemoryNode], vectors: np.ndarray, policy: Any | None = None
) -> builtins.list[Decision]:
    """One write decision per candidate memory. A policy that does not need the nearest memory (ReMe's
    ``add_memory``: ``needs_nearest = False``) is told only whether the same memory id exists; the others see the
    nearest memory of the target (FAISS top 1)."""
    from reme.policy.write import make_write_state, state_needs_nearest

    policy = policy or memory.write_policy
    mode = memory.settings.mode
    epsilon, seed = memory.settings.policies.exploration.write, memory.settings.policies.exploration.seed
    nearest: builtins.list[Nearest] = []
    if not state_needs_nearest(policy):
        for node in batch:
            try:
                same = memory.records.get(node.memory_id)
                nearest.append((same.memory_id, 1.0 if same.index_text == node.index_text else 0.0, same.index_text))
            except NotFoundError:
                nearest.append((None, None, None))
    else:
        nearest = _nearest(memory, batch, vectors)
    decisions = []
    for node, (nid, sim, text) in zip(batch, nearest):
        with memory._lock:  # a live stream is observed, decided and recorded as one step
            stream = _live_stream(memory, node.memory_target)
            state = make_write_state(
                node.index_text, nid, sim, text, speaker=str(node.metadata.get("speaker", "")), stream=stream
            )
            decision = explore_write(policy, state, policy.decide(state, mode, memory._rng), epsilon, seed)
            if stream is not None:  # an explored store is exploration's cost, on top of the budget
                stream.record("discard" if decision.extra.get("explored") else decision.action)
        decision.memory_ids = [nid] if decision.action == "update" and nid else [node.memory_id]
        if decision.action == "discard":
            decision.memory_ids = []
        decision.extra["target"] = node.memory_target
        decisions.append(decision)
    return decisions


def _live_stream(memory: Memory, target: str) -> Any:
    """The target's live ``WriteStream`` when the workspace sets ``policies.write_budget`` (kept for the life of
    this ``Memory``; a new process starts its stream afresh), else ``None``."""
    from reme.policy.write import WriteStream

    rate = memory.settings.policies.write_budget
    if rate is None:
        return None
    stream = memory._write_streams.get(target)
    if stream is None or stream.rate != rate:
        stream = memory._write_streams[target] = WriteStream.at_rate(rate)
    return stream


def _nearest(memory: Memory, batch: builtins.list[MemoryNode], vectors: np.ndarray) -> builtins.list[Nearest]:
    """The most similar stored memory of each candidate's target: ``(id, cosine, text)`` or Nones."""
    out: builtins.list[Nearest] = [(None, None, None)] * len(batch)
    by_target: dict[str, builtins.list[int]] = {}
    for i, node in enumerate(batch):
        by_target.setdefault(node.memory_target, []).append(i)
    for node_target, rows in by_target.items():
        with memory._lock:
            index = memory.index_for(node_target)
            scores, ids = index.dense.search(vectors[rows], 1)
        if ids.shape[1] == 0:  # the target is empty
            continue
        found = memory.records.get_by_seqs([int(i) for i in ids[:, 0] if i >= 0])
        for row, score, key in zip(rows, scores[:, 0], ids[:, 0]):
            hit = found.get(int(key))
            if hit is not None:
                out[row] = (hit.memory_id, float(score), hit.index_text)
    return out


HISTORY_KEY = "history"
"""Metadata key of a memory's superseded versions (``{content, message_time, time_modified}``, newest last): an
``update`` write decision replaces the text it supersedes and keeps the old one here, so the newer fact is what
searches return and the older one is not lost."""
MAX_HISTORY = 20
"""The most superseded versions one memory keeps (the oldest are dropped)."""


def _apply_write(memory: Memory, node: MemoryNode, decision: Decision) -> MemoryNode:
    """The record a write decision produces: the node itself, or the superseded memory with new content (the old
    text moves to its ``metadata["history"]``). Writing a
    memory that exists already (the same text again) keeps what the new write does not say: its time, its creation
    time and the metadata keys it does not set (re-adding a fact without ``--time`` used to blank its time)."""
    if decision.action != "update" or not decision.memory_ids or decision.memory_ids[0] == node.memory_id:
        try:
            same = memory.records.get(node.memory_id)
        except NotFoundError:
            return node
        return node.model_copy(
            update={
                "message_time": node.message_time or same.message_time,
                "time_created": same.time_created,
                "metadata": {**same.metadata, **node.metadata},
            }
        )
    old = memory.records.get(decision.memory_ids[0])
    fields = old.model_dump()
    fields.update(content=node.content, when_to_use=node.when_to_use, message_time=node.message_time)
    fields["metadata"] = {**old.metadata, **node.metadata}
    if old.content != node.content:  # the superseded text is kept as the memory's history, newest last
        past = list(old.metadata.get(HISTORY_KEY) or [])[-(MAX_HISTORY - 1) :]
        fields["metadata"][HISTORY_KEY] = [*past, {"content": old.content, "message_time": old.message_time,
                                                   "time_modified": old.time_modified}]  # fmt: skip
    return build_node(fields)


def _apply_to_indexes(
    memory: Memory, nodes: builtins.list[MemoryNode], vectors: np.ndarray, committed: tuple[Any, Any, Any]
) -> None:
    """Bring the in-memory indexes up to a committed ``upsert_many`` (what it returned). Called under
    ``memory._write_lock`` once the transaction is closed: the store's lock is never held while the index lock is
    taken (a search holds the index lock and may read the store to build an index)."""
    seqs, generations, replaced = committed
    with memory._lock:
        memory.indexes.after_upsert(nodes, vectors, seqs, generations, replaced)


def update(
    memory: Memory,
    memory_id: str,
    content: str | None = None,
    *,
    target: str | None = None,
    memory_type: MemoryType | str | None = None,
    when_to_use: str | None = None,
    message_time: str | None = None,
    ref_memory_id: str | None = None,
    author: str | None = None,
    score: float | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> MemoryNode:
    """Change fields of a memory; it keeps its id (see ``Memory.update``)."""
    old = memory.records.get(memory_id)
    changes = {
        "content": content,
        "memory_target": target,
        "memory_type": memory_type,
        "when_to_use": when_to_use,
        "message_time": message_time,
        "ref_memory_id": ref_memory_id,
        "author": author,
        "score": score,
        "metadata": metadata,
    }
    given = {k: v for k, v in changes.items() if v is not None}
    node = build_node({**old.model_dump(), **given}, None)
    encoded_text = node.index_text
    encoded = None if encoded_text == old.index_text else memory.encoder.encode([encoded_text])
    with memory._write_lock:
        with memory.records.transaction():
            current = memory.records.get(memory_id)
            if current != old:  # changed by someone else since it was read: apply the changes to what is there
                node = build_node({**current.model_dump(), **given}, None)
            if node.index_text == current.index_text:
                vector = memory.records.vector(memory_id)
            elif encoded is not None and node.index_text == encoded_text:
                vector = encoded
            else:
                vector = memory.encoder.encode([node.index_text])
            committed = memory.records.upsert_many([node], vector, memory.model_id, move=target is not None)
        _apply_to_indexes(memory, [node], vector, committed)
    return node


def delete_many(memory: Memory, memory_ids: Sequence[str]) -> int:
    """Delete memories that exist; returns how many went. The deletion is logged (a ``MemoryEvent``), which ends
    the storage cost of the writes that stored them."""
    for memory_id in memory_ids:
        check_id("memory_id", memory_id)
    with memory._write_lock:
        present = list(memory.records.targets_of(list(memory_ids)))
        gone, generations = memory.records.delete_many(list(memory_ids))
        with memory._lock:
            memory.indexes.after_delete(gone, generations)
    if gone and present:  # the end of these memories' storage cost (reme.policy.rewards)
        memory.trajectory.append(MemoryEvent(memory_ids=present))
    return len(gone)
