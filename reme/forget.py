"""Forgetting: ``reme forget --memory ID | --target T`` and trajectory retention.

``forget`` removes memories from everything that holds their text:

- the records (SQLite; then ``VACUUM``, so the deleted rows do not linger in free pages) and the per-target
  indexes in memory, and the saved index copies of the touched targets (rebuilt from the records when needed);
- the embedding cache (the rows keyed by the hash of their texts, then ``VACUUM``);
- the trajectory log: every string inside a record that contains a forgotten text (a memory's ``content`` or
  ``when_to_use``) becomes ``"[forgotten]"``, and an LLM decision that held one loses its ``extra.tokens`` (the
  text in pieces). Decisions keep their ids, actions, log-probabilities, token log-probabilities and features, so
  joins, training statistics and ``reme trajectories verify`` still work; the record is marked
  ``extra.forgotten``. A paraphrase of a memory in an LLM's output is not recognised.

A segment is rewritten whole (a temporary file, fsync, rename) while holding the same ``flock`` the appenders
take; an appender that still has the old file open sees that the path now names another file and reopens it
(``TrajectoryLog.append``), so no record is lost to the swap.

Markdown chunks (target ``file:memory``) are refused: their text lives in ``MEMORY.md`` / ``memory/*.md``, which
are the user's files; edit them and ``reme sync``.

``prune_trajectories`` deletes whole trajectory segments older than ``trajectories.retention_days`` (never the
newest segment, which may be open for appends).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reme.atomic import write_atomic
from reme.errors import BadInputError
from reme.policy.trajectory import prune_trajectories

__all__ = ["FORGOTTEN", "ForgetReport", "forget", "prune_trajectories", "scrub_record"]

log = logging.getLogger(__name__)

FORGOTTEN = "[forgotten]"


class ForgetReport(BaseModel):
    """How many of each thing ``forget`` removed."""

    memories: int = 0
    """Records deleted."""
    index_entries: int = 0
    """Entries removed from the dense and keyword indexes (one each per memory)."""
    saved_indexes: int = 0
    """Saved index copies removed (targets touched; rebuilt from the records when next searched)."""
    cache_entries: int = 0
    """Embedding-cache rows removed."""
    trajectory_records: int = 0
    """Trajectory records whose content fields were scrubbed."""
    trajectory_fields: int = 0
    """Strings replaced by ``[forgotten]`` in them."""


def scrub_record(record: dict[str, Any], texts: Sequence[str]) -> int:
    """Replace, in place, every string of ``record`` that contains one of ``texts`` by ``[forgotten]``; drop
    ``extra.tokens`` of a record that had one. Returns how many strings were replaced."""
    replaced = 0

    def walk(value: Any) -> Any:
        nonlocal replaced
        if isinstance(value, str):
            if any(t in value for t in texts):
                replaced += 1
                return FORGOTTEN
            return value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    for key in ("inputs", "extra"):
        if isinstance(record.get(key), dict):
            record[key] = walk(record[key])
    if replaced:
        extra = record.setdefault("extra", {})
        if isinstance(extra, dict):
            if isinstance(extra.get("tokens"), list):
                extra["tokens"] = None
                replaced += 1
            extra["forgotten"] = True
    return replaced


@contextmanager
def _locked(path: Path) -> Iterator[int]:
    import fcntl

    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _scrub_segment(path: Path, texts: Sequence[str]) -> tuple[int, int]:
    """Rewrite one segment with its matching records scrubbed; returns (records, strings) changed."""
    with _locked(path) as fd:
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
        lines = data.split(b"\n")
        records = fields = 0
        for i, raw in enumerate(lines[:-1] if data.endswith(b"\n") or not data else lines):
            if not raw.strip() or not any(t.encode("utf-8", "surrogatepass") in raw for t in texts):
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # an unreadable line (a torn tail): left as it is, readers skip it
            if not isinstance(obj, dict):
                continue
            n = scrub_record(obj, texts)
            if n:
                records += 1
                fields += n
                lines[i] = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if not records:
            return 0, 0
        write_atomic(path, b"\n".join(lines))  # under the old file's lock: appenders wait, then reopen the new one
    return records, fields


def _vacuum(path: Path) -> None:
    """Rewrite a SQLite file without its free pages (where deleted rows linger)."""
    if not path.is_file():
        return
    db = sqlite3.connect(path, timeout=60.0, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def forget(memory: Any, *, memory_ids: Sequence[str] = (), target: str | None = None) -> ForgetReport:
    """Forget the memories ``memory_ids``, or every memory of ``target``, from an open ``Memory`` (see the module
    docstring). Unknown ids raise ``NotFoundError`` before anything is removed."""
    from reme.schema import normalize_target

    if bool(memory_ids) == (target is not None):
        raise BadInputError("give memory ids or a target, not both and not neither")
    if target is not None:
        name = normalize_target(target)
        if name.startswith("file:"):
            raise BadInputError(f"{name} holds chunks of Markdown files: edit the files, then `reme sync`")
        nodes = memory.list(name)
    else:
        nodes = [memory.get(memory_id) for memory_id in dict.fromkeys(memory_ids)]  # NotFoundError: nothing done
        chunks = [n.memory_id for n in nodes if n.memory_target.startswith("file:")]
        if chunks:
            raise BadInputError(f"{chunks[0]} is a chunk of a Markdown file: edit the file, then `reme sync`")
    report = ForgetReport()
    if not nodes:
        return report
    texts = sorted({t for n in nodes for t in (n.content, n.when_to_use) if t and t.strip()}, key=len, reverse=True)
    targets = {n.memory_target for n in nodes}
    report.memories = memory.delete_many([n.memory_id for n in nodes])
    report.index_entries = 2 * report.memories  # one dense and one keyword entry each
    for name in targets:
        if memory.indexes.delete_saved(name):
            report.saved_indexes += 1
    cache = memory.embedding_cache
    if cache is not None:
        report.cache_entries = cache.delete_texts(texts)
        _vacuum(Path(cache.path))
    _vacuum(Path(memory.records.path))
    root = Path(memory.workspace.trajectory_dir)
    rewrite = getattr(memory.trajectory, "rewrite", None)
    if rewrite is not None:  # the PostgreSQL log: the matching rows rewritten in one transaction
        records, fields = rewrite(lambda obj: scrub_record(obj, texts), texts)
        report.trajectory_records += records
        report.trajectory_fields += fields
    elif root.is_dir():
        for path in sorted(root.glob("segment-*.jsonl")):
            records, fields = _scrub_segment(path, texts)
            report.trajectory_records += records
            report.trajectory_fields += fields
    vacuum = getattr(memory.records, "vacuum", None)
    if vacuum is not None:  # PostgreSQL keeps dead row versions in its pages until a VACUUM
        vacuum()
    log.info("forget: %s", report.model_dump())
    return report
