"""Memory records in SQLite (WAL mode, ``synchronous=FULL``): the source of truth of a workspace.

Every write is one transaction that also bumps its target's *generation*; an acknowledged write has been
fsynced to the WAL. The FAISS and BM25 indexes are caches derived from these rows and compare generations to
know when to rebuild. Vectors are stored beside the record with the id of the model that made them, so a
workspace can be re-encoded row by row after a model change and is never left mixing two models.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reme.errors import ConflictError, NotFoundError, WorkspaceError
from reme.schema import MemoryNode

FORMAT_VERSION = 1
"""Bumped when the on-disk layout changes incompatibly."""

_COLUMNS = (
    "memory_id, memory_type, memory_target, when_to_use, content, message_time, ref_memory_id, author, score, "
    "metadata, time_created, time_modified"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memories (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL UNIQUE,
    memory_type TEXT NOT NULL,
    memory_target TEXT NOT NULL,
    when_to_use TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    message_time TEXT NOT NULL DEFAULT '',
    ref_memory_id TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '',
    score REAL NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    time_created TEXT NOT NULL,
    time_modified TEXT NOT NULL,
    vector BLOB,
    vector_model TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS memories_target ON memories (memory_target, seq);
CREATE TABLE IF NOT EXISTS targets (target TEXT PRIMARY KEY, generation INTEGER NOT NULL);
"""


def _row_to_node(row: Sequence[Any]) -> MemoryNode:
    """A ``_COLUMNS`` row as a node (``metadata`` as JSON text, or already parsed: PostgreSQL's JSONB)."""
    return MemoryNode(
        memory_id=row[0],
        memory_type=row[1],
        memory_target=row[2],
        when_to_use=row[3],
        content=row[4],
        message_time=row[5],
        ref_memory_id=row[6],
        author=row[7],
        score=row[8],
        metadata=row[9] if isinstance(row[9], dict) else json.loads(row[9]),
        time_created=row[10],
        time_modified=row[11],
    )


def _node_values(node: MemoryNode) -> tuple[Any, ...]:
    return (
        node.memory_id,
        node.memory_type,
        node.memory_target,
        node.when_to_use,
        node.content,
        node.message_time,
        node.ref_memory_id,
        node.author,
        float(node.score),
        json.dumps(node.metadata, ensure_ascii=False, allow_nan=False),
        node.time_created,
        node.time_modified,
    )


def corrupt_database_error(path: Path, exc: BaseException, doing: str = "read") -> WorkspaceError:
    """The error for a memory database SQLite cannot read: it names the file and the ways to recover."""
    return WorkspaceError(
        f"cannot {doing} the memory database {path}: it is corrupt ({exc}). Restore it from a backup, or salvage "
        "what SQLite can "
        f"still read: `sqlite3 {path} .recover | sqlite3 {path.name}.recovered`, then move the result into place "
        "(the indexes and caches are rebuilt from it)"
    )


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Whether an SQLite error means an unreadable file (not a lock held too long, which is an operation error)."""
    text = str(exc).lower()
    return not isinstance(exc, sqlite3.OperationalError) or "malformed" in text or "not a database" in text


class _Cursor:
    """A cursor whose fetches turn SQLite's corruption errors into ``WorkspaceError`` (pages are read lazily)."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path) -> None:
        self._cursor = cursor
        self._path = path

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.DatabaseError as exc:
            raise (corrupt_database_error(self._path, exc) if _is_corruption(exc) else exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            raise (corrupt_database_error(self._path, exc) if _is_corruption(exc) else exc) from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)


class _Connection:
    """The store's SQLite connection: a corrupt file raises ``WorkspaceError`` naming it and how to recover,
    never a raw ``sqlite3.DatabaseError`` traceback."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path
        self.doing = "open"
        """What an error message says was being done (``open`` until the store is open, then ``read``)."""

    def _error(self, exc: sqlite3.DatabaseError) -> Exception:
        return corrupt_database_error(self._path, exc, self.doing) if _is_corruption(exc) else exc

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Cursor:
        try:
            return _Cursor(self._db.execute(sql, args), self._path)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def executemany(self, sql: str, rows: Any) -> _Cursor:
        try:
            return _Cursor(self._db.executemany(sql, rows), self._path)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def executescript(self, sql: str) -> None:
        try:
            self._db.executescript(sql)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self._db.close()


class RecordStore:
    """CRUD over memory rows. Thread-safe within a process; SQLite's locks order writers across processes.

    Writes go through one connection under the store's lock. Reads outside a write transaction go through a
    connection of the reading thread's own (WAL: each read sees what was committed when it began), so they never
    wait for another thread's write and its commit; the writing thread reads its own open transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        """Nesting depth of the open write transaction (only the thread holding ``_lock`` changes it)."""
        self._owner: int | None = None
        """The thread whose write transaction is open (its reads must see its own writes)."""
        self._readers = threading.local()
        self._reader_conns: list[_Connection] = []
        self._readers_lock = threading.Lock()
        try:
            raw = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"cannot open the memory database {self.path}: {exc}") from None
        self._db = _Connection(raw, self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.executescript(_SCHEMA)
        version = self.get_meta("format_version")
        if version is None:  # a new database: its memory ids are keyed (see ``make_memory_id``)
            with self._transaction():
                self.set_meta("format_version", str(FORMAT_VERSION))
                self.set_meta("id_key", secrets.token_hex(16))
        elif not version.isdigit() or int(version) > FORMAT_VERSION:
            raise WorkspaceError(
                f"workspace {self.path.parent} has format {version}; this reme reads up to {FORMAT_VERSION}"
            )
        self.id_key = self.get_meta("id_key") or ""
        """The key of this workspace's memory ids (empty: a workspace from before keyed ids)."""
        self._db.doing = "read"

    def _reader(self) -> _Connection | None:
        """This thread's read connection (opened on first use), or ``None`` inside this thread's own write
        transaction (whose reads go through the writing connection)."""
        if self._owner == threading.get_ident():
            return None
        conn: _Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            try:
                raw = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
            except sqlite3.DatabaseError as exc:
                raise WorkspaceError(f"cannot open the memory database {self.path}: {exc}") from None
            conn = _Connection(raw, self.path)
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA query_only=ON")
            conn.doing = "read"
            with self._readers_lock:
                self._reader_conns.append(conn)
            self._readers.conn = conn
        return conn

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run a query and fetch all rows: on this thread's read connection, or (inside its own write
        transaction) on the writing one, under the store's lock."""
        reader = self._reader()
        if reader is not None:
            return reader.execute(sql, args).fetchall()
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---------------------------------------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        row = next(iter(self._read("SELECT value FROM meta WHERE key = ?", (key,))), None)
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self, target: str) -> int:
        row = next(iter(self._read("SELECT generation FROM targets WHERE target = ?", (target,))), None)
        return 0 if row is None else int(row[0])

    def _bump(self, targets: set[str]) -> dict[str, int]:
        """Increment each target's generation inside the current write transaction; returns the new values.

        Writers are serialised (``BEGIN IMMEDIATE``), so ``new - 1`` is the generation the write started from:
        an in-memory index at exactly that generation can apply the write incrementally instead of rebuilding.
        """
        new: dict[str, int] = {}
        for t in sorted(targets):
            row = self._db.execute(
                "INSERT INTO targets VALUES (?, 1) ON CONFLICT(target) DO UPDATE SET generation = generation + 1 "
                "RETURNING generation",
                (t,),
            ).fetchone()
            new[t] = int(row[0])
        return new

    # --------------------------------------------------------------------------------------------- writes
    def transaction(self) -> _Transaction:
        """``with store.transaction():`` one write transaction (``BEGIN IMMEDIATE``: SQLite's write lock, which
        orders writers across threads and processes) around reads and writes, e.g. a read-modify-write that
        must not lose a concurrent update. Nested uses join the outermost one, which commits."""
        return _Transaction(self)

    _transaction = transaction

    def upsert_many(
        self, nodes: Sequence[MemoryNode], vectors: np.ndarray, model_id: str, *, move: bool = False
    ) -> tuple[list[int], dict[str, int], set[str]]:
        """Insert or replace nodes (by ``memory_id``) with their vectors in one transaction.

        An upsert never moves a memory to another target unless ``move`` (an explicit ``Memory.update`` of its
        target): a node whose id belongs to a memory of another target raises ``ConflictError`` and the whole
        transaction is rolled back.

        Returns their keys, the new generation of each touched target, and the targets whose existing rows
        were replaced or moved (an index can add to others incrementally, but must rebuild those)."""
        if len(nodes) != len(vectors):
            raise ValueError("one vector per node")
        seqs: list[int] = []
        touched = {n.memory_target for n in nodes}
        replaced: set[str] = set()
        with self._transaction():
            for node, vec in zip(nodes, vectors):
                old = self._db.execute(
                    "SELECT memory_target FROM memories WHERE memory_id = ?", (node.memory_id,)
                ).fetchone()
                if old is not None and str(old[0]) != node.memory_target and not move:
                    raise ConflictError(
                        f"memory id {node.memory_id!r} is already in use: choose another id, or leave it out"
                    )
                if old is not None:
                    touched.add(str(old[0]))  # an id moved to another target leaves the old index too
                    replaced.update({str(old[0]), node.memory_target})
                values = (*_node_values(node), np.ascontiguousarray(vec, dtype=np.float32).tobytes(), model_id)
                row = self._db.execute(
                    f"INSERT INTO memories ({_COLUMNS}, vector, vector_model) VALUES ({','.join('?' * 14)}) "
                    "ON CONFLICT(memory_id) DO UPDATE SET memory_type=excluded.memory_type, "
                    "memory_target=excluded.memory_target, when_to_use=excluded.when_to_use, "
                    "content=excluded.content, message_time=excluded.message_time, "
                    "ref_memory_id=excluded.ref_memory_id, author=excluded.author, score=excluded.score, "
                    "metadata=excluded.metadata, time_modified=excluded.time_modified, vector=excluded.vector, "
                    "vector_model=excluded.vector_model RETURNING seq",
                    values,
                ).fetchone()
                seqs.append(int(row[0]))
            generations = self._bump(touched)
        return seqs, generations, replaced

    def delete_many(self, memory_ids: Sequence[str]) -> tuple[list[tuple[int, str]], dict[str, int]]:
        """Delete rows; returns ``(key, target)`` of those that existed and the new generations."""
        gone: list[tuple[int, str]] = []
        generations: dict[str, int] = {}
        with self._transaction():
            for mid in memory_ids:
                row = self._db.execute(
                    "DELETE FROM memories WHERE memory_id = ? RETURNING seq, memory_target", (mid,)
                ).fetchone()
                if row is not None:
                    gone.append((int(row[0]), str(row[1])))
            if gone:
                generations = self._bump({t for _, t in gone})
        return gone, generations

    def set_vectors(self, seqs: Sequence[int], vectors: np.ndarray, model_id: str) -> None:
        """Replace vectors (after a model change) and bump the generations of the touched targets."""
        with self._transaction():
            self._db.executemany(
                "UPDATE memories SET vector = ?, vector_model = ? WHERE seq = ?",
                [
                    (np.ascontiguousarray(v, dtype=np.float32).tobytes(), model_id, int(s))
                    for s, v in zip(seqs, vectors)
                ],
            )
            marks = ",".join("?" * len(seqs))
            rows = self._db.execute(f"SELECT DISTINCT memory_target FROM memories WHERE seq IN ({marks})", list(seqs))
            self._bump({str(r[0]) for r in rows})

    # ---------------------------------------------------------------------------------------------- reads
    def get(self, memory_id: str) -> MemoryNode:
        row = next(iter(self._read(f"SELECT {_COLUMNS} FROM memories WHERE memory_id = ?", (memory_id,))), None)
        if row is None:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return _row_to_node(row)

    def vector(self, memory_id: str) -> np.ndarray:
        """The stored vector of one memory, shape ``(1, dim)``."""
        rows = self._read("SELECT vector FROM memories WHERE memory_id = ?", (memory_id,))
        if not rows:
            raise NotFoundError(f"no memory with id {memory_id!r}")
        return np.frombuffer(rows[0][0], dtype=np.float32).reshape(1, -1)

    def exists(self, memory_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM memories WHERE memory_id = ?", (memory_id,)))

    def get_by_seqs(self, seqs: Sequence[int]) -> dict[int, MemoryNode]:
        out: dict[int, MemoryNode] = {}
        for start in range(0, len(seqs), 500):
            chunk = [int(s) for s in seqs[start : start + 500]]
            rows = self._read(
                f"SELECT seq, {_COLUMNS} FROM memories WHERE seq IN ({','.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                out[int(row[0])] = _row_to_node(row[1:])
        return out

    def list_nodes(self, target: str | None = None, limit: int | None = None) -> list[MemoryNode]:
        sql = f"SELECT {_COLUMNS} FROM memories"
        args: list[Any] = []
        if target is not None:
            sql += " WHERE memory_target = ?"
            args.append(target)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_row_to_node(r) for r in self._read(sql, args)]

    def seqs_matching(self, target: str, filters: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Store keys of the target's memories whose metadata passes ``filters`` (``key -> allowed values``, every
        key must hold one of its values; checked by ``reme.memory.checks.check_filters``), in store order."""
        sql = "SELECT seq FROM memories WHERE memory_target = ?"
        args: list[Any] = [target]
        for key, values in filters.items():
            sql += f" AND json_extract(metadata, ?) IN ({','.join('?' * len(values))})"
            args += [f'$."{key}"', *values]
        rows = self._read(sql + " ORDER BY seq", args)
        return np.asarray([int(r[0]) for r in rows], dtype=np.int64)

    def id_map(self, target: str) -> dict[int, str]:
        """Store key -> ``memory_id`` for one target."""
        rows = self._read("SELECT seq, memory_id FROM memories WHERE memory_target = ?", (target,))
        return {int(seq): str(mid) for seq, mid in rows}

    def targets_of(self, memory_ids: Sequence[str]) -> dict[str, str]:
        """``memory_id -> target`` of those ids that exist."""
        out: dict[str, str] = {}
        unique = list(dict.fromkeys(memory_ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._read(
                f"SELECT memory_id, memory_target FROM memories WHERE memory_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update((str(a), str(b)) for a, b in rows)
        return out

    def targets(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT memory_target FROM memories ORDER BY 1")]

    def count(self, target: str | None = None) -> int:
        if target is None:
            return int(self._read("SELECT COUNT(*) FROM memories")[0][0])
        return int(self._read("SELECT COUNT(*) FROM memories WHERE memory_target = ?", (target,))[0][0])

    def index_rows(self, target: str) -> tuple[int, np.ndarray, list[str], np.ndarray]:
        """Everything an index build needs for one target, read in one snapshot:
        ``(generation, keys, index texts, vectors)``."""
        reader = self._reader()
        if reader is None:  # inside this thread's write transaction: already one snapshot
            with self._lock:
                return self._index_rows(self._db, target)
        reader.execute("BEGIN")
        try:
            return self._index_rows(reader, target)
        finally:
            reader.execute("COMMIT")

    @staticmethod
    def _index_rows(db: _Connection, target: str) -> tuple[int, np.ndarray, list[str], np.ndarray]:
        row = db.execute("SELECT generation FROM targets WHERE target = ?", (target,)).fetchone()
        generation = 0 if row is None else int(row[0])
        rows = db.execute(
            "SELECT seq, CASE WHEN when_to_use != '' THEN when_to_use ELSE content END, vector "
            "FROM memories WHERE memory_target = ? ORDER BY seq",
            (target,),
        ).fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        texts = [r[1] for r in rows]
        if rows:
            vectors = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return generation, ids, texts, vectors

    def stale_vectors(self, model_id: str, batch: int = 1000) -> Iterator[list[tuple[int, str]]]:
        """Batches of ``(key, index text)`` whose vector was made by another model (or is missing)."""
        last = 0
        while True:
            rows = self._read(
                "SELECT seq, CASE WHEN when_to_use != '' THEN when_to_use ELSE content END FROM memories "
                "WHERE seq > ? AND (vector_model != ? OR vector IS NULL) ORDER BY seq LIMIT ?",
                (last, model_id, batch),
            )
            if not rows:
                return
            last = int(rows[-1][0])
            yield [(int(r[0]), str(r[1])) for r in rows]

    def vector_models(self, seqs: Sequence[int]) -> dict[int, str]:
        """``seq -> vector_model``: the id of the model that made each row's vector."""
        out: dict[int, str] = {}
        for start in range(0, len(seqs), 500):
            chunk = [int(s) for s in seqs[start : start + 500]]
            rows = self._read(
                f"SELECT seq, vector_model FROM memories WHERE seq IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update((int(a), str(b)) for a, b in rows)
        return out

    def count_stale(self, model_id: str) -> int:
        return int(
            self._read("SELECT COUNT(*) FROM memories WHERE vector_model != ? OR vector IS NULL", (model_id,))[0][0]
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._readers_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the store's lock; rolls back on any exception. Reentrant: an inner
    transaction of the same thread joins the outer one (only the outermost begins and commits)."""

    def __init__(self, store: RecordStore):
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        if store._depth == 0:
            try:
                store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                store._lock.release()
                raise
            store._owner = threading.get_ident()
        store._depth += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        store = self.store
        store._depth -= 1
        try:
            if store._depth == 0:
                store._owner = None
                store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            store._lock.release()
