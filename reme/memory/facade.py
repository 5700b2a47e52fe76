"""``Memory``: the one core object. Add, search, list, update and delete memories in a workspace.

A facade: it opens the workspace (records, settings, policies, trajectory log, encoders) and delegates each job
to the module that owns it: input checks (``reme.memory.checks``), the per-target indexes
(``reme.memory.indexes``), search (``reme.memory.search``), writes (``reme.memory.writes``) and Markdown files
(``reme.memory.markdown_sync``).

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
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Unpack

import numpy as np
from pydantic import ValidationError

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.memory import markdown_sync, writes
from reme.memory import search as _search
from reme.memory.checks import check_id, finite
from reme.memory.indexes import TargetIndex, TargetIndexes
from reme.memory.markdown_sync import FILE_TARGET
from reme.memory.search import DecisionSearchOptions, RankOptions, SearchOptions
from reme.policy.decision import Decision
from reme.policy.decision_index import DecisionRef
from reme.policy.guard import load_guarded
from reme.policy.rank import RankState, with_fusion_weight
from reme.policy.registry import ensure_registered
from reme.policy.trajectory import RewardEvent
from reme.retrieval.cache import CachedEncoder, EmbeddingCache
from reme.retrieval.candidates import CandidateSet
from reme.retrieval.embedding import Encoder, build_encoder
from reme.schema import MemoryNode, MemoryType, SearchHit, check_text, make_memory_id, normalize_target
from reme.settings import WorkspaceSettings, load_settings
from reme.store.open import open_decision_index, open_records, open_trajectory_log, pull_registry, push_registry
from reme.store.workspace import Workspace

log = logging.getLogger("reme.memory")

__all__ = ["FILE_TARGET", "Memory"]


class Memory:
    """Long-term memory in one workspace directory.

    Args:
        workspace: the workspace directory (created if missing).
        embedding: the encoder config. ``None``: ``reme.yaml``'s ``embedding``, else the workspace's stored config
            (or the offline default, all-MiniLM-L6-v2, for a new workspace). A config with another model re-encodes
            the stored memories.
        retrieval: candidate counts, fusion weight, ``min_score``, index thresholds (default ``reme.yaml``'s
            ``retrieval``).
        encoder: an already-built encoder (overrides ``embedding``; tests and benchmarks use this).
        rank_policy: the ranking policy; default the one ``reme.yaml`` names (``default``: the shipped default;
            ``heuristic``: ReMe's fusion).
        write_policy: the write policy; default the one ``reme.yaml`` names (``default``: the shipped default;
            ``heuristic``: ReMe's add).
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
        self.settings = settings or load_settings(self.workspace.root)
        self.records = open_records(self.workspace, self.settings.store)
        if pull_registry(self.workspace.root, self.records) and settings is None:  # another host published
            self.settings = load_settings(self.workspace.root)
        self.retrieval = retrieval or self.settings.retrieval
        policies = self.settings.policies
        self._from_settings = {"rank": rank_policy is None, "write": write_policy is None}
        self.rank_policy = rank_policy or with_fusion_weight(
            load_guarded(self.workspace.root, "rank", policies.rank, policies.on_failure), self.retrieval.vector_weight
        )
        self.write_policy = write_policy or load_guarded(
            self.workspace.root, "write", policies.write, policies.on_failure
        )
        for policy in (self.rank_policy, self.write_policy):
            ensure_registered(self.workspace.root, policy)
        push_registry(self.workspace.root, self.records)  # a version registered here can be re-scored elsewhere
        self.rank_canary = self._load_rank_canary()
        self.trajectory = open_trajectory_log(self.workspace, self.settings, self.records)
        """The trajectory log: segment files (``TrajectoryLog``), or the PostgreSQL store's table."""
        self.decisions = open_decision_index(self.workspace, self.trajectory)
        if self.settings.trajectories.retention_days is not None:
            self.trajectory.prune(self.settings.trajectories.retention_days)
        self._rng = np.random.default_rng(seed)
        self.show_progress = show_progress
        self._lock = threading.RLock()
        """Guards the in-memory indexes: held while a search reads one and while a write applies its commit."""
        self._write_lock = threading.RLock()
        """Orders this process's writes (the commit, then its index update), so each index applies generations in
        order; never held by a search, which waits at most for an index update, not for a commit."""
        self._write_streams: dict[str, Any] = {}
        """Per target, the live ``WriteStream`` of ``policies.write_budget`` (``memory.writes``)."""
        self.embedding = embedding or self.settings.embedding or self._stored_embedding_config() or EmbeddingConfig()
        self._given_encoder = encoder
        self.model_id = encoder.model_id if encoder is not None else self.embedding.model_id
        self.indexes = TargetIndexes(self.records, self.workspace.index_dir, self.retrieval, self.model_id, self._lock)
        """The per-target FAISS + BM25 indexes (``reme.memory.indexes``)."""
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

    @property
    def embedding_cache(self) -> EmbeddingCache | None:
        """The persistent embedding cache of document texts (``None`` when disabled)."""
        return self._cache

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query vectors (not cached: queries rarely repeat and a cache write per search costs an fsync). An
        asymmetric encoder (E5) encodes them as queries (its ``encode_queries``)."""
        base = self._query_encoder_base()
        as_queries = getattr(base, "encode_queries", None)
        return as_queries(list(queries)) if as_queries is not None else base.encode(list(queries))

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
        self.indexes.clear()

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
        return writes.add_many(
            self, items, target, vectors=vectors, batch_size=batch_size, show_progress=show_progress,
            on_commit=on_commit, foreign_ids=foreign_ids, policy=policy,
        )  # fmt: skip

    def own_ids(self, nodes: builtins.list[MemoryNode], foreign_ids: str) -> builtins.list[MemoryNode]:
        """``nodes`` with no id that belongs to a memory of another target: ``foreign_ids="error"`` raises
        ``ConflictError`` (nothing written), ``"new_id"`` gives such a node the id of its text in its own target
        (see ``add_many``, which applies this to every batch)."""
        return writes.own_ids(self, nodes, foreign_ids)

    def decide_writes(self, texts: Sequence[str], target: str | None = None) -> builtins.list[Decision]:
        """One write decision per candidate text against the memories of ``target``, logged; nothing is written.
        For callers that write elsewhere: the memory writer filters the facts it puts in ``memory/*.md`` with them
        (``discard`` drops a fact; ``store`` and ``update`` keep it)."""
        return writes.decide_writes(self, texts, target)

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
        return writes.update(
            self, memory_id, content, target=target, memory_type=memory_type, when_to_use=when_to_use,
            message_time=message_time, ref_memory_id=ref_memory_id, author=author, score=score, metadata=metadata,
        )  # fmt: skip

    def delete(self, memory_id: str) -> None:
        """Delete one memory; unknown ids raise ``NotFoundError``."""
        if self.delete_many([memory_id]) == 0:
            raise NotFoundError(f"no memory with id {memory_id!r}")

    def delete_many(self, memory_ids: Sequence[str]) -> int:
        """Delete memories that exist; returns how many went."""
        return writes.delete_many(self, memory_ids)

    def delete_target(self, target: str) -> int:
        """Delete every memory of a target."""
        target = normalize_target(target)
        return self.delete_many([n.memory_id for n in self.records.list_nodes(target)])

    # ---------------------------------------------------------------------------------------------- reads
    def get(self, memory_id: str) -> MemoryNode:
        """One memory by id; unknown ids raise ``NotFoundError``."""
        check_id("memory_id", memory_id)
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
        return self.indexes.backend

    def rebuild_indexes(self, target: str | None = None) -> dict[str, int]:
        """Rebuild the FAISS and BM25 indexes of one target (of every target with memories when ``None``) from
        the records, ignoring any saved copy, and save them again when the target is large (as after a search
        of a stale target). Returns the number of memories indexed per target."""
        targets = [normalize_target(target)] if target is not None else self.records.targets()
        return self.indexes.rebuild(targets)

    def index_for(self, target: str) -> TargetIndex:
        """The current FAISS + BM25 index of a (normalised) target: in memory, loaded from its saved copy, or
        rebuilt from the records (``reme.memory.indexes``)."""
        return self.indexes.index_for(target)

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
        return _search.candidates(self, check_text(query, "query"), n, target, query_vector, dense_hits)

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
        return _search.rank_state(self, check_text(query, "query"), n, k, target, query_vector, query_time, dense_hits)

    def search(
        self, query: str, limit: int = 5, target: str | None = None, **options: Unpack[SearchOptions]
    ) -> builtins.list[SearchHit]:
        """Hybrid search in one target, ranked by the rank policy (its decision is logged; each hit carries
        its id). Candidates: ReMe's ``min(200, max(1, int(limit * 3)))`` per side. ``min_score`` (default 0.1)
        applies to ReMe's fused score, whatever the policy. ``query_vector`` skips encoding the query. The options
        are ``reme.memory.search.SearchOptions``."""
        return _search.search(self, query, limit, target, **options)[1]

    def search_with_decision(
        self, query: str, limit: int = 5, target: str | None = None, **options: Unpack[DecisionSearchOptions]
    ) -> tuple[Decision, builtins.list[SearchHit]]:
        """``search``, also returning the ranking decision (whose id is there even when no hit survives).
        ``query_time`` (default now) is when the question is asked; memory ages are measured from it."""
        return _search.search(self, query, limit, target, **options)

    def search_many(
        self,
        queries: Sequence[str],
        limit: int = 5,
        target: str | None = None,
        *,
        query_vectors: np.ndarray | None = None,
        **options: Unpack[RankOptions],
    ) -> builtins.list[builtins.list[SearchHit]]:
        """``search`` for a batch of queries in one target: the queries are encoded in one batch and the dense
        candidates come from one batched index search (FAISS's BLAS path, or one device matmul); BM25, features
        and the rank decision (one logged decision per query) follow per query. Results in query order."""
        return _search.search_many(self, queries, limit, target, query_vectors=query_vectors, **options)

    def reload_policies(self) -> dict[str, str]:
        """Serve again what ``reme.yaml`` names now, for the decision kinds this ``Memory`` took from it (not those
        passed in code): after ``reme learn`` or ``reme policy activate`` changed it under a running service.
        Returns the version each reloaded kind serves. A PostgreSQL workspace first takes what the database's
        registry serves (published by a learner on any host)."""
        pull_registry(self.workspace.root, self.records)
        policies = load_settings(self.workspace.root).policies
        served: dict[str, str] = {}
        with self._lock:
            self.settings = self.settings.model_copy(update={"policies": policies})
            for kind in ("rank", "write"):
                if not self._from_settings[kind]:
                    continue
                policy = load_guarded(self.workspace.root, kind, getattr(policies, kind), policies.on_failure)
                policy = with_fusion_weight(policy, self.retrieval.vector_weight) if kind == "rank" else policy
                setattr(self, f"{kind}_policy", policy)
                served[kind] = str(getattr(policy, "version", ""))
            self.rank_canary = self._load_rank_canary()
        return served

    def _load_rank_canary(self) -> Any | None:
        """The rank canary ``reme learn`` is trying (``reme.policy.registry.set_canary``), when rank serves from
        ``reme.yaml``; one that cannot load is left out with a warning (it never serves alone, so searches go on)."""
        if not self._from_settings["rank"]:
            return None
        from reme.policy.registry import load_canary

        try:
            return load_canary(self.workspace.root, "rank")
        except (ReMeError, OSError, ValueError) as exc:
            log.warning("the rank canary cannot load, searches go on without it: %s", exc)
            return None

    # --------------------------------------------------------------------------------- decisions, rewards
    def log_decision(self, decision: Decision, policy: Any = None, **fields: Any) -> Decision:
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
        check_id("decision_id", decision_id)
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
        if isinstance(value, bool) or not isinstance(value, int | float) or not finite(value):
            raise BadInputError(f"a reward must be a finite number, got {value!r}")
        if not -1.0 <= float(value) <= 1.0:
            raise BadInputError(f"a reward must be in [-1, 1] (1 helped, 0 neutral, -1 harmful), got {value!r}")
        for name, given in (("decision_id", decision_id), ("memory_id", memory_id)):
            if given is not None:
                check_id(name, given)
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
    def sync_markdown(self, write_policy: Any | None = None) -> dict[str, int]:
        """Index ``MEMORY.md``, ``memory.md`` and ``memory/*.md`` as chunks in target ``file:memory``
        (``sync_files``; ``write_policy`` as there). Returns counts of files indexed, chunks added and chunks
        removed."""
        return self.sync_files(
            self.workspace.root,
            self.workspace.markdown_files(),
            FILE_TARGET,
            source="memory",
            write_policy=write_policy,
        )

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
        return markdown_sync.sync_files(
            self, root, files, target, source=source, force=force, write_policy=write_policy
        )

    # ---------------------------------------------------------------------------------------------- close
    def close(self) -> None:
        """Save large indexes that changed since they were saved, then close the log and the database."""
        self.trajectory.close()
        self.decisions.close()
        self.indexes.save()
        self.records.close()
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
