"""The workspace's record store: SQLite (``WORKSPACE/reme.db``) or PostgreSQL (``store.url``), one interface."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reme.policy.decision_index import DecisionIndex
from reme.policy.trajectory import TrajectoryLog
from reme.settings import StoreSettings, WorkspaceSettings, load_settings
from reme.store.records import RecordStore
from reme.store.workspace import Workspace

__all__ = [
    "in_database",
    "learner_folder",
    "learner_session",
    "log_in_database",
    "open_decision_index",
    "open_records",
    "open_trajectory_log",
    "publish_registry",
    "pull_registry",
    "push_registry",
    "store_url",
    "trajectory_source",
]


def store_url(settings: StoreSettings) -> str | None:
    """``REME_STORE_URL`` when set, else ``store.url``."""
    return os.environ.get("REME_STORE_URL") or settings.url


def learner_folder(url: str) -> Path:
    """The local folder a learner keeps for the PostgreSQL workspace at ``url`` (schema ``$REME_STORE__SCHEMA``, else
    ``reme``): ``$REME_CACHE_DIR/learners/HOST-PORT-DB-SCHEMA``, holding the registry it pulls and its own learning
    state, so that a later run on this machine resumes. The URL itself goes into this process's ``REME_STORE_URL``,
    never into a file (it may carry a password)."""
    from urllib.parse import urlsplit

    from reme.config import cache_root

    parts = urlsplit(url)
    schema = os.environ.get("REME_STORE__SCHEMA", StoreSettings.model_fields["schema_name"].default)
    where = (parts.hostname or "local", parts.port or 5432, parts.path.strip("/") or "db", schema)
    name = "-".join(str(p) for p in where)
    folder = cache_root() / "learners" / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["REME_STORE_URL"] = url
    return folder


def open_records(workspace: Workspace, settings: StoreSettings) -> Any:
    """The record store ``settings`` name for ``workspace``: a ``PostgresRecordStore`` when there is a URL, else the
    workspace's SQLite file (checked first: a lost database is refused, never served empty)."""
    url = store_url(settings)
    if url:
        from reme.store.postgres import PostgresRecordStore

        return PostgresRecordStore(
            url, settings.schema_name, pool_size=settings.pool_size, dense=settings.dense,
            hnsw_min_rows=settings.hnsw_min_rows, ef_search=settings.ef_search,
        )  # fmt: skip
    workspace.check_database()
    return RecordStore(workspace.db_path)


def log_in_database(settings: WorkspaceSettings) -> bool:
    """Whether the trajectory log lives in the PostgreSQL store (``trajectories.location``)."""
    where = settings.trajectories.location
    return where == "database" or (where == "auto" and store_url(settings.store) is not None)


def open_trajectory_log(workspace: Workspace, settings: WorkspaceSettings, records: Any) -> Any:
    """The workspace's trajectory log: the PostgreSQL store's table (``records`` must be that store) or the segment
    files under ``trajectories/``."""
    log = settings.trajectories
    if log_in_database(settings):
        from reme.store.postgres import PostgresRecordStore
        from reme.store.postgres_log import PostgresTrajectoryLog

        if not isinstance(records, PostgresRecordStore):
            from reme.errors import WorkspaceError

            raise WorkspaceError("trajectories.location: database needs store.url (a PostgreSQL store)")
        return PostgresTrajectoryLog(records, log.enabled)
    return TrajectoryLog(workspace.trajectory_dir, log.enabled, log.segment_bytes)


def open_decision_index(workspace: Workspace, trajectory: Any) -> Any:
    """What answers ``lookup(decision_id)`` for rewards: the database log itself, or the file log's derived index."""
    if isinstance(trajectory, TrajectoryLog):
        return DecisionIndex(workspace.trajectory_dir, workspace.index_dir / "decisions.db")
    return trajectory


def trajectory_source(root: str | Path) -> Any:
    """What ``read_records`` reads for the workspace at ``root``: its ``trajectories/`` folder, or (when its log lives
    in PostgreSQL) the database log, on a store of its own that the log's ``close`` closes."""
    settings = load_settings(root)
    workspace = Path(root)
    if not log_in_database(settings):
        return workspace / "trajectories"
    from reme.store.postgres_log import PostgresTrajectoryLog

    return PostgresTrajectoryLog(open_records(Workspace(workspace), settings.store), owns_store=True)


def in_database(records: Any) -> bool:
    """Whether ``records`` is the PostgreSQL store (the registry and, by default, the log live there too)."""
    from reme.store.postgres import PostgresRecordStore

    return isinstance(records, PostgresRecordStore)


def pull_registry(root: str | Path, records: Any) -> bool:
    """Bring the folder's policy registry up to the database's (``reme.store.postgres_registry.pull``) when the
    records live in PostgreSQL; whether what serves changed here."""
    if not in_database(records):
        return False
    from reme.store.postgres_registry import pull

    return pull(root, records)["state"] > 0


def push_registry(root: str | Path, records: Any, *, state: bool = False) -> None:
    """Upload the folder's registry to the database (``reme.store.postgres_registry.push``; ``state``: what serves
    too) when the records live in PostgreSQL."""
    if in_database(records):
        from reme.store.postgres_registry import push

        push(root, records, state=state)


def publish_registry(root: str | Path) -> bool:
    """After an activation, a rollback or a canary change in the workspace at ``root``: make it what every replica
    serves (a PostgreSQL workspace; a no-op for the SQLite file). Whether it was published."""
    settings = load_settings(root)
    if store_url(settings.store) is None:
        return False
    records = open_records(Workspace(root), settings.store)
    try:
        push_registry(root, records, state=True)
    finally:
        records.close()
    return True


@contextmanager
def learner_session(root: str | Path) -> Iterator[None]:
    """Around one ``reme learn`` pass on a PostgreSQL workspace: the database's learner lock (one learner per
    workspace across hosts), the registry pulled before (train from what serves everywhere) and published after
    (what it promoted or rolled back serves everywhere). A no-op for the SQLite file."""
    settings = load_settings(root)
    if store_url(settings.store) is None:
        yield
        return
    records = open_records(Workspace(root), settings.store)
    try:
        with records.held_lock("learn"):
            pull_registry(root, records)
            yield
            push_registry(root, records, state=True)
    finally:
        records.close()
