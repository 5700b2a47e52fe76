"""The workspace's memory: ``Memory`` (the facade, ``reme.memory.facade``) and the package's modules, one per job:
``checks`` (input validation, ``build_node``), ``indexes`` (the per-target FAISS + BM25 lifecycle), ``search``,
``writes`` and ``markdown_sync``.

``from reme.memory import Memory`` (also ``reme.Memory``) is the public import path; ``build_node``,
``check_time`` and ``FILE_TARGET`` are importable from here too.
"""

from __future__ import annotations

from reme.memory.checks import build_node, check_time
from reme.memory.facade import Memory
from reme.memory.markdown_sync import FILE_TARGET

__all__ = ["FILE_TARGET", "Memory", "build_node", "check_time"]
