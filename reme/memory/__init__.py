"""The workspace's memory: ``Memory`` (the facade, ``reme.memory.facade``) and the package's modules, one per job:
``checks`` (input validation, ``build_node``), ``indexes`` (the per-target FAISS + BM25 lifecycle), ``search``,
``writes``, ``markdown_sync`` and ``async_memory`` (``AsyncMemory``, the same methods awaited, for async hosts).

``from reme.memory import Memory`` (also ``reme.Memory``; ``AsyncMemory`` likewise) is the public import path;
``build_node``, ``check_time`` and ``FILE_TARGET`` are importable from here too.
"""

from __future__ import annotations

from reme.memory.async_memory import AsyncMemory
from reme.memory.checks import build_node, check_time
from reme.memory.facade import Memory
from reme.memory.markdown_sync import FILE_TARGET

__all__ = ["FILE_TARGET", "AsyncMemory", "Memory", "build_node", "check_time"]
