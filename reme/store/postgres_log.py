"""The trajectory log in PostgreSQL (issue 22.1): decisions, rewards and memory events of a workspace whose records
live there, in the table ``trajectory`` of its schema, so that every replica appends to one log and a learner on
another machine reads it (``reme learn``, ``reme train-policy --from-trajectories``, ``reme trajectories verify``).

The same records as the segment files (``reme.policy.trajectory``), one row each: ``body`` is the record's JSON line
exactly as a segment would hold it, so a reader parses both alike and the NDJSON export is byte for byte the same.
Appends are one ``INSERT`` each, committed before ``append`` returns (acknowledged is durable, as an ``O_APPEND``
write is in the kernel). Order is ``seq``: the order rows were inserted, which for two replicas appending at once is
one of the orders they could have had. The decision lookup a reward needs (``lookup``) is an index on the
decision rows, written with them; there is no derived file to rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reme.policy.decision import Decision
from reme.policy.decision_index import DecisionRef
from reme.policy.trajectory import LogLine, Record, check_retention, parse_line

__all__ = ["PostgresTrajectoryLog"]

PAGE = 5000
"""Rows read per query while iterating the log."""


class PostgresTrajectoryLog:
    """``TrajectoryLog``'s interface (``append``, ``close``, ``enabled``) plus ``records`` and ``lookup``, over a
    ``PostgresRecordStore``'s connections (its pool and schema; the table comes with its migrations)."""

    def __init__(self, store: Any, enabled: bool = True, *, owns_store: bool = False) -> None:
        self.store = store
        self.enabled = enabled
        self.owns_store = owns_store
        """Whether ``close`` closes the store too (a reader's log, opened on a store of its own)."""
        self.directory = Path(f"{store.schema}.trajectory")
        """What ``LogLine.path`` names (the schema's table, not a file)."""

    def append(self, record: Record) -> None:
        """Insert one record; committed when this returns."""
        if not self.enabled:
            return
        decision_id = record.decision_id if isinstance(record, Decision) else None
        kind = record.kind if isinstance(record, Decision) else ""
        target = record.extra.get("target") if isinstance(record, Decision) else None
        with self.store._conn() as conn:
            conn.execute(
                self.store._q(
                    "INSERT INTO {s}.trajectory (record_type, decision_id, kind, target, body) "
                    "VALUES (%s, %s, %s, %s, %s)"
                ),
                (record.type, decision_id, kind, target if isinstance(target, str) else "", record.model_dump_json()),
            )

    def records(self) -> Iterator[LogLine]:
        """Every record, oldest first, parsed or with the reason it could not be (as ``read_records``)."""
        for seq, body in self.rows():
            try:
                yield LogLine(self.directory, seq, parse_line(body))
            except ValueError as exc:
                yield LogLine(self.directory, seq, None, str(exc))

    def rows(self) -> Iterator[tuple[int, str]]:
        """``(seq, JSON line)`` of every record, oldest first, read a page at a time."""
        last = 0
        while True:
            page = self.store._read(
                "SELECT seq, body FROM {s}.trajectory WHERE seq > %s ORDER BY seq LIMIT %s", (last, PAGE)
            )
            if not page:
                return
            for seq, body in page:
                yield int(seq), str(body)
            last = int(page[-1][0])

    def lookup(self, decision_id: str) -> DecisionRef | None:
        """The decision's kind and target (``DecisionIndex.lookup``), or ``None`` when the log holds none."""
        rows = self.store._read(
            "SELECT kind, target FROM {s}.trajectory WHERE record_type = 'decision' AND decision_id = %s LIMIT 1",
            (decision_id,),
        )
        return None if not rows else DecisionRef(decision_id, str(rows[0][0]), str(rows[0][1]))

    def rewrite(self, change: Callable[[dict[str, Any]], int], contains: list[str]) -> tuple[int, int]:
        """Apply ``change`` (which edits a record's JSON object in place and returns how many strings it changed) to
        every record whose body holds one of ``contains``, in one transaction. Returns ``(records, strings)``
        changed (``reme forget``'s scrub)."""
        records = fields = 0
        needles = [json.dumps(text, ensure_ascii=False)[1:-1] for text in contains]  # as the JSON bodies hold them
        with self.store.transaction(), self.store._conn() as conn:
            rows = conn.execute(
                self.store._q(
                    "SELECT seq, body FROM {s}.trajectory WHERE EXISTS "
                    "(SELECT 1 FROM unnest(%s::text[]) AS t(needle) WHERE strpos(body, needle) > 0) ORDER BY seq"
                ),
                (needles,),
            ).fetchall()
            for seq, body in rows:
                obj = json.loads(body)
                n = change(obj)
                if n:
                    records += 1
                    fields += n
                    conn.execute(
                        self.store._q("UPDATE {s}.trajectory SET body = %s WHERE seq = %s"),
                        (json.dumps(obj, ensure_ascii=False, separators=(",", ":")), seq),
                    )
        return records, fields

    def prune(self, retention_days: float) -> int:
        """Delete the records written more than ``retention_days`` ago; returns how many."""
        check_retention(retention_days)
        with self.store._conn() as conn:
            got = conn.execute(
                self.store._q("DELETE FROM {s}.trajectory WHERE written < now() - %s * interval '1 day'"),
                (float(retention_days),),
            )
            return int(got.rowcount or 0)

    def close(self) -> None:
        """Nothing to flush (every append is committed); closes the store when this log owns it."""
        if self.owns_store:
            self.store.close()
