"""Persistent embedding cache keyed by (model id, sha256 of the text): re-indexing the same text never re-encodes.

A small SQLite file in WAL mode; safe for several processes. Vectors are stored as raw float32 bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from reme.retrieval.embedding import Encoder

log = logging.getLogger(__name__)
T = TypeVar("T")


def text_key(text: str) -> str:
    """Cache key of a text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """``get_many`` / ``put_many`` over a SQLite table ``(model_id, text_hash) -> vector``.

    It is only a cache: a file SQLite cannot read (junk, a torn copy) is moved aside to ``<name>.corrupt-<n>``
    with a warning and a fresh cache takes its place, so a damaged cache costs re-encoding, never a failed command.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection serves every thread of the process
        self.resets = 0
        """How many times this process replaced an unreadable cache file."""
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            self._db = self._replace(exc)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (model_id TEXT NOT NULL, text_hash TEXT NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (model_id, text_hash))"
            )
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _replace(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        """Move the unreadable cache file (and its WAL) aside and open a fresh one."""
        n = 1
        while self.path.with_name(f"{self.path.name}.corrupt-{n}").exists():
            n += 1
        aside = self.path.with_name(f"{self.path.name}.corrupt-{n}")
        if self.path.exists():
            os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            extra = self.path.with_name(self.path.name + suffix)
            if extra.exists():
                extra.unlink()
        log.warning("the embedding cache %s was unreadable (%s): moved to %s, starting an empty cache", self.path,
                    exc, aside.name)  # fmt: skip
        self.resets += 1
        return self._connect()

    def _run(self, work: Callable[[sqlite3.Connection], T], fallback: T) -> T:
        """``work(db)`` under the lock; an unreadable file is replaced and ``fallback`` returned."""
        with self._lock:
            try:
                return work(self._db)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
                    raise
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = self._replace(exc)
                return fallback

    def get_many(self, model_id: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))

            sql = f"SELECT text_hash, vector FROM embeddings WHERE model_id = ? AND text_hash IN ({marks})"
            args = [model_id, *chunk]

            def read(db: sqlite3.Connection, sql: str = sql, args: list[str] = args) -> list[tuple[str, bytes]]:
                return list(db.execute(sql, args).fetchall())

            empty: list[tuple[str, bytes]] = []
            rows = self._run(read, empty)
            for key, blob in rows:
                if isinstance(blob, bytes) and len(blob) % 4 == 0 and blob:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_id: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(model_id, k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors)]

        def put(db: sqlite3.Connection) -> None:
            with db:
                db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)

        self._run(put, None)

    def delete_texts(self, texts: Sequence[str]) -> int:
        """Forget the vectors of these texts under every model; returns how many rows went."""
        keys = [text_key(t) for t in texts]

        def delete(db: sqlite3.Connection) -> int:
            removed = 0
            with db:
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    cur = db.execute(f"DELETE FROM embeddings WHERE text_hash IN ({','.join('?' * len(chunk))})", chunk)
                    removed += cur.rowcount
            return removed

        return self._run(delete, 0)

    def __len__(self) -> int:
        def count(db: sqlite3.Connection) -> int:
            return int(db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

        return self._run(count, 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedEncoder:
    """An encoder that asks the cache first and encodes only the texts it has never seen."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache):
        self.encoder = encoder
        self.cache = cache
        self.model_id = encoder.model_id
        self.encoded = 0
        """Texts actually sent to the model by this instance (the rest came from the cache)."""

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(self.model_id, keys)
        widths = {len(v) for v in found.values()}
        if len(widths) > 1:  # a damaged row (a vector of another width than the rest) is re-encoded, not served
            common = max(widths, key=lambda w: sum(len(v) == w for v in found.values()))
            found = {k: v for k, v in found.items() if len(v) == common}
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in found and key not in missing:
                missing[key] = text
        if missing:
            new = self.encoder.encode(list(missing.values()), show_progress=show_progress)
            self.cache.put_many(self.model_id, list(missing), new)
            found.update(zip(missing, new))
            self.encoded += len(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
