"""The policy registry of a PostgreSQL workspace, kept in the database (issue 22.1, 22.5), so that a learner on one
machine publishes a version and the replicas on others serve it.

The registry stays what ``reme.policy.registry`` reads and writes: version folders under ``policies/``, their
``history.jsonl``, ``canary.json`` and the serving setting per kind in ``reme.yaml``. Each workspace folder that
names the database is a copy of the database's registry, synchronised at known moments:

- ``pull`` (when a ``Memory`` opens, before ``reload_policies``, and before ``reme learn``): every version folder the
  database holds and the folder lacks is written in (a version is a content hash: a folder under its name is the
  same files, and it is checked whole when it loads); history lines the folder lacks are appended; the serving
  settings and the canary are taken from the database when it has them (the database wins: it is what every
  replica serves).
- ``push`` (after the folder registered a version, and with ``state=True`` after an activation, a rollback or a
  canary change: the end of ``reme learn``, ``reme policy activate`` / ``rollback``): what the folder has and the
  database lacks is uploaded; with ``state`` its serving settings and canary become the database's, and the
  registry ``epoch`` moves on, which is how replicas notice (``epoch``, polled by the service).

Tables (migration 3): ``policy_files (version, name, data)``, ``policy_history (line)``, ``policy_state (key, value,
epoch)``.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any

from reme.atomic import append_durable, publish_dir, temp_name, write_atomic
from reme.policy.decision import DECISION_KINDS
from reme.policy.registry import registry_dir, set_setting, setting_of

log = logging.getLogger("reme.store")

__all__ = ["epoch", "pull", "push"]

_VERSION = re.compile(r"[0-9a-f]{16}")
CANARY_KEY = "canary.json"


def _versions_here(root: Path) -> list[Path]:
    folder = registry_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name))


def epoch(store: Any) -> int:
    """The registry's epoch in the database: it moves on with every published change of what serves."""
    rows = store._read("SELECT COALESCE(MAX(epoch), 0) FROM {s}.policy_state")
    return int(rows[0][0])


def push(root: str | Path, store: Any, *, state: bool = False) -> dict[str, int]:
    """Upload the folder's versions and history lines the database lacks; with ``state``, also make the folder's
    serving settings and canary the database's (and move the epoch on when they changed). Returns counts."""
    root = Path(root)
    counts = {"versions": 0, "history": 0, "state": 0}
    with store.transaction(), store._conn() as conn:
        have = {str(r[0]) for r in conn.execute(store._q("SELECT DISTINCT version FROM {s}.policy_files"))}
        for folder in _versions_here(root):
            if folder.name in have:
                continue
            files = sorted(p for p in folder.rglob("*") if p.is_file())
            for path in files:
                conn.execute(
                    store._q("INSERT INTO {s}.policy_files VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"),
                    (folder.name, path.relative_to(folder).as_posix(), path.read_bytes()),
                )
            counts["versions"] += 1
        history = registry_dir(root) / "history.jsonl"
        if history.is_file():
            known = {str(r[0]) for r in conn.execute(store._q("SELECT line FROM {s}.policy_history"))}
            for line in history.read_text(encoding="utf-8").splitlines():
                if line.strip() and line not in known:  # one query for what is there, an insert per new line
                    got = conn.execute(
                        store._q("INSERT INTO {s}.policy_history (line) VALUES (%s) ON CONFLICT DO NOTHING"), (line,)
                    )
                    counts["history"] += int(got.rowcount or 0)
                    known.add(line)
        if state:
            current = dict(conn.execute(store._q("SELECT key, value FROM {s}.policy_state")).fetchall())
            canary = registry_dir(root) / CANARY_KEY
            wanted = {f"policies.{kind}": setting_of(root, kind) for kind in DECISION_KINDS}
            wanted[CANARY_KEY] = canary.read_text(encoding="utf-8") if canary.is_file() else ""
            changed = {k: v for k, v in wanted.items() if current.get(k) != v}
            if changed:
                next_epoch = conn.execute(store._q("SELECT COALESCE(MAX(epoch), 0) + 1 FROM {s}.policy_state"))
                value = int(next_epoch.fetchone()[0])
                for key, setting in changed.items():
                    conn.execute(
                        store._q(
                            "INSERT INTO {s}.policy_state VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                            "value = excluded.value, epoch = excluded.epoch"
                        ),
                        (key, setting, value),
                    )
                counts["state"] = len(changed)
    return counts


def pull(root: str | Path, store: Any) -> dict[str, int]:
    """Bring the folder's registry up to the database's (see the module docstring). Returns counts; ``state`` is
    the number of serving settings (and the canary) that changed here."""
    root = Path(root)
    counts = {"versions": 0, "history": 0, "state": 0}
    folder = registry_dir(root)
    here = {p.name for p in _versions_here(root)}
    missing = [str(r[0]) for r in store._read("SELECT DISTINCT version FROM {s}.policy_files ORDER BY 1")]
    for version in (v for v in missing if v not in here and _VERSION.fullmatch(v)):
        rows = store._read("SELECT name, data FROM {s}.policy_files WHERE version = %s", (version,))
        tmp = temp_name(folder / version)
        shutil.rmtree(tmp, ignore_errors=True)
        for name, data in rows:
            path = tmp / str(name)
            if ".." in Path(str(name)).parts:
                raise ValueError(f"registry file name {name!r} leaves its version folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(data))
        if publish_dir(tmp, folder / version):  # a version is its content: another process may have placed it
            counts["versions"] += 1
    lines = [str(r[0]) for r in store._read("SELECT line FROM {s}.policy_history ORDER BY seq")]
    history = folder / "history.jsonl"
    known = set(history.read_text(encoding="utf-8").splitlines()) if history.is_file() else set()
    new = [line for line in lines if line not in known]
    if new:
        folder.mkdir(parents=True, exist_ok=True)
        append_durable(history, "".join(line + "\n" for line in new).encode("utf-8"))
        counts["history"] = len(new)
    state = dict(store._read("SELECT key, value FROM {s}.policy_state"))
    for kind in DECISION_KINDS:
        value = state.get(f"policies.{kind}")
        if value is not None and value != setting_of(root, kind):
            set_setting(root, kind, value)
            counts["state"] += 1
    if CANARY_KEY in state:
        canary = folder / CANARY_KEY
        text = state[CANARY_KEY]
        if (canary.read_text(encoding="utf-8") if canary.is_file() else "") != text:
            if text:
                folder.mkdir(parents=True, exist_ok=True)
                write_atomic(canary, text.encode("utf-8"))
            else:
                canary.unlink(missing_ok=True)
            counts["state"] += 1
    if any(counts.values()):
        log.info("registry of %s pulled from %s: %s", root, store.path, counts)
    return counts
