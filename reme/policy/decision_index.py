"""Which decisions a trajectory log holds: ``decision_id -> (kind, target)``, for the checks a reward needs.

A reward must name a decision that exists (a typo is an error, not lost training signal), and a service token may
reward only decisions of the targets it holds. Scanning the log per reward would cost its whole size, so this
index keeps one row per decision in a small SQLite file (``WORKSPACE/index/decisions.db``). It is derived from the
segments and never written at decision time: a lookup that misses catches up first, reading only the bytes appended
to each segment since its last pass (a segment rewritten by ``reme forget`` has another inode and is read again; a
deleted one loses its rows). Losing or corrupting the file costs one re-scan, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from reme.policy.trajectory import SEGMENT_RE

__all__ = ["DecisionIndex", "DecisionRef"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (decision_id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL,
                                      segment TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (name TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class DecisionRef:
    """What a reward check needs of a logged decision: its kind and its target (``""`` when it has none)."""

    decision_id: str
    kind: str
    target: str


class DecisionIndex:
    """``lookup(decision_id)`` over the segments of ``log_dir``, with the index kept at ``path``."""

    def __init__(self, log_dir: str | Path, path: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:  # derived data: start again from the log
                log.warning("the decision index %s is unreadable (%s): rebuilding it from the log", self.path, exc)
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{self.path}{suffix}")
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # rebuildable from the log: no fsync per catch-up
        db.executescript(_SCHEMA)
        return db

    def lookup(self, decision_id: str) -> DecisionRef | None:
        """The decision, or ``None`` when the log holds none with this id."""
        with self._lock:
            found = self._get(decision_id)
            if found is None:
                self._catch_up()
                found = self._get(decision_id)
            return found

    def _get(self, decision_id: str) -> DecisionRef | None:
        row = (
            self._connect()
            .execute("SELECT kind, target FROM decisions WHERE decision_id = ?", (decision_id,))
            .fetchone()
        )
        return None if row is None else DecisionRef(decision_id, str(row[0]), str(row[1]))

    def _catch_up(self) -> None:
        """Index what the segments gained since the last pass."""
        db = self._connect()
        seen = {str(n): (int(i), int(o)) for n, i, o in db.execute("SELECT name, inode, offset FROM segments")}
        present: set[str] = set()
        paths = sorted(p for p in self.log_dir.glob("segment-*.jsonl") if SEGMENT_RE.match(p.name))
        for path in paths:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            present.add(path.name)
            inode, offset = seen.get(path.name, (stat.st_ino, 0))
            if inode != stat.st_ino or stat.st_size < offset:  # rewritten (forget) or cut: read it again
                offset = 0
                db.execute("DELETE FROM decisions WHERE segment = ?", (path.name,))
            if stat.st_size == offset and path.name in seen:
                continue
            rows, offset = _decisions_in(path, offset)
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?)", rows)
                db.execute("INSERT OR REPLACE INTO segments VALUES (?, ?, ?)", (path.name, stat.st_ino, offset))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        for name in set(seen) - present:  # pruned segments
            db.execute("DELETE FROM decisions WHERE segment = ?", (name,))
            db.execute("DELETE FROM segments WHERE name = ?", (name,))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _decisions_in(path: Path, offset: int) -> tuple[list[tuple[str, str, str, str]], int]:
    """The decision rows of ``path`` after byte ``offset``, up to its last complete line, and the new offset."""
    rows: list[tuple[str, str, str, str]] = []
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    for raw in data[:end].splitlines():
        if b'"decision"' not in raw:
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            continue  # unreadable lines are ``reme trajectories verify``'s to report
        if not isinstance(obj, dict) or obj.get("type") != "decision" or not isinstance(obj.get("decision_id"), str):
            continue
        extra = obj.get("extra")
        target = extra.get("target") if isinstance(extra, dict) else None
        rows.append(
            (obj["decision_id"], str(obj.get("kind", "")), target if isinstance(target, str) else "", path.name)
        )
    return rows, offset + end
