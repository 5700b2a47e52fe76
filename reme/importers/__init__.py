"""Importers of other memory stores' data into a workspace.

``import_reme(path, workspace)`` reads ReMe 0.3.x data: a vector-store ``dump_memory`` file (JSON or JSONL), or a
ReMeLight working directory (``MEMORY.md``, ``memory/*.md``, ``dialog/*.jsonl``, ``tool_result/*.txt``).
``import_mem0(path, workspace)`` reads a mem0 export (``get_all()``'s JSON, a list of memories, or JSON Lines).
"""

from __future__ import annotations

from reme.importers.mem0 import import_mem0
from reme.importers.reme03 import import_reme

__all__ = ["import_mem0", "import_reme"]
