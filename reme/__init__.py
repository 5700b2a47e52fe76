"""reme: long-term memory for LLM agents whose decisions (compaction, writing, ranking) are learned policies.

A drop-in replacement for ReMe 0.3.1.x. Heavy dependencies (torch, sentence-transformers, faiss) load only
when a model, an index or a policy is first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["EmbeddingConfig", "Memory", "MemoryNode", "ReMe", "RetrievalConfig", "SearchHit", "__version__"]

if TYPE_CHECKING:
    from reme.config import EmbeddingConfig, RetrievalConfig
    from reme.memory import Memory
    from reme.schema import MemoryNode, SearchHit
    from reme.vector import ReMe

_LAZY = {
    "Memory": "reme.memory",
    "MemoryNode": "reme.schema",
    "SearchHit": "reme.schema",
    "EmbeddingConfig": "reme.config",
    "RetrievalConfig": "reme.config",
    "ReMe": "reme.vector",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reme' has no attribute {name!r}")
