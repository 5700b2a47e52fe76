"""Memory records in PostgreSQL with pgvector (issue 22): the same interface as ``reme.store.records.RecordStore``,
for several workers and hosts over one database.

``store.url: postgresql://...`` in ``reme.yaml`` (or ``REME_STORE_URL``) selects it; ``store.schema`` names the
PostgreSQL schema that holds this workspace's tables (default ``reme``), so that several workspaces can share one
database. Connections come from a ``psycopg_pool`` pool per process; the ``vector`` column is pgvector's (the
``pgvector`` adapter registers it on every connection).

What matches SQLite mode, and how:
- **Acknowledged is durable**: every write is one transaction, committed before the call returns (PostgreSQL's
  ``synchronous_commit`` on, its default).
- **Generations**: every write bumps the generation of each target it touches, in the same transaction. Writers to a
  workspace are ordered by a transaction-scoped advisory lock on the schema (``pg_advisory_xact_lock``), as SQLite's
  ``BEGIN IMMEDIATE`` orders them, so ``new - 1`` is still the generation a write started from and a worker's index
  at exactly that generation can apply it incrementally. Readers never take it: a search in one worker does not
  wait for another worker's search.
- **Snapshots**: ``index_rows`` reads a target's generation and rows in one ``REPEATABLE READ`` transaction.
- **Migrations** are versioned in ``schema_migrations`` and applied at start, under the same lock.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from reme.errors import ConflictError, NotFoundError, StoreUnavailableError, WorkspaceError
from reme.schema import MemoryNode
from reme.store.records import _COLUMNS, _node_values, _row_to_node

__all__ = ["MIGRATIONS", "PostgresRecordStore"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS {s}.memories (
        seq BIGSERIAL PRIMARY KEY,
        memory_id TEXT NOT NULL UNIQUE,
        memory_type TEXT NOT NULL,
        memory_target TEXT NOT NULL,
        when_to_use TEXT NOT NULL DEFAULT '',
        content TEXT NOT NULL,
        message_time TEXT NOT NULL DEFAULT '',
        ref_memory_id TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        score DOUBLE PRECISION NOT NULL DEFAULT 0,
        metadata JSONB NOT NULL DEFAULT '{{}}',
        time_created TEXT NOT NULL,
        time_modified TEXT NOT NULL,
        vector vector,
        vector_model TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS memories_target ON {s}.memories (memory_target, seq);
    CREATE TABLE IF NOT EXISTS {s}.targets (target TEXT PRIMARY KEY, generation BIGINT NOT NULL);
    """,
    """
    CREATE TABLE IF NOT EXISTS {s}.trajectory (
        seq BIGSERIAL PRIMARY KEY,
        written TIMESTAMPTZ NOT NULL DEFAULT now(),
        record_type TEXT NOT NULL,
        decision_id TEXT,
        kind TEXT NOT NULL DEFAULT '',
        target TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS trajectory_decisions ON {s}.trajectory (decision_id) WHERE record_type = 'decision';
    CREATE INDEX IF NOT EXISTS trajectory_written ON {s}.trajectory (written);
    """,
    """
    CREATE TABLE IF NOT EXISTS {s}.policy_files (
        version TEXT NOT NULL, name TEXT NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (version, name)
    );
    CREATE TABLE IF NOT EXISTS {s}.policy_history (seq BIGSERIAL PRIMARY KEY, line TEXT NOT NULL UNIQUE);
    CREATE TABLE IF NOT EXISTS {s}.policy_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, epoch BIGINT NOT NULL);
    """,
    """
    CREATE TABLE IF NOT EXISTS {s}.dumps (
        workspace_id TEXT NOT NULL, path TEXT NOT NULL, body BYTEA NOT NULL,
        written TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (workspace_id, path)
    );
    """,
)
"""The schema's migrations, in order: ``schema_migrations`` records each one applied (``version`` is its index + 1).
Append, never edit: a database applies only the ones it has not."""

_UPSERT = (
    f"INSERT INTO {{s}}.memories ({_COLUMNS}, vector, vector_model) VALUES ({', '.join(['%s'] * 14)}) "
    "ON CONFLICT (memory_id) DO UPDATE SET memory_type=excluded.memory_type, memory_target=excluded.memory_target, "
    "when_to_use=excluded.when_to_use, content=excluded.content, message_time=excluded.message_time, "
    "ref_memory_id=excluded.ref_memory_id, author=excluded.author, score=excluded.score, metadata=excluded.metadata, "
    "time_modified=excluded.time_modified, vector=excluded.vector, vector_model=excluded.vector_model RETURNING seq"
)
"""Insert a memory, or replace the one with its id (its ``seq`` stays: a replaced memory keeps its place)."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _vector(values: Any) -> np.ndarray:
    """A stored vector as float32 (pgvector's adapter gives a ``Vector``, or an array for an untyped column)."""
    array = values.to_numpy() if hasattr(values, "to_numpy") else values
    return np.asarray(array, dtype=np.float32)


class PostgresRecordStore:
    """CRUD over memory rows in PostgreSQL; thread-safe, and safe across processes and hosts on one database."""

    def __init__(
        self,
        url: str,
        schema: str = "reme",
        *,
        pool_size: int = 8,
        timeout: float = 10.0,
        dense: str = "local",
        hnsw_min_rows: int = 20_000,
        ef_search: int = 100,
    ) -> None:
        try:
            import psycopg
            from pgvector.psycopg import register_vector
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise WorkspaceError("the PostgreSQL store needs its packages: pip install 'reme[postgres]'") from None
        if not _SCHEMA_NAME.fullmatch(schema):
            raise WorkspaceError(f"store.schema must be a lower-case SQL name, got {schema!r}")
        if dense not in ("local", "pgvector"):
            raise WorkspaceError(f"store.dense must be 'local' or 'pgvector', got {dense!r}")
        self._psycopg = psycopg
        self.url = url
        self.dense = dense
        """``pgvector``: searches take their dense candidates from the database (``dense_index``)."""
        self.hnsw_min_rows = hnsw_min_rows
        self.ef_search = ef_search
        self.hnsw_epoch = 0
        """Bumped by ``build_hnsw`` / ``drop_hnsw``: this process's searches see the change at once."""
        self.schema = schema
        self.path = f"{redacted(url)} (schema {schema})"
        """What error messages name (the password left out)."""
        self._lock_key = int.from_bytes(hashlib.blake2b(schema.encode(), digest_size=8).digest(), "big", signed=True)
        self._local = threading.local()
        try:  # the migrations first, on a connection of their own: the pool's adapter needs the vector type
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout))) as conn:
                self._migrate(conn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"cannot reach the memory database {self.path}: {exc}") from None
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, timeout=timeout, open=False,
                                    configure=register_vector, kwargs={"autocommit": True})  # fmt: skip
        try:
            self._pool.open(wait=True, timeout=timeout)
        except Exception as exc:
            raise StoreUnavailableError(f"cannot reach the memory database {self.path}: {exc}") from None
        version = self.get_meta("format_version")
        if version is None:
            with self.transaction():
                if self.get_meta("format_version") is None:
                    self.set_meta("format_version", "1")
                    self.set_meta("id_key", secrets.token_hex(16))
        self.id_key = self.get_meta("id_key") or ""

    # ---------------------------------------------------------------------------------------- connections
    @contextmanager
    def _checkout(self) -> Iterator[Any]:
        """A connection from the pool (autocommit); the database being unreachable is ``StoreUnavailableError``."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"the memory database {self.path} is unavailable: {exc}") from None
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise StoreUnavailableError(f"the memory database {self.path} is unavailable: {exc}") from None
            raise

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """The thread's transaction connection when one is open, else one from the pool."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._checkout() as conn:
            yield conn

    def _q(self, sql: str) -> str:
        return sql.replace("{s}", self.schema)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._conn() as conn:
            return list(conn.execute(self._q(sql), args).fetchall())

    def _migrate(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.schema_migrations "
                "(version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {int(r[0]) for r in conn.execute(f"SELECT version FROM {self.schema}.schema_migrations")}
            if done and max(done) > len(MIGRATIONS):
                raise WorkspaceError(
                    f"the memory database {self.path} has schema version {max(done)}; this reme knows up to "
                    f"{len(MIGRATIONS)}"
                )
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    conn.execute(sql.format(s=self.schema))
                    conn.execute(f"INSERT INTO {self.schema}.schema_migrations (version) VALUES (%s)", (version,))

    def migrations(self) -> list[int]:
        """The schema versions applied to this database, oldest first."""
        return [int(r[0]) for r in self._read("SELECT version FROM {s}.schema_migrations ORDER BY version")]

    # ---------------------------------------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM {s}.meta WHERE key = %s", (key,))
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str) -> None:
        with self._conn() as conn:
            conn.execute(self._q("INSERT INTO {s}.meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                                 "excluded.value"), (key, value))  # fmt: skip

    def generation(self, target: str) -> int:
        rows = self._read("SELECT generation FROM {s}.targets WHERE target = %s", (target,))
        return 0 if not rows else int(rows[0][0])

    def _bump(self, conn: Any, targets: set[str]) -> dict[str, int]:
        new: dict[str, int] = {}
        for t in sorted(targets):
            row = conn.execute(
                self._q("INSERT INTO {s}.targets VALUES (%s, 1) ON CONFLICT (target) DO UPDATE SET generation = "
                        "{s}.targets.generation + 1 RETURNING generation"), (t,),
            ).fetchone()  # fmt: skip
            new[t] = int(row[0])
        return new

    # --------------------------------------------------------------------------------------------- writes
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``with store.transaction():`` one write transaction (writers to this schema ordered by its advisory lock)
        around reads and writes; nested uses in one thread join the outermost one, which commits."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._checkout() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    _transaction = transaction

    def upsert_many(
        self, nodes: Sequence[MemoryNode], vectors: np.ndarray, model_id: str, *, move: bool = False
    ) -> tuple[list[int], dict[str, int], set[str]]:
        """``RecordStore.upsert_many``: insert or replace by ``memory_id`` with vectors, in one transaction."""
        if len(nodes) != len(vectors):
            raise ValueError("one vector per node")
        seqs: list[int] = []
        touched = {n.memory_target for n in nodes}
        replaced: set[str] = set()
        with self.transaction(), self._conn() as conn:
            ids = [n.memory_id for n in nodes]
            rows = conn.execute(
                self._q("SELECT memory_id, memory_target FROM {s}.memories WHERE memory_id = ANY(%s)"), (ids,)
            ).fetchall()
            held = {str(a): str(b) for a, b in rows}  # the target each id has now (earlier rows of this batch too)
            for node in nodes:
                was = held.get(node.memory_id)
                if was is not None and was != node.memory_target and not move:
                    raise ConflictError(
                        f"memory id {node.memory_id!r} is already in use: choose another id, or leave it out"
                    )
                if was is not None:
                    touched.add(was)
                    replaced.update({was, node.memory_target})
                held[node.memory_id] = node.memory_target
            values = [
                (*_node_values(node), np.ascontiguousarray(vec, dtype=np.float32), model_id)
                for node, vec in zip(nodes, vectors)
            ]
            with conn.cursor() as cur:  # one pipelined round of inserts, each returning its seq
                cur.executemany(self._q(_UPSERT), values, returning=True)
                for _ in values:
                    seqs.append(int(cur.fetchone()[0]))
                    cur.nextset()
            generations = self._bump(conn, touched)
        return seqs, generations, replaced

    def delete_many(self, memory_ids: Sequence[str]) -> tuple[list[tuple[int, str]], dict[str, int]]:
        gone: list[tuple[int, str]] = []
        generations: dict[str, int] = {}
        with self.transaction(), self._conn() as conn:
            for mid in memory_ids:
                row = conn.execute(
                    self._q("DELETE FROM {s}.memories WHERE memory_id = %s RETURNING seq, memory_target"), (mid,)
                ).fetchone()
                if row is not None:
                    gone.append((int(row[0]), str(row[1])))
            if gone:
                generations = self._bump(conn, {t for _, t in gone})
        return gone, generations

    def set_vectors(self, seqs: Sequence[int], vectors: np.ndarray, model_id: str) -> None:
        with self.transaction(), self._conn() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    self._q("UPDATE {s}.memories SET vector = %s, vector_model = %s WHERE seq = %s"),
                    [(np.ascontiguousarray(v, dtype=np.float32), model_id, int(s)) for s, v in zip(seqs, vectors)],
                )
            rows = conn.execute(
                self._q("SELECT DISTINCT memory_target FROM {s}.memories WHERE seq = ANY(%s)"),
                ([int(s) for s in seqs],),
            ).fetchall()
            self._bump(conn, {str(r[0]) for r in rows})

    # ---------------------------------------------------------------------------------------------- reads
    def get(self, memory_id: str) -> MemoryNode:
        rows = self._read(f"SELECT {_COLUMNS} FROM {{s}}.memories WHERE memory_id = %s", (memory_id,))
        if not rows:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return _row_to_node(rows[0])

    def vector(self, memory_id: str) -> np.ndarray:
        rows = self._read("SELECT vector FROM {s}.memories WHERE memory_id = %s", (memory_id,))
        if not rows:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return _vector(rows[0][0]).reshape(1, -1)

    def exists(self, memory_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM {s}.memories WHERE memory_id = %s", (memory_id,)))

    def get_by_seqs(self, seqs: Sequence[int]) -> dict[int, MemoryNode]:
        rows = self._read(f"SELECT seq, {_COLUMNS} FROM {{s}}.memories WHERE seq = ANY(%s)", ([int(s) for s in seqs],))
        return {int(r[0]): _row_to_node(r[1:]) for r in rows}

    def list_nodes(self, target: str | None = None, limit: int | None = None) -> list[MemoryNode]:
        sql = f"SELECT {_COLUMNS} FROM {{s}}.memories"
        args: list[Any] = []
        if target is not None:
            sql += " WHERE memory_target = %s"
            args.append(target)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(int(limit))
        return [_row_to_node(r) for r in self._read(sql, args)]

    def seqs_matching(self, target: str, filters: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """``RecordStore.seqs_matching``: a metadata value matches when it equals one of the allowed values (JSON
        equality, as SQLite's ``json_extract`` compares)."""
        sql = "SELECT seq FROM {s}.memories WHERE memory_target = %s"
        args: list[Any] = [target]
        for key, values in filters.items():
            sql += " AND metadata -> %s = ANY(%s::jsonb[])"
            args += [key, [json.dumps(v) for v in values]]
        rows = self._read(sql + " ORDER BY seq", args)
        return np.asarray([int(r[0]) for r in rows], dtype=np.int64)

    def id_map(self, target: str) -> dict[int, str]:
        rows = self._read("SELECT seq, memory_id FROM {s}.memories WHERE memory_target = %s", (target,))
        return {int(seq): str(mid) for seq, mid in rows}

    def targets_of(self, memory_ids: Sequence[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(memory_ids))
        rows = self._read("SELECT memory_id, memory_target FROM {s}.memories WHERE memory_id = ANY(%s)", (unique,))
        return {str(a): str(b) for a, b in rows}

    def targets(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT memory_target FROM {s}.memories ORDER BY 1")]

    def count(self, target: str | None = None) -> int:
        if target is None:
            return int(self._read("SELECT COUNT(*) FROM {s}.memories")[0][0])
        return int(self._read("SELECT COUNT(*) FROM {s}.memories WHERE memory_target = %s", (target,))[0][0])

    def _snapshot(self, target: str, sql: str) -> tuple[int, list[Any]]:
        """The target's generation and the rows of ``sql`` (one ``%s``: the target) in one snapshot."""
        if getattr(self._local, "conn", None) is not None:  # inside a write transaction: already one snapshot
            return self.generation(target), self._read(sql, (target,))
        with self._conn() as conn:
            conn.autocommit = False
            try:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute(
                    self._q("SELECT generation FROM {s}.targets WHERE target = %s"), (target,)
                ).fetchone()
                rows = conn.execute(self._q(sql), (target,)).fetchall()
                conn.commit()
            finally:
                conn.autocommit = True
        return (0 if row is None else int(row[0])), rows

    def index_rows(self, target: str) -> tuple[int, np.ndarray, list[str], np.ndarray]:
        """``(generation, keys, index texts, vectors)`` of one target, read in one snapshot."""
        generation, rows = self._snapshot(
            target,
            "SELECT seq, CASE WHEN when_to_use != '' THEN when_to_use ELSE content END, vector FROM {s}.memories "
            "WHERE memory_target = %s ORDER BY seq",
        )
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        texts = [r[1] for r in rows]
        vectors = np.stack([_vector(r[2]) for r in rows]) if rows else np.zeros((0, 0), dtype=np.float32)
        return generation, ids, texts, vectors

    def keyword_rows(self, target: str) -> tuple[int, np.ndarray, list[str], int]:
        """``(generation, keys, index texts, dimension)`` of one target, read in one snapshot without the vectors
        (``store.dense: pgvector``: the worker keeps BM25, the database the vectors)."""
        generation, rows = self._snapshot(
            target,
            "SELECT seq, CASE WHEN when_to_use != '' THEN when_to_use ELSE content END, "
            "COALESCE(vector_dims(vector), 0) FROM {s}.memories WHERE memory_target = %s ORDER BY seq",
        )
        dim = max((int(r[2]) for r in rows), default=0)
        return generation, np.asarray([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], dim

    def dense_index(self, target: str, count: int, dim: int) -> Any:
        """The target's dense side in the database (``reme.store.pgvector_search.PgVectorIndex``)."""
        from reme.store.pgvector_search import PgVectorIndex

        return PgVectorIndex(self, target, count, dim, self.hnsw_min_rows, self.ef_search)

    def vector_dims(self) -> list[int]:
        """The dimensions of the stored vectors (one per embedding model the rows were made with)."""
        rows = self._read("SELECT DISTINCT vector_dims(vector) FROM {s}.memories WHERE vector IS NOT NULL ORDER BY 1")
        return [int(r[0]) for r in rows]

    def build_hnsw(
        self, dim: int, m: int = 16, ef_construction: int = 64, *, work_mem: str = "1GB", parallel_workers: int = 1
    ) -> str:
        """Build pgvector's HNSW index (cosine) over this schema's ``dim``-dimensional vectors, without blocking
        writers (``CREATE INDEX CONCURRENTLY``); a no-op when it exists. Returns its name. ``work_mem`` is the
        build's ``maintenance_work_mem`` (the graph should fit: past it pgvector builds far slower, and says so),
        ``parallel_workers`` its ``max_parallel_maintenance_workers``."""
        from reme.store.pgvector_search import HNSW_NAME, hnsw_dims

        if dim in hnsw_dims(self, valid=False):  # a build that was interrupted left an unusable index: start again
            self.drop_hnsw(dim)
        if not re.fullmatch(r"\d+(kB|MB|GB)", work_mem):
            raise WorkspaceError(f"work_mem must look like 512MB or 2GB, got {work_mem!r}")
        name = HNSW_NAME.format(dim=int(dim))
        with self._checkout() as conn:
            conn.execute(f"SET maintenance_work_mem = '{work_mem}'")
            conn.execute(f"SET max_parallel_maintenance_workers = {int(parallel_workers)}")
            conn.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {self.schema}.memories USING hnsw "
                f"((vector::vector({int(dim)})) vector_cosine_ops) WITH (m = {int(m)}, ef_construction = "
                f"{int(ef_construction)}) WHERE vector_dims(vector) = {int(dim)}"
            )
            conn.execute("RESET maintenance_work_mem")
            conn.execute("RESET max_parallel_maintenance_workers")
            conn.execute(f"ANALYZE {self.schema}.memories")  # the planner weighs the index against the target's b-tree
        self.hnsw_epoch += 1
        return name

    def drop_hnsw(self, dim: int) -> None:
        """Drop the HNSW index of ``dim``-dimensional vectors, if any (searches fall back to exact)."""
        from reme.store.pgvector_search import HNSW_NAME

        with self._checkout() as conn:
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.schema}.{HNSW_NAME.format(dim=int(dim))}")
        self.hnsw_epoch += 1

    def stale_vectors(self, model_id: str, batch: int = 1000) -> Iterator[list[tuple[int, str]]]:
        last = 0
        while True:
            rows = self._read(
                "SELECT seq, CASE WHEN when_to_use != '' THEN when_to_use ELSE content END FROM {s}.memories "
                "WHERE seq > %s AND (vector_model != %s OR vector IS NULL) ORDER BY seq LIMIT %s",
                (last, model_id, batch),
            )
            if not rows:
                return
            last = int(rows[-1][0])
            yield [(int(r[0]), str(r[1])) for r in rows]

    def vector_models(self, seqs: Sequence[int]) -> dict[int, str]:
        """``seq -> vector_model``: the id of the model that made each row's vector."""
        rows = self._read("SELECT seq, vector_model FROM {s}.memories WHERE seq = ANY(%s)", ([int(s) for s in seqs],))
        return {int(a): str(b) for a, b in rows}

    def count_stale(self, model_id: str) -> int:
        rows = self._read("SELECT COUNT(*) FROM {s}.memories WHERE vector_model != %s OR vector IS NULL", (model_id,))
        return int(rows[0][0])

    def write_dump(self, workspace_id: str, path: str, body: bytes) -> None:
        """Store a task-flow dump (``/dump_memory``) under the task workspace's relative ``path``, replacing one."""
        with self._conn() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO {s}.dumps (workspace_id, path, body) VALUES (%s, %s, %s) ON CONFLICT (workspace_id, "
                    "path) DO UPDATE SET body = excluded.body, written = now()"
                ),
                (workspace_id, path, body),
            )

    def read_dump(self, workspace_id: str, path: str) -> bytes | None:
        """A task-flow dump stored by ``write_dump`` (on any host), or ``None``."""
        rows = self._read("SELECT body FROM {s}.dumps WHERE workspace_id = %s AND path = %s", (workspace_id, path))
        return None if not rows else bytes(rows[0][0])

    @contextmanager
    def held_lock(self, name: str) -> Iterator[None]:
        """Hold a session advisory lock named ``name`` in this schema for the block, on a connection of its own, or
        raise ``WorkspaceError`` at once when another process (on any host) holds it."""
        key = int.from_bytes(hashlib.blake2b(f"{self.schema}:{name}".encode(), digest_size=8).digest(), "big",
                             signed=True)  # fmt: skip
        with self._checkout() as conn:
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                raise WorkspaceError(f"another process holds {name!r} on {self.path}; try again when it has finished")
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def vacuum(self) -> None:
        """``VACUUM`` the schema's tables, so that the old versions of deleted or rewritten rows (``reme forget``)
        are removed from the pages and not only hidden."""
        with self._checkout() as conn:
            conn.execute(f"VACUUM {self.schema}.memories, {self.schema}.trajectory")

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called (its pool gives no more connections)."""
        return bool(self._pool.closed)

    def close(self) -> None:
        self._pool.close()


def redacted(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)
