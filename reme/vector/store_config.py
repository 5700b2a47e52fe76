"""ReMe 0.3.1.x's vector-store settings: the local backends map to this project's embedded store, the server
backends are refused."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from reme.errors import BadInputError

log = logging.getLogger("reme.vector")

__all__ = ["LOCAL_VECTOR_STORES", "SERVER_VECTOR_STORES", "check_vector_store"]

LOCAL_VECTOR_STORES = ("local", "chroma", "memory")
"""ReMe 0.3.1.x vector-store backends that run in the process: this project's embedded store takes their place."""
SERVER_VECTOR_STORES = ("pgvector", "qdrant", "elasticsearch")
"""ReMe 0.3.1.x backends that are servers; none has a counterpart here yet (PostgreSQL with pgvector is planned)."""


def check_vector_store(overrides: Sequence[Any], config: Mapping[str, Any] | None) -> str:
    """The vector-store backend ReMe's config names (``default_vector_store_config["backend"]`` or a
    ``vector_store.default.backend=...`` override), refused with ``BadInputError`` when it is a server this project
    has no store for; a local backend (or none) means this project's embedded SQLite + FAISS + BM25 store."""
    backend = str((config or {}).get("backend") or "")
    for item in overrides:
        if isinstance(item, str) and item.replace(" ", "").startswith("vector_store.default.backend="):
            backend = item.split("=", 1)[1].strip()
    if not backend or backend in LOCAL_VECTOR_STORES:
        if backend:
            log.debug("ReMe: vector store %r is this project's embedded store", backend)
        return backend or "local"
    raise BadInputError(
        f"vector store backend {backend!r} has no counterpart here: the memories live in this project's embedded "
        f"store (SQLite + FAISS + BM25), which the local backends {list(LOCAL_VECTOR_STORES)} map to; "
        f"{list(SERVER_VECTOR_STORES)} are not supported yet (PostgreSQL with pgvector is planned)"
    )
