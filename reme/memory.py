"""``Memory``: the one core object. Add, search, list, update and delete memories in a workspace.

A search reads straight down: encode the query, take FAISS and BM25 candidates from the target's indexes,
let the ranker order them, fetch the records. The records in SQLite are the truth; the indexes are per-target
caches rebuilt whenever the target's generation in the database moved past them (another process wrote, or
the process restarted), and updated incrementally for this process's own writes.

Example::

    from reme import Memory
    with Memory("./my_workspace") as mem:
        mem.add("Alice moved to Lisbon in May.", target="user:alice")
        for hit in mem.search("Where does Alice live?", target="user:alice"):
            print(hit.score, hit.memory.content)
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.errors import BadInputError, ConflictError, NotFoundError, ReMeError
from reme.policy.decision import Decision, Mode
from reme.policy.decision_index import DecisionIndex, DecisionRef
from reme.policy.guard import load_guarded
from reme.policy.rank import RankState
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.registry import ensure_registered
from reme.policy.trajectory import RewardEvent, TrajectoryLog
from reme.retrieval.cache import CachedEncoder, EmbeddingCache
from reme.retrieval.candidates import CandidateSet
from reme.retrieval.embedding import Encoder, build_encoder
from reme.retrieval.features import build_features, context_features, neighbour_text_features
from reme.schema import (
    MemoryNode,
    MemoryType,
    SearchHit,
    check_text,
    json_problem,
    make_memory_id,
    normalize_target,
    utc_now,
)
from reme.settings import WorkspaceSettings, load_settings
from reme.store.markdown import chunk_markdown
from reme.store.records import RecordStore
from reme.store.workspace import Workspace

log = logging.getLogger(__name__)

FILE_TARGET = "file:memory"
"""Target of the chunks of ``MEMORY.md`` and ``memory/*.md`` (ReMeLight's file memory)."""

_MAX_LIMIT = 1000


@dataclass
class _TargetIndex:
    """In-memory FAISS + BM25 of one target, valid for the records at ``generation``."""

    generation: int
    dense: Any  # DenseIndex
    bm25: Any | None  # BM25Index, None when it must be rebuilt before the next search
    saved_generation: int = -1
    """Generation of the copy under ``index/`` (-1: none)."""


def check_time(value: str | None) -> str:
    """An ISO 8601 date or datetime, or empty."""
    if not value:
        return ""
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadInputError(f"invalid time {value!r}: use ISO 8601, e.g. 2024-05-08 or 2024-05-08T13:56:00") from None
    return value


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise BadInputError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    problem = json_problem(metadata)
    if problem is not None:
        raise BadInputError(f"metadata {problem}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"metadata is not JSON-serialisable: {exc}") from None
    return dict(metadata)


def build_node(item: MemoryNode | Mapping[str, Any] | str, target: str | None = None, id_key: str = "") -> MemoryNode:
    """Validate one add request (a text, a mapping with ``content`` or ``text``, or a node) into a node with its
    id; raises ``BadInputError`` naming the problem. ``target`` applies when the item names none; ``id_key`` is the
    workspace's key of derived ids (``make_memory_id``)."""
    if isinstance(item, MemoryNode):
        fields = item.model_dump()
    elif isinstance(item, str):
        fields = {"content": item}
    elif isinstance(item, Mapping):
        fields = dict(item)
        if "text" in fields and "content" not in fields:
            fields["content"] = fields.pop("text")
        if "target" in fields:
            fields["memory_target"] = fields.pop("target")
        if "time" in fields:
            fields["message_time"] = fields.pop("time")
    else:
        raise BadInputError(f"a memory must be a string, a mapping or a MemoryNode, got {type(item).__name__}")
    fields["content"] = check_text(fields.get("content"), "memory text")
    if fields.get("when_to_use"):
        fields["when_to_use"] = check_text(fields["when_to_use"], "when_to_use")
    chosen = fields.get("memory_target") if fields.get("memory_target") not in (None, "") else target
    fields["memory_target"] = normalize_target(chosen)
    fields["message_time"] = check_time(fields.get("message_time") or "")
    fields["metadata"] = _check_metadata(fields.get("metadata"))
    score = fields.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float) or not _finite(score):
        raise BadInputError(f"score must be a finite number, got {score!r}")
    if not fields.get("memory_id"):
        fields["memory_id"] = make_memory_id(fields["content"], fields["memory_target"], id_key)
    elif not isinstance(fields["memory_id"], str) or len(fields["memory_id"]) > 256:
        raise BadInputError("memory_id must be a string of at most 256 characters")
    fields.setdefault("time_created", utc_now())
    fields["time_modified"] = utc_now()
    try:
        return MemoryNode.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInputError(f"invalid memory field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


class Memory:
    """Long-term memory in one workspace directory.

    Args:
        workspace: the workspace directory (created if missing).
        embedding: the encoder config. ``None`` reuses the workspace's stored config (or the offline default,
            all-MiniLM-L6-v2, for a new workspace). A config with another model re-encodes the stored memories.
        retrieval: candidate counts, fusion weight, ``min_score``, index thresholds.
        encoder: an already-built encoder (overrides ``embedding``; tests and benchmarks use this).
        rank_policy: the ranking policy; default the one ``reme.yaml`` names (``heuristic``: ReMe's fusion).
        write_policy: the write policy; default the one ``reme.yaml`` names (``heuristic``: ReMe's add).
        settings: workspace settings; default ``reme.yaml`` with environment overrides.
        seed: seed of the generator that ``sample``-mode decisions draw from.
        embedding_cache: path of the embedding cache, default inside the workspace; ``False`` disables it.
        show_progress: draw progress bars (stderr) for long encodes and re-indexing.
    """

    def __init__(
        self,
        workspace: str | Path = ".reme",
        embedding: EmbeddingConfig | None = None,
        retrieval: RetrievalConfig | None = None,
        *,
        encoder: Encoder | None = None,
        rank_policy: Any | None = None,
        write_policy: Any | None = None,
        settings: WorkspaceSettings | None = None,
        embedding_cache: str | Path | bool = True,
        show_progress: bool = False,
        seed: int | None = None,
    ):
        self.workspace = Workspace(workspace)
        self.workspace.check_database()
        self.records = RecordStore(self.workspace.db_path)
        self.retrieval = retrieval or RetrievalConfig()
        self.settings = settings or load_settings(self.workspace.root)
        policies = self.settings.policies
        self.rank_policy = rank_policy or load_guarded(self.workspace.root, "rank", policies.rank, policies.on_failure)
        self.write_policy = write_policy or load_guarded(
            self.workspace.root, "write", policies.write, policies.on_failure
        )
        for policy in (self.rank_policy, self.write_policy):
            ensure_registered(self.workspace.root, policy)
        self.trajectory = TrajectoryLog(
            self.workspace.trajectory_dir, self.settings.trajectories.enabled, self.settings.trajectories.segment_bytes
        )
        self.decisions = DecisionIndex(self.workspace.trajectory_dir, self.workspace.index_dir / "decisions.db")
        if self.settings.trajectories.retention_days is not None:
            from reme.policy.trajectory import prune_trajectories

            prune_trajectories(self.workspace.trajectory_dir, self.settings.trajectories.retention_days)
        self._rng = np.random.default_rng(seed)
        self.show_progress = show_progress
        self._lock = threading.RLock()
        self._indexes: dict[str, _TargetIndex] = {}
        self.embedding = embedding or self._stored_embedding_config() or EmbeddingConfig()
        self._given_encoder = encoder
        self.model_id = encoder.model_id if encoder is not None else self.embedding.model_id
        self._encoder: Encoder | None = None
        self._query_encoder: Encoder | None = None
        self._cache: EmbeddingCache | None = None
        if embedding_cache is not False:
            path = self.workspace.embedding_cache_path if embedding_cache is True else Path(embedding_cache)
            self._cache = EmbeddingCache(path)
        self._reindex_stale_vectors()
        meta = {"embedding_model_id": self.model_id}
        if encoder is None:
            meta["embedding_config"] = self.embedding.model_dump_json(exclude={"api_key"})
        for key, value in meta.items():  # opening a workspace to read it does not write to it
            if self.records.get_meta(key) != value:
                self.records.set_meta(key, value)

    def memory_id_for(self, content: str, target: str | None = None) -> str:
        """The id a memory with this text gets in ``target`` when added without one (keyed by the workspace)."""
        return make_memory_id(content, normalize_target(target), self.records.id_key)

    # ------------------------------------------------------------------------------------------- encoders
    def _stored_embedding_config(self) -> EmbeddingConfig | None:
        raw = self.records.get_meta("embedding_config")
        if raw is None:
            return None
        try:
            return EmbeddingConfig.model_validate_json(raw)
        except ValidationError:
            return None

    @property
    def encoder(self) -> Encoder:
        """The document encoder (through the embedding cache when enabled). Built on first use."""
        if self._encoder is None:
            base = self._query_encoder_base()
            self._encoder = CachedEncoder(base, self._cache) if self._cache is not None else base
        return self._encoder

    def _query_encoder_base(self) -> Encoder:
        if self._query_encoder is None:
            self._query_encoder = self._given_encoder or build_encoder(self.embedding)
        return self._query_encoder

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors (not cached: queries rarely repeat and a cache write per search costs an fsync)."""
        return self._query_encoder_base().encode(list(queries))

    def _reindex_stale_vectors(self) -> None:
        """Re-encode every record whose vector came from another model (after a model change, or a crash
        half-way through one). Row by row, so an interrupted re-index resumes instead of mixing models."""
        stale = self.records.count_stale(self.model_id)
        if stale == 0:
            return
        previous = self.records.get_meta("embedding_model_id")
        log.warning("re-indexing %d memories for embedding model %s (was %s)", stale, self.model_id, previous)
        from reme.progress import progress_bar

        with progress_bar("re-indexing", total=stale, enabled=self.show_progress) as advance:
            for batch in self.records.stale_vectors(self.model_id, batch=512):
                seqs = [s for s, _ in batch]
                vectors = self.encoder.encode([t for _, t in batch])
                self.records.set_vectors(seqs, vectors, self.model_id)
                advance(len(batch))
        self._indexes.clear()

    # --------------------------------------------------------------------------------------------- writes
    def add(
        self,
        content: str,
        target: str | None = None,
        *,
        memory_type: MemoryType | str = MemoryType.personal,
        when_to_use: str = "",
        message_time: str = "",
        metadata: Mapping[str, Any] | None = None,
        memory_id: str | None = None,
        ref_memory_id: str = "",
        author: str = "",
        score: float = 0.0,
        vector: np.ndarray | None = None,
    ) -> MemoryNode | None:
        """Store one memory through the write policy; when this returns, it is on disk. Returns the memory
        written (for ``update``: the superseded memory with its new content), or ``None`` when the policy
        discarded it. Re-adding the same text to the same target updates that memory instead of duplicating it
        (ids are ``sha256(target, content)[:16]``)."""
        item = {
            "content": content,
            "memory_target": target,
            "memory_type": memory_type,
            "when_to_use": when_to_use,
            "message_time": message_time,
            "metadata": metadata,
            "memory_id": memory_id,
            "ref_memory_id": ref_memory_id,
            "author": author,
            "score": score,
        }
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        written = self.add_many([item], vectors=vectors)
        return written[0] if written else None

    def add_many(
        self,
        items: Iterable[MemoryNode | Mapping[str, Any] | str],
        target: str | None = None,
        *,
        vectors: np.ndarray | None = None,
        batch_size: int = 512,
        show_progress: bool | None = None,
        on_commit: Callable[[list[MemoryNode]], None] | None = None,
        foreign_ids: Literal["error", "new_id"] = "error",
        policy: Any | None = None,
    ) -> list[MemoryNode]:
        """Store many memories. Everything is validated before anything is written (bad input leaves the
        workspace unchanged); then each batch of ``batch_size`` is encoded and committed in one transaction,
        and ``on_commit`` is told which memories are now durable.

        ``vectors`` (one unit row per item) skips encoding, for callers that bring their own embeddings.

        A write never moves a memory between targets. An item whose explicit ``memory_id`` belongs to a memory of
        another target raises ``ConflictError`` (``foreign_ids="error"``, nothing is written) or is stored under
        the id its text gets in its own target (``"new_id"``: imports and dump loads, whose ids came from
        elsewhere).

        Each memory first goes through the write policy (``store``, ``discard``, or ``update`` its nearest
        existing memory); the decision is logged. Returns the memories written (stored, or updated in place of
        the one they supersede), in order; discarded ones are left out. ``policy`` writes through that write
        policy instead of the workspace's (as ``search``'s ``policy``)."""
        key = self.records.id_key
        writer = policy or self.write_policy
        if policy is not None:
            ensure_registered(self.workspace.root, policy)  # its decisions must stay replayable
        nodes = self.own_ids([build_node(item, target, key) for item in items], foreign_ids)
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(nodes):
                raise BadInputError(f"vectors must have shape ({len(nodes)}, dim), got {vectors.shape}")
            if not np.isfinite(vectors).all():
                raise BadInputError("vectors contain NaN or infinite values")
        progress = self.show_progress if show_progress is None else show_progress
        from reme.progress import progress_bar

        out: builtins.list[MemoryNode] = []
        with progress_bar("adding memories", total=len(nodes), enabled=progress) as advance:
            for start in range(0, len(nodes), batch_size):
                batch = nodes[start : start + batch_size]
                if vectors is not None:
                    vecs = vectors[start : start + batch_size]
                else:
                    vecs = self.encoder.encode([n.index_text for n in batch])
                decisions = self._decide_writes(batch, vecs, writer)
                keep = [i for i, d in enumerate(decisions) if d.action != "discard"]
                written: builtins.list[MemoryNode] = []
                if keep:
                    with self._lock, self.records.transaction():  # a superseded memory is read and written at once
                        written = [self._apply_write(batch[i], decisions[i]) for i in keep]
                        self._write(written, vecs[keep])
                for decision in decisions:  # logged once the memories they wrote are durable
                    self.record(decision, writer)
                if on_commit is not None:
                    on_commit(written)
                out.extend(written)
                advance(len(batch))
        return out

    def own_ids(self, nodes: builtins.list[MemoryNode], foreign_ids: str) -> builtins.list[MemoryNode]:
        """``nodes`` with no id that belongs to a memory of another target: ``foreign_ids="error"`` raises
        ``ConflictError`` (nothing written), ``"new_id"`` gives such a node the id of its text in its own target
        (see ``add_many``, which applies this to every batch)."""
        owner = self.records.targets_of([n.memory_id for n in nodes])
        out = []
        for node in nodes:
            if owner.setdefault(node.memory_id, node.memory_target) != node.memory_target:
                if foreign_ids != "new_id":
                    raise ConflictError(
                        f"memory id {node.memory_id!r} is already in use: choose another id, or leave it out"
                    )
                node = node.model_copy(update={"memory_id": self.memory_id_for(node.content, node.memory_target)})
                owner.setdefault(node.memory_id, node.memory_target)
            out.append(node)
        return out

    def decide_writes(self, texts: Sequence[str], target: str | None = None) -> builtins.list[Decision]:
        """One write decision per candidate text against the memories of ``target``, logged; nothing is written.
        For callers that write elsewhere: the memory writer filters the facts it puts in ``memory/*.md`` with them
        (``discard`` drops a fact; ``store`` and ``update`` keep it)."""
        if not texts:
            return []
        nodes = [build_node(text, target, self.records.id_key) for text in texts]
        vectors = self.encoder.encode([n.index_text for n in nodes])
        decisions = self._decide_writes(nodes, vectors)
        for decision in decisions:
            self.record(decision, self.write_policy, gate="memory_writer")
        return decisions

    def _decide_writes(
        self, batch: builtins.list[MemoryNode], vectors: np.ndarray, policy: Any | None = None
    ) -> builtins.list[Decision]:
        """One write decision per candidate memory. The heuristic (ReMe's ``add_memory``) only needs to know
        whether the same memory id exists; a learned policy sees the nearest memory of the target (FAISS top 1)."""
        from reme.policy.write import HeuristicWritePolicy, make_write_state

        policy = policy or self.write_policy
        mode = self.settings.mode
        nearest: builtins.list[tuple[str | None, float | None, str | None]] = []
        if isinstance(policy, HeuristicWritePolicy):
            for node in batch:
                try:
                    same = self.records.get(node.memory_id)
                    nearest.append(
                        (same.memory_id, 1.0 if same.index_text == node.index_text else 0.0, same.index_text)
                    )
                except NotFoundError:
                    nearest.append((None, None, None))
        else:
            nearest = self._nearest(batch, vectors)
        decisions = []
        for node, (nid, sim, text) in zip(batch, nearest):
            state = make_write_state(node.index_text, nid, sim, text, speaker=str(node.metadata.get("speaker", "")))
            decision = policy.decide(state, mode, self._rng)
            decision.memory_ids = [nid] if decision.action == "update" and nid else [node.memory_id]
            if decision.action == "discard":
                decision.memory_ids = []
            decision.extra["target"] = node.memory_target
            decisions.append(decision)
        return decisions

    def _nearest(
        self, batch: builtins.list[MemoryNode], vectors: np.ndarray
    ) -> builtins.list[tuple[str | None, float | None, str | None]]:
        """The most similar stored memory of each candidate's target: ``(id, cosine, text)`` or Nones."""
        out: builtins.list[tuple[str | None, float | None, str | None]] = [(None, None, None)] * len(batch)
        by_target: dict[str, builtins.list[int]] = {}
        for i, node in enumerate(batch):
            by_target.setdefault(node.memory_target, []).append(i)
        for node_target, rows in by_target.items():
            with self._lock:
                index = self._index_for(node_target)
                scores, ids = index.dense.search(vectors[rows], 1)
            if ids.shape[1] == 0:  # the target is empty
                continue
            found = self.records.get_by_seqs([int(i) for i in ids[:, 0] if i >= 0])
            for row, score, key in zip(rows, scores[:, 0], ids[:, 0]):
                hit = found.get(int(key))
                if hit is not None:
                    out[row] = (hit.memory_id, float(score), hit.index_text)
        return out

    def _apply_write(self, node: MemoryNode, decision: Decision) -> MemoryNode:
        """The record a write decision produces: the node itself, or the superseded memory with new content."""
        if decision.action != "update" or not decision.memory_ids or decision.memory_ids[0] == node.memory_id:
            return node
        old = self.records.get(decision.memory_ids[0])
        fields = old.model_dump()
        fields.update(content=node.content, when_to_use=node.when_to_use, message_time=node.message_time)
        fields["metadata"] = {**old.metadata, **node.metadata}
        return build_node(fields)

    def _write(self, nodes: list[MemoryNode], vectors: np.ndarray, move: bool = False) -> None:
        with self._lock:
            seqs, generations, replaced = self.records.upsert_many(nodes, vectors, self.model_id, move=move)
            for node_target, new_gen in generations.items():
                index = self._indexes.get(node_target)
                if index is None:
                    continue
                if index.generation != new_gen - 1 or node_target in replaced:
                    del self._indexes[node_target]  # someone else wrote in between, or rows moved: rebuild later
                    continue
                mine = [i for i, n in enumerate(nodes) if n.memory_target == node_target]
                index.dense.add(np.asarray([seqs[i] for i in mine]), vectors[mine])
                index.bm25 = None
                index.generation = new_gen

    def update(
        self,
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
        """Change fields of a memory; it keeps its id. Unknown ids raise ``NotFoundError``. A ``target`` moves it
        there (the only write that moves a memory between targets).

        Only the given fields change, even when other threads or processes update the same memory meanwhile:
        the new text is encoded first, then the memory is read again, changed and written in one write
        transaction, so a concurrent update of another field is never lost and a concurrent delete is never
        undone (this call then raises ``NotFoundError``)."""
        old = self.records.get(memory_id)
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
        encoded = None if encoded_text == old.index_text else self.encoder.encode([encoded_text])
        with self._lock, self.records.transaction():
            current = self.records.get(memory_id)
            if current != old:  # changed by someone else since it was read: apply the changes to what is there
                node = build_node({**current.model_dump(), **given}, None)
            if node.index_text == current.index_text:
                vector = self.records.vector(memory_id)
            elif encoded is not None and node.index_text == encoded_text:
                vector = encoded
            else:
                vector = self.encoder.encode([node.index_text])
            self._write([node], vector, move=target is not None)
        return node

    def delete(self, memory_id: str) -> None:
        """Delete one memory; unknown ids raise ``NotFoundError``."""
        if self.delete_many([memory_id]) == 0:
            raise NotFoundError(f"no memory with id {memory_id!r}")

    def delete_many(self, memory_ids: Sequence[str]) -> int:
        """Delete memories that exist; returns how many went."""
        for memory_id in memory_ids:
            _check_id("memory_id", memory_id)
        with self._lock:
            gone, generations = self.records.delete_many(list(memory_ids))
            for gone_target, new_gen in generations.items():
                index = self._indexes.get(gone_target)
                if index is None:
                    continue
                if index.generation != new_gen - 1:
                    del self._indexes[gone_target]
                    continue
                index.dense.remove(np.asarray([s for s, t in gone if t == gone_target]))
                index.bm25 = None
                index.generation = new_gen
        return len(gone)

    def delete_target(self, target: str) -> int:
        """Delete every memory of a target."""
        target = normalize_target(target)
        return self.delete_many([n.memory_id for n in self.records.list_nodes(target)])

    # ---------------------------------------------------------------------------------------------- reads
    def get(self, memory_id: str) -> MemoryNode:
        """One memory by id; unknown ids raise ``NotFoundError``."""
        _check_id("memory_id", memory_id)
        return self.records.get(memory_id)

    def list(self, target: str | None = None, limit: int | None = None) -> list[MemoryNode]:
        """Memories of one target (all targets when ``None``), oldest first; at most ``limit`` (all when ``None``)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 2**62):
            raise BadInputError(f"limit must be an integer in [1, 2**62], got {limit!r}")
        return self.records.list_nodes(None if target is None else normalize_target(target), limit)

    def count(self, target: str | None = None) -> int:
        return self.records.count(None if target is None else normalize_target(target))

    @property
    def dense_backend(self) -> Any:
        """The dense-candidate backend (``reme.retrieval.backend.DenseBackend``), chosen on first use."""
        if getattr(self, "_backend", None) is None:
            from reme.retrieval.backend import choose_backend

            self._backend = choose_backend(self.retrieval.device)
        return self._backend

    def rebuild_indexes(self, target: str | None = None) -> dict[str, int]:
        """Rebuild the FAISS and BM25 indexes of one target (of every target with memories when ``None``) from
        the records, ignoring any saved copy, and save them again when the target is large (as after a search
        of a stale target). Returns the number of memories indexed per target."""
        targets = [normalize_target(target)] if target is not None else self.records.targets()
        out: dict[str, int] = {}
        with self._lock:
            for name in targets:
                self._indexes.pop(name, None)
                out[name] = len(self._index_for(name, rebuild=True).dense)
        return out

    def _index_for(self, target: str, rebuild: bool = False) -> _TargetIndex:
        """The target's index: in memory if current, else the saved copy under ``index/`` if current, else
        rebuilt from the records (and saved when large). ``rebuild`` skips the saved copy."""
        from reme.retrieval.backend import build_dense
        from reme.retrieval.keyword import BM25Index
        from reme.store.index_cache import PERSIST_MIN, load_index, save_index

        cfg = self.retrieval
        backend = self.dense_backend
        with self._lock:
            current = self.records.generation(target)
            index = self._indexes.get(target)
            if index is not None and index.generation == current:
                needs_ivf = index.dense.kind == "flat" and len(index.dense) > cfg.ann_threshold
                if index.bm25 is not None and not needs_ivf:
                    return index
            elif backend.name == "faiss-cpu" and not rebuild:
                loaded = load_index(
                    self.workspace.index_dir, target, current, self.model_id,
                    cfg.ann_threshold, cfg.ivf_nprobe, cfg.bm25_k1, cfg.bm25_b,
                )  # fmt: skip
                if loaded is not None:
                    index = _TargetIndex(current, loaded[0], loaded[1], saved_generation=current)
                    self._indexes[target] = index
                    return index
            generation, ids, texts, vectors = self.records.index_rows(target)
            bm25 = BM25Index(ids, texts, cfg.bm25_k1, cfg.bm25_b)
            if index is not None and index.generation == generation:
                # only the keyword side is behind this process's own writes (or the target outgrew exact search)
                if index.dense.kind == "flat" and len(ids) > cfg.ann_threshold:
                    index.dense = build_dense(backend, ids, vectors, cfg.ann_threshold, cfg.ivf_nprobe)
                index.bm25 = bm25
                return index
            if index is not None:
                log.info("index of %s is stale (generation %d -> %d): rebuilding", target, index.generation, generation)
            dense = build_dense(backend, ids, vectors, cfg.ann_threshold, cfg.ivf_nprobe)
            index = _TargetIndex(generation, dense, bm25)
            self._indexes[target] = index
            if (
                backend.name == "faiss-cpu"
                and len(ids) >= PERSIST_MIN
                and save_index(self.workspace.index_dir, target, generation, self.model_id, dense, bm25)
            ):
                index.saved_generation = generation
            return index

    def candidates(
        self,
        query: str,
        n: int,
        target: str | None = None,
        query_vector: np.ndarray | None = None,
        dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> CandidateSet:
        """FAISS and BM25 candidates of ``query`` (``n`` from each side) in one target, merged. ``dense_hits``
        (``(scores, ids)`` of this query from a batched dense search) skips the dense search."""
        query = check_text(query, "query")
        target = normalize_target(target)
        if query_vector is None:
            query_vector = self.encode_queries([query])
        query_vector = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        with self._lock:  # a consistent index: another thread's write must not change it mid-search
            index = self._index_for(target)
            if len(index.dense) and query_vector.shape[1] != index.dense.dim:
                raise BadInputError(f"query vector has {query_vector.shape[1]} dims, the index {index.dense.dim}")
            bm25 = index.bm25
            assert bm25 is not None  # _index_for always returns a complete index
            if dense_hits is not None:
                dense_scores, dense_ids = dense_hits[0][None, :n], dense_hits[1][None, :n]
            else:
                dense_scores, dense_ids = index.dense.search(query_vector, n)
            bm25_all = bm25.score_all(query)
            kw_ids, kw_scores = bm25.search(query, n, scores=bm25_all)
            cands = CandidateSet.merge(query, dense_ids[0], dense_scores[0], kw_ids, kw_scores)
            # both exact scores for every candidate: cosine of keyword-only ones, BM25 of dense-only ones
            vec = np.full(len(cands), np.nan, dtype=np.float32)
            need = np.flatnonzero(cands.dense_rank < 0)
            if len(need):
                vec[need] = index.dense.vectors(cands.ids[need]) @ query_vector[0]
            raw = np.asarray([bm25_all[bm25.position[int(i)]] for i in cands.ids], dtype=np.float32)
            cands.fill(vec, raw)
            cands.context = self._context(cands, index, bm25_all, query_vector[0])
        return cands

    @staticmethod
    def _context(cands: CandidateSet, index: _TargetIndex, bm25_all: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Neighbour features: query scores of the memories stored just before and after each candidate."""
        assert index.bm25 is not None
        present = index.bm25.position
        cosine_of = {int(i): float(c) for i, c in zip(cands.ids, cands.vector_score)}
        neighbours = {int(i) + o for i in cands.ids for o in (-2, -1, 1, 2)}
        extra = sorted(key for key in neighbours - set(cosine_of) if key in present)  # never set(present): 100k keys
        if extra:
            cosine_of.update(zip(extra, (index.dense.vectors(np.asarray(extra)) @ qvec).tolist()))
        retrieved = cands.keyword_rank >= 0
        best = float(cands.keyword_raw[retrieved].max()) if retrieved.any() else 0.0
        bm25_norm_of = {
            key: (float(bm25_all[present[key]]) / best if best > 0 else 0.0) for key in cosine_of if key in present
        }
        return context_features(cands.ids, present, cosine_of, bm25_norm_of)

    def rank_state(
        self,
        query: str,
        n: int,
        k: int,
        target: str | None = None,
        query_vector: np.ndarray | None = None,
        query_time: datetime | None = None,
        dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[CandidateSet, RankState, builtins.list[MemoryNode | None]]:
        """Candidates of a query and the ranking policy's view of them (``RANK_FEATURES`` per candidate).
        ``query_time`` (default now) is when the question is asked: memory ages are measured from it."""
        cands = self.candidates(query, n, target, query_vector, dense_hits)
        wanted = {int(i) + o for i in cands.ids for o in (-1, 0, 1)}
        nodes = self.records.get_by_seqs(sorted(wanted))
        memories = [nodes.get(int(i)) for i in cands.ids]
        own_target = normalize_target(target)

        def text_of(key: int) -> str | None:
            node = nodes.get(key)
            return node.index_text if node is not None and node.memory_target == own_target else None

        neighbours = [(text_of(int(i) - 1), text_of(int(i) + 1)) for i in cands.ids]
        features = np.concatenate(
            [build_features(cands, memories, query_time), cands.context, neighbour_text_features(query, neighbours)],
            axis=1,
        )
        ids = [m.memory_id if m is not None else "" for m in memories]
        return cands, RankState(features, k, ids, RANK_FEATURES), memories

    def search(
        self,
        query: str,
        limit: int = 5,
        target: str | None = None,
        *,
        min_score: float | None = None,
        policy: Any | None = None,
        query_vector: np.ndarray | None = None,
        mode: Mode | None = None,
        episode_id: str | None = None,
        group_id: str | None = None,
        step: int | None = None,
    ) -> builtins.list[SearchHit]:
        """Hybrid search in one target, ranked by the rank policy (its decision is logged; each hit carries
        its id). Candidates: ReMe's ``min(200, max(1, int(limit * 3)))`` per side. ``min_score`` (default 0.1)
        applies to ReMe's fused score, whatever the policy. ``query_vector`` skips encoding the query."""
        return self.search_with_decision(
            query, limit, target, min_score=min_score, policy=policy, query_vector=query_vector, mode=mode,
            episode_id=episode_id, group_id=group_id, step=step,
        )[1]  # fmt: skip

    def search_with_decision(
        self,
        query: str,
        limit: int = 5,
        target: str | None = None,
        *,
        min_score: float | None = None,
        policy: Any | None = None,
        query_vector: np.ndarray | None = None,
        mode: Mode | None = None,
        episode_id: str | None = None,
        group_id: str | None = None,
        step: int | None = None,
        query_time: datetime | None = None,
        dense_hits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[Decision, builtins.list[SearchHit]]:
        """``search``, also returning the ranking decision (whose id is there even when no hit survives).
        ``query_time`` (default now) is when the question is asked; memory ages are measured from it."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
            raise BadInputError(f"limit must be an integer in [1, {_MAX_LIMIT}], got {limit!r}")
        query = check_text(query, "query")
        if policy is not None:
            ensure_registered(self.workspace.root, policy)  # its decisions must stay replayable
        if min_score is not None:
            try:
                bad = isinstance(min_score, bool) or math.isnan(float(min_score))
            except (TypeError, ValueError, OverflowError):
                bad = True
            if bad:
                raise BadInputError(f"min_score must be a number (or -inf for no threshold), got {min_score!r}")
        threshold = self.retrieval.min_score if min_score is None else float(min_score)
        cands, state, memories = self.rank_state(
            query, self.retrieval.candidates_for(limit), limit, target, query_vector, query_time, dense_hits
        )
        ranker = policy or self.rank_policy
        decision = ranker.decide(state, mode or self.settings.mode, self._rng)
        self.record(
            decision, ranker, episode_id=episode_id, group_id=group_id, step=step, target=normalize_target(target)
        )
        scores = ranker.scores(state)
        w = self.retrieval.vector_weight
        fused = w * np.nan_to_num(cands.vector_score, nan=0.0) + (1 - w) * np.nan_to_num(cands.keyword_score, nan=0.0)
        hits: builtins.list[SearchHit] = []
        for pos in decision.action:
            node = memories[pos]
            if node is None or fused[pos] < threshold:  # deleted meanwhile, or below ReMe's score floor
                continue
            vec = float(cands.vector_score[pos])
            kw = float(cands.keyword_score[pos])
            hits.append(
                SearchHit(
                    memory=node,
                    score=float(scores[pos]),
                    vector_score=None if np.isnan(vec) else vec,
                    keyword_score=None if np.isnan(kw) else kw,
                    rank=len(hits),
                    decision_id=decision.decision_id,
                )
            )
        return decision, hits

    def search_many(
        self,
        queries: Sequence[str],
        limit: int = 5,
        target: str | None = None,
        *,
        min_score: float | None = None,
        policy: Any | None = None,
        query_vectors: np.ndarray | None = None,
        mode: Mode | None = None,
    ) -> builtins.list[builtins.list[SearchHit]]:
        """``search`` for a batch of queries in one target: the queries are encoded in one batch and the dense
        candidates come from one batched index search (FAISS's BLAS path, or one device matmul); BM25, features
        and the rank decision (one logged decision per query) follow per query. Results in query order."""
        if not queries:
            return []
        queries = [check_text(q, "query") for q in queries]
        vectors = self.encode_queries(queries) if query_vectors is None else np.asarray(query_vectors, np.float32)
        if vectors.shape[0] != len(queries):
            raise BadInputError(f"{len(queries)} queries but {vectors.shape[0]} query vectors")
        n = self.retrieval.candidates_for(limit)
        with self._lock:
            index = self._index_for(normalize_target(target))
            if len(index.dense) and vectors.shape[1] != index.dense.dim:
                raise BadInputError(f"query vectors have {vectors.shape[1]} dims, the index {index.dense.dim}")
            scores, ids = index.dense.search(vectors, n)
        return [
            self.search_with_decision(
                q, limit, target, min_score=min_score, policy=policy, query_vector=vectors[i : i + 1], mode=mode,
                dense_hits=(scores[i], ids[i]),
            )[1]
            for i, q in enumerate(queries)
        ]  # fmt: skip

    # --------------------------------------------------------------------------------- decisions, rewards
    def record(self, decision: Decision, policy: Any = None, **fields: Any) -> Decision:
        """Stamp a decision with episode/group/step and the policy's parameters, and append it to the log."""
        if policy is not None and "params" not in decision.extra and hasattr(policy, "params"):
            decision.extra["params"] = dict(policy.params)
        for key in ("episode_id", "group_id", "step"):
            if fields.get(key) is not None:
                setattr(decision, key, fields.pop(key))
            else:
                fields.pop(key, None)
        decision.extra.update({k: v for k, v in fields.items() if v is not None})
        self.trajectory.append(decision)
        return decision

    def decision(self, decision_id: str) -> DecisionRef:
        """The logged decision ``decision_id`` (its kind and target); unknown ids raise ``NotFoundError``."""
        _check_id("decision_id", decision_id)
        found = self.decisions.lookup(decision_id)
        if found is None:
            raise NotFoundError(f"no decision with id {decision_id!r}")
        return found

    def feedback(
        self,
        value: float,
        *,
        decision_id: str | None = None,
        memory_id: str | None = None,
        source: str = "feedback",
        episode_id: str | None = None,
    ) -> RewardEvent:
        """Record a reward for a decision (e.g. a search whose results were used) or a memory (credited to the
        write that stored it). Exactly one of ``decision_id`` / ``memory_id``, and it must exist (``NotFoundError``
        otherwise: a mistyped id would lose the signal quietly). ``value`` is in [-1, 1]; repeated rewards from one
        source on one decision are averaged when joined (``reme.policy.rewards``), so repeating one cannot inflate
        a return."""
        import uuid

        if (decision_id is None) == (memory_id is None):
            raise BadInputError("give exactly one of decision_id, memory_id")
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            raise BadInputError(f"a reward must be a finite number, got {value!r}")
        if not -1.0 <= float(value) <= 1.0:
            raise BadInputError(f"a reward must be in [-1, 1] (1 helped, 0 neutral, -1 harmful), got {value!r}")
        for name, given in (("decision_id", decision_id), ("memory_id", memory_id)):
            if given is not None:
                _check_id(name, given)
        if memory_id is not None and not self.records.exists(memory_id):
            raise NotFoundError(f"no memory with id {memory_id!r}")
        if decision_id is not None and (not isinstance(decision_id, str) or not decision_id.strip()):
            raise BadInputError("decision_id must be a non-empty string")
        if not self.trajectory.enabled:
            raise ReMeError("trajectory logging is off in this workspace: a reward would have nothing to join")
        if decision_id is not None:
            self.decision(decision_id)
        try:
            event = RewardEvent(
                reward_id=uuid.uuid4().hex,
                decision_id=decision_id,
                memory_id=memory_id,
                source=source,
                value=float(value),
                episode_id=episode_id,
            )
        except ValidationError as exc:
            raise BadInputError(f"invalid reward: {exc.errors()[0]['msg']}") from None
        self.trajectory.append(event)
        return event

    # ------------------------------------------------------------------------------------ markdown files
    def sync_markdown(self) -> dict[str, int]:
        """Index ``MEMORY.md``, ``memory.md`` and ``memory/*.md`` as chunks in target ``file:memory``
        (``sync_files``). Returns counts of files indexed, chunks added and chunks removed."""
        return self.sync_files(self.workspace.root, self.workspace.markdown_files(), FILE_TARGET, source="memory")

    def sync_files(
        self,
        root: Path,
        files: Sequence[Path],
        target: str,
        *,
        source: str = "file",
        force: bool = False,
        write_policy: Any | None = None,
    ) -> dict[str, int]:
        """Index ``files`` (under ``root``; metadata ``path`` is relative to it) as Markdown chunks in ``target``.

        Unchanged files are skipped (by content hash) unless ``force``; changed files have their chunks replaced;
        chunks of files no longer in ``files`` are removed. ``write_policy`` stores the chunks through that policy
        instead of the workspace's. Returns counts of files indexed, chunks added and chunks removed."""
        import hashlib

        existing: dict[str, builtins.list[MemoryNode]] = {}
        for node in self.records.list_nodes(target):
            existing.setdefault(str(node.metadata.get("path", "")), []).append(node)
        stats = {"files": 0, "chunks_added": 0, "chunks_removed": 0}
        seen: set[str] = set()
        for path in files:
            rel = path.relative_to(root).as_posix()
            seen.add(rel)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("skipping %s: %s", rel, exc)
                continue
            digest = hashlib.sha256(text.encode()).hexdigest()
            old = existing.get(rel, [])
            if not force and old and all(n.metadata.get("file_hash") == digest for n in old):
                continue
            stats["chunks_removed"] += self.delete_many([n.memory_id for n in old])
            items = [
                {
                    "content": chunk.text,
                    "memory_type": MemoryType.chunk,
                    "memory_id": hashlib.sha256(
                        f"{rel}:{chunk.start_line}:{chunk.end_line}:{digest}".encode()
                    ).hexdigest()[:16],
                    "metadata": {
                        "path": rel,
                        "start_line": chunk.start_line,
                        "end_line": chunk.end_line,
                        "file_hash": digest,
                        "source": source,
                    },
                }
                for chunk in chunk_markdown(text)
            ]
            self.add_many(items, target=target, policy=write_policy)
            stats["files"] += 1
            stats["chunks_added"] += len(items)
        for rel, nodes in existing.items():
            if rel not in seen:
                stats["chunks_removed"] += self.delete_many([n.memory_id for n in nodes])
        return stats

    # ---------------------------------------------------------------------------------------------- close
    def close(self) -> None:
        """Save large indexes that changed since they were saved, then close the log and the database."""
        self.trajectory.close()
        self.decisions.close()
        from reme.store.index_cache import PERSIST_MIN, save_index

        with self._lock:
            for target, index in self._indexes.items():
                if index.bm25 is None or index.generation == index.saved_generation or len(index.dense) < PERSIST_MIN:
                    continue
                if index.dense.kind not in ("flat", "ivf"):
                    continue  # a device-resident scan is rebuilt from the records, not saved
                if self.records.generation(target) == index.generation:
                    save_index(
                        self.workspace.index_dir, target, index.generation, self.model_id, index.dense, index.bm25
                    )
            self._indexes.clear()
        self.records.close()
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite float (ints too large for a float are not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _check_id(name: str, value: Any) -> None:
    """An id must be a non-empty string of encodable text (no lone surrogates, no NUL), at most 256 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or "\x00" in value:
        raise BadInputError(f"{name} must be a non-empty string of at most 256 characters, got {value!r:.80}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInputError(f"{name} is not valid text (a lone surrogate): {value!r:.80}") from None
