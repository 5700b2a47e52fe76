"""The workspace's record store: SQLite (``WORKSPACE/reme.db``) or PostgreSQL (``store.url``), one interface."""

from __future__ import annotations

import os
from typing import Any

from reme.settings import StoreSettings
from reme.store.records import RecordStore
from reme.store.workspace import Workspace

__all__ = ["open_records", "store_url"]


def store_url(settings: StoreSettings) -> str | None:
    """``REME_STORE_URL`` when set, else ``store.url``."""
    return os.environ.get("REME_STORE_URL") or settings.url


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
