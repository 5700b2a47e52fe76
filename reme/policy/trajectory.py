"""The trajectory log: every decision and reward of a workspace, appended as JSON lines to rotating segments
``WORKSPACE/trajectories/segment-NNNNNN.jsonl``.

Three record types: ``Decision`` (``type: "decision"``), ``RewardEvent`` (``"reward"``) and ``MemoryEvent``
(``"memory"``: memories deleted). Each record is one ``write(2)`` of one line on a file opened with ``O_APPEND``,
under an exclusive ``flock`` of the segment, so records of concurrent processes never interleave and a record is in
the kernel (safe from a crash of this process) when ``append`` returns; segments are fsynced when they are rotated
out and when the log is closed. A writer killed in the middle of a large record (a ``write`` of several pages can
stop part-way on SIGKILL) leaves a torn last line; the next append, by any process, cuts it off before writing, so a
record is never glued to a torn one. A segment rotates when it passes ``segment_bytes``. Readers need nothing but
these files: ``read_records`` yields every record with its file and line, and reports unreadable lines (a torn last
line after a power loss, a corrupted byte) instead of stopping.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reme.errors import BadInputError
from reme.policy.decision import RECORD_SCHEMA_VERSION, Decision
from reme.schema import utc_now

try:
    import fcntl
except ImportError:  # Windows: appends of one process are still serialised by the log's thread lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SEGMENT_RE = re.compile(r"^segment-(\d{6})\.jsonl$")


class RewardEvent(BaseModel):
    """A reward that arrived after the decisions that caused it (``type: "reward"``).

    It refers to a decision (``decision_id``: a search whose results were used, a compaction whose task failed)
    or to a memory (``memory_id``: credited to the write decision that stored it; see ``reme.policy.rewards``).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["reward"] = "reward"
    schema_version: int = RECORD_SCHEMA_VERSION
    reward_id: str
    decision_id: str | None = None
    memory_id: str | None = None
    source: Literal["feedback", "used", "answer", "task"] = "feedback"
    """``feedback``: an explicit user or host call; ``used``: a retrieved memory was used; ``answer``: an answer
    judged right or wrong; ``task``: a task outcome."""
    value: float
    episode_id: str | None = None
    time: str = Field(default_factory=utc_now)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        import math

        if not math.isfinite(v):
            raise ValueError("a reward must be a finite number")
        return v


class MemoryEvent(BaseModel):
    """Something that happened to stored memories outside a decision (``type: "memory"``): today their deletion
    (``Memory.delete_many``, ``reme forget``). The credit rules end a memory's storage cost there
    (``reme.policy.rewards``). An older reme reading a log with these lines reports them as unreadable lines and
    joins the rest."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["memory"] = "memory"
    schema_version: int = RECORD_SCHEMA_VERSION
    event: Literal["deleted"] = "deleted"
    memory_ids: list[str]
    """The memories the event concerns."""
    time: str = Field(default_factory=utc_now)
    extra: dict[str, Any] = Field(default_factory=dict)
    """Free-form context, as on the other records (``reme forget`` marks a scrubbed record here)."""


Record = Decision | RewardEvent | MemoryEvent
"""Any line of the log."""


@dataclass
class LogLine:
    """One line of the log: the record, or why it could not be read."""

    path: Path
    line: int
    record: Record | None
    error: str | None = None


class TrajectoryLog:
    """Appends decision and reward records; switched off with ``enabled=False`` (then ``append`` is a no-op)."""

    def __init__(self, directory: str | Path, enabled: bool = True, segment_bytes: int = 16 * 1024 * 1024):
        self.directory = Path(directory)
        self.enabled = enabled
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._segment = -1
        if enabled:
            self.directory.mkdir(parents=True, exist_ok=True)

    def _segments(self) -> list[int]:
        return sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := SEGMENT_RE.match(p.name)))

    def _open(self, number: int) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
        path = self.directory / f"segment-{number:06d}.jsonl"
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment = number

    def append(self, record: Record) -> None:
        """Write one record (a whole line in one system call), after cutting off a torn last record that a
        killed writer left; under an exclusive ``flock`` of the segment, so no live writer is mid-record."""
        if not self.enabled:
            return
        line = (record.model_dump_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                segments = self._segments()
                self._open(segments[-1] if segments else 1)
            assert self._fd is not None
            if os.fstat(self._fd).st_size >= self.segment_bytes:
                latest = max([self._segment, *self._segments()])
                self._open(latest + 1)
            fd = self._fd
            _flock(fd, True)
            if self._replaced(fd):  # rewritten meanwhile (``reme forget``): append to the file now at the path
                _flock(fd, False)
                self._open(self._segment)
                fd = self._fd
                _flock(fd, True)
            try:
                self._cut_torn_tail(fd)
                view = memoryview(line)
                while view:  # one call; a short write (a signal, a full disk) is continued under the lock
                    view = view[os.write(fd, view) :]
            finally:
                _flock(fd, False)

    def _replaced(self, fd: int) -> bool:
        """Whether the segment's path now names another file than ``fd`` (a rewrite swapped it in)."""
        try:
            return os.stat(self.directory / f"segment-{self._segment:06d}.jsonl").st_ino != os.fstat(fd).st_ino
        except FileNotFoundError:
            return True

    def _cut_torn_tail(self, fd: int) -> None:
        """Truncate the segment after its last end of line when it does not end with one: the rest is a record
        whose writer died mid-``write`` (or zeros a power loss left), never acknowledged. Without this, the
        next record would be glued to it and both lines would be unreadable."""
        size = os.fstat(fd).st_size
        if size == 0 or not hasattr(os, "pread") or os.pread(fd, 1, size - 1) == b"\n":
            return
        end = size
        while end > 0:
            start = max(0, end - 65536)
            chunk = os.pread(fd, end - start, start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            end = start
        log.warning(
            "trajectory segment %06d ends in a torn record (%d bytes, a writer was killed mid-write): cut off",
            self._segment, size - end,
        )  # fmt: skip
        os.ftruncate(fd, end)

    def records(self) -> Iterator[LogLine]:
        """Every record of the log (``read_records`` of its folder)."""
        return read_records(self.directory)

    def prune(self, retention_days: float) -> int:
        """``prune_trajectories`` of this log's folder; returns the number of segments deleted."""
        return len(prune_trajectories(self.directory, retention_days))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def _flock(fd: int, lock: bool) -> None:
    """Take or release an exclusive advisory lock on an open segment (other processes' appends wait)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX if lock else fcntl.LOCK_UN)


def parse_line(text: str) -> Record:
    """A record from one line of JSON; raises ``ValueError`` naming the problem."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError("a record must be a JSON object")
    version = obj.get("schema_version")
    if version != RECORD_SCHEMA_VERSION:
        raise ValueError(f"unknown schema_version {version!r} (this reme reads {RECORD_SCHEMA_VERSION})")
    kind = obj.get("type")
    try:
        if kind == "decision":
            return Decision.model_validate(obj)
        if kind == "reward":
            return RewardEvent.model_validate(obj)
        if kind == "memory":
            return MemoryEvent.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"invalid {kind} record: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    raise ValueError(f"unknown record type {kind!r}")


def read_records(directory: str | Path | Any) -> Iterator[LogLine]:
    """Every line of every segment, oldest first, parsed or with the reason it could not be. ``directory`` may also
    be a log that reads itself (anything with ``records()``: the PostgreSQL log, ``reme.store.postgres_log``)."""
    if not isinstance(directory, str | Path):
        yield from directory.records()
        return
    root = Path(directory)
    if not root.is_dir():
        return
    paths = sorted((p for p in root.iterdir() if SEGMENT_RE.match(p.name)), key=lambda p: p.name)
    for path in paths:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    yield LogLine(path, number, None, "truncated record (no end of line)")
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield LogLine(path, number, None, f"not UTF-8 (byte {exc.start})")
                    continue
                if not text.strip():
                    yield LogLine(path, number, None, "empty line")
                    continue
                try:
                    yield LogLine(path, number, parse_line(text))
                except ValueError as exc:
                    yield LogLine(path, number, None, str(exc))


def check_retention(retention_days: Any) -> None:
    """Refuse a retention that is not a number of days >= 0 (``BadInputError``)."""
    if not isinstance(retention_days, int | float) or isinstance(retention_days, bool) or retention_days < 0:
        raise BadInputError(f"retention_days must be a number >= 0, got {retention_days!r}")


def prune_trajectories(directory: str | Path, retention_days: float, now: float | None = None) -> list[str]:
    """Delete trajectory segments whose last write is older than ``retention_days`` (never the newest segment).
    Returns the names of the segments deleted."""
    check_retention(retention_days)
    root = Path(directory)
    if not root.is_dir():
        return []
    segments = sorted(root.glob("segment-*.jsonl"))
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    gone = []
    for path in segments[:-1]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                gone.append(path.name)
        except FileNotFoundError:
            continue
    if gone:
        log.info("pruned %d trajectory segments older than %g days", len(gone), retention_days)
    return gone
