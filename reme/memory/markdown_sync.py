"""Markdown files as memories: each file's chunks (``reme.store.markdown.chunk_markdown``) in one target, kept in step
with the files by content hash. ``MEMORY.md``, ``memory.md`` and ``memory/*.md`` of a workspace (ReMeLight's file
memory) go to ``FILE_TARGET``.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reme.schema import MemoryNode, MemoryType
from reme.store.markdown import chunk_markdown

if TYPE_CHECKING:
    from reme.memory.facade import Memory

log = logging.getLogger("reme.memory")

__all__ = ["FILE_TARGET", "sync_files"]

FILE_TARGET = "file:memory"
"""Target of the chunks of ``MEMORY.md`` and ``memory/*.md`` (ReMeLight's file memory)."""


def sync_files(
    memory: Memory,
    root: Path,
    files: Sequence[Path],
    target: str,
    *,
    source: str = "file",
    force: bool = False,
    write_policy: Any | None = None,
) -> dict[str, int]:
    """Index ``files`` as Markdown chunks in ``target`` (see ``Memory.sync_files``)."""
    existing: dict[str, builtins.list[MemoryNode]] = {}
    for node in memory.records.list_nodes(target):
        existing.setdefault(str(node.metadata.get("path", "")), []).append(node)
    stats = {"files": 0, "chunks_added": 0, "chunks_removed": 0}
    seen: set[str] = set()
    for path in files:
        rel = path.relative_to(root).as_posix()
        seen.add(rel)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("skipping %s: %s", rel, exc)
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        old = existing.get(rel, [])
        if not force and old and all(n.metadata.get("file_hash") == digest for n in old):
            continue
        stats["chunks_removed"] += memory.delete_many([n.memory_id for n in old])
        items = [
            {
                "content": chunk.text,
                "memory_type": MemoryType.chunk,
                "memory_id": hashlib.sha256(f"{rel}:{chunk.start_line}:{chunk.end_line}:{digest}".encode()).hexdigest()[
                    :16
                ],
                "metadata": {
                    "path": rel,
                    "start_line": chunk.start_line,
                    "end_line": chunk.end_line,
                    "file_hash": digest,
                    "source": source,
                },
            }
            for chunk in chunk_markdown(text)
        ]
        memory.add_many(items, target=target, policy=write_policy)
        stats["files"] += 1
        stats["chunks_added"] += len(items)
    for rel, nodes in existing.items():
        if rel not in seen:
            stats["chunks_removed"] += memory.delete_many([n.memory_id for n in nodes])
    return stats
