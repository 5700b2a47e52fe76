"""reme: long-term memory for LLM agents whose decisions (compaction, writing, ranking) are learned policies.

A drop-in replacement for ReMe: 0.3.1.x's ``ReMe`` / ``ReMeLight`` and 0.4.x's application (``ReMe(workspace_dir=...,
jobs=...)``, ``run_job``, ``update_component``). Heavy dependencies (torch, sentence-transformers, faiss) load only
when a model, an index or a policy is first needed.

Versions: ``__version__`` is the ReMe API this package answers as (``REME_API_VERSION``, what hosts such as QwenPaw
2.x check with ``reme.__version__ == "0.4.1.11"``); ``__project_version__`` is this project's own release (the
distribution ``reme-rl``'s version). ``reme --version`` prints both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__project_version__ = "0.1.0"
"""This project's release."""
REME_API_VERSION = "0.4.1.11"
"""The ReMe release whose public surface this package implements (the newest generation; 0.3.1.x's too)."""
__version__ = REME_API_VERSION

__all__ = [
    "REME_API_VERSION", "Application", "AsyncMemory", "EmbeddingConfig", "Memory", "MemoryNode", "ReMe", "Response",
    "RetrievalConfig", "SearchHit", "__project_version__", "__version__",
]  # fmt: skip

if TYPE_CHECKING:
    from reme.application import Application, Response
    from reme.config import EmbeddingConfig, RetrievalConfig
    from reme.memory import AsyncMemory, Memory
    from reme.schema import MemoryNode, SearchHit
    from reme.vector import ReMe

_LAZY = {
    "Memory": "reme.memory",
    "AsyncMemory": "reme.memory",
    "MemoryNode": "reme.schema",
    "SearchHit": "reme.schema",
    "EmbeddingConfig": "reme.config",
    "RetrievalConfig": "reme.config",
    "ReMe": "reme.vector",
    "Application": "reme.application",
    "Response": "reme.application",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reme' has no attribute {name!r}")
