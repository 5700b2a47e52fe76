"""ReMe 0.4.x's ``LocalFileStore``: the search index of a workspace's notes, here a project ``Memory``.

The Markdown files under ``daily_dir`` and ``digest_dir`` are indexed as chunks (``Memory.sync_files``, ReMe's
400-token chunks with 80 of overlap) in the target ``file:notes`` of a workspace at
``<workspace>/<metadata_dir>/reme-rl``: FAISS and BM25 candidates, the workspace's rank policy (ReMe 0.4's RRF
while the heuristic serves, named or as the shipped default), every search a logged rank decision. The index follows
the files: it is brought up to date when the store starts, before every search, and by ``index_update_loop``; so a
note is searchable as soon as it is written (ReMe's watcher took 5-10 s). A tree whose files' (path, mtime, size)
have not changed is not read again; the notes' links are kept the same way (``links``).

Outcomes: a note a search returned that the agent then ``read``s credits that search decision (the latest one that
returned it) with a ``used`` reward, and the LLM write decisions that wrote the note with one too (``note_read``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reme.components.base import Component

if TYPE_CHECKING:
    from reme.memory import Memory

__all__ = ["NOTES_TARGET", "LocalFileStore"]

log = logging.getLogger(__name__)

NOTES_TARGET = "file:notes"
RECENT_SEARCHES = 64
"""How many recent searches a ``read`` is matched against for its ``used`` reward."""
WATCH_FOLDERS = ("daily_dir", "digest_dir")
WIKILINK = re.compile(r"\[\[([^\]|#]+)")
"""A ``[[target]]`` link (its target up to ``|`` or ``#``)."""


class LocalFileStore(Component):
    """The notes' search index (see the module docstring). ReMe's constructor keywords are accepted."""

    def __init__(
        self,
        app_context: Any = None,
        name: str = "default",
        embedding_store: str = "default",
        keyword_index: str = "default",
        file_graph: str = "default",
        embedding_rebuild_required: bool = False,
        **config: Any,
    ) -> None:
        super().__init__("file_store", name, config, app_context)
        self.embedding_store = embedding_store
        self.keyword_index = keyword_index
        self.file_graph = file_graph
        self.embedding_rebuild_required = bool(embedding_rebuild_required)
        self._memory: Memory | None = None
        self._lock = threading.RLock()
        self._recent: list[tuple[str, set[str]]] = []
        self._credited: set[tuple[str, str]] = set()
        self._closing = False
        self._synced: tuple[Any, ...] | None = None
        """The files' (path, mtime, size) at the last sync: an unchanged tree needs no reading before a search."""
        self._links: tuple[tuple[Any, ...], dict[str, list[str]]] | None = None

    # ------------------------------------------------------------------------------------------- places
    @property
    def root(self) -> Path:
        return Path(self.app.workspace_path) if self.app is not None else Path(".reme").resolve()

    @property
    def index_dir(self) -> Path:
        folder = getattr(self.app.config, "metadata_dir", "metadata") if self.app is not None else "metadata"
        return self.root / (folder or "metadata") / "reme-rl"

    @property
    def memory(self) -> Memory:
        """The project workspace holding the chunks and the decision log (opened on first use)."""
        with self._lock:
            if self._memory is None:
                from reme.memory import Memory

                self._memory = Memory(self.index_dir)
            return self._memory

    def watched_files(self) -> list[Path]:
        files: list[Path] = []
        for folder in WATCH_FOLDERS:
            name = getattr(self.app.config, folder, "") if self.app is not None else folder.removesuffix("_dir")
            base = self.root / name if name else None
            if base is not None and base.is_dir():
                files += [p for p in base.rglob("*.md") if p.is_file() and not p.is_symlink()]
        return sorted(files)

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._closing = False
        await asyncio.to_thread(self.sync)

    async def close(self) -> None:
        self._closing = True
        with self._lock:
            if self._memory is not None:
                self._memory.close()
                self._memory = None

    # ------------------------------------------------------------------------------------------- index
    def _tree(self) -> tuple[list[Path], tuple[Any, ...]]:
        """The watched files and their signature (path, mtime in ns, size): one ``stat`` each, no reading."""
        files = self.watched_files()
        signature = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            signature.append((path.as_posix(), st.st_mtime_ns, st.st_size))
        return files, tuple(signature)

    def sync(self, force: bool = False) -> dict[str, int]:
        """Bring the chunks up to date with the files (changed files re-chunked, deleted ones dropped). A tree whose
        signature has not changed since the last sync is not read again."""
        from reme.policy.write import explicit_write_policy

        with self._lock:
            files, signature = self._tree()
            if not force and signature == self._synced:
                return {"files": 0, "chunks_added": 0, "chunks_removed": 0}
            # the note is the decision (its LLM writer's); its chunks go through ReMe's add rule, never discarded
            stats = self.memory.sync_files(
                self.root, files, NOTES_TARGET, source="notes", force=force, write_policy=explicit_write_policy()
            )
            self._synced = signature
            return stats

    def invalidate(self) -> None:
        """Forget the last signature: the job that calls this wrote a note (a rewrite within the file system's
        timestamp granularity, at the same size, would otherwise look unchanged)."""
        with self._lock:
            self._synced = None
            self._links = None

    def links(self) -> dict[str, list[str]]:
        """Each watched note's ``[[link]]`` targets as written (sorted, distinct), read again only when the tree
        changed."""
        with self._lock:
            files, signature = self._tree()
            if self._links is not None and self._links[0] == signature:
                return self._links[1]
            found: dict[str, list[str]] = {}
            for path in files:
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                found[path.relative_to(self.root).as_posix()] = sorted(
                    {m.group(1).strip() for m in WIKILINK.finditer(text)}
                )
            self._links = (signature, found)
            return found

    async def clear(self) -> int:
        """Drop every indexed chunk (the files stay); the next sync re-indexes them. Returns how many."""

        def work() -> int:
            with self._lock:
                ids = [n.memory_id for n in self.memory.records.list_nodes(NOTES_TARGET)]
                self._synced = None  # the next sync indexes every file again
                return self.memory.delete_many(ids)

        return await asyncio.to_thread(work)

    async def reindex(self, scope: str = "all") -> dict[str, Any]:
        """Rebuild the index: ``bm25`` (keyword index), ``embedding`` (re-encode every chunk) or ``all``."""
        if scope not in ("all", "bm25", "embedding"):
            raise ValueError(f"scope must be all, bm25 or embedding, got {scope!r}")

        def work() -> dict[str, Any]:
            with self._lock:
                if scope == "bm25":
                    return {"indexed": self.memory.rebuild_indexes(NOTES_TARGET).get(NOTES_TARGET, 0), "scope": scope}
                stats = self.sync(force=True)
                self.embedding_rebuild_required = False
                embedded = {"indexed": stats["chunks_added"], "scope": "embedding"}
                if scope == "embedding":
                    return embedded
                bm25 = {"indexed": self.memory.rebuild_indexes(NOTES_TARGET).get(NOTES_TARGET, 0), "scope": "bm25"}
                return {"scope": "all", "bm25": bm25, "embedding": embedded}

        return await asyncio.to_thread(work)

    async def require_embedding_rebuild(self) -> None:
        """Mark the vectors stale (a host changed its embedding model); ``reindex("embedding")`` re-encodes."""
        self.embedding_rebuild_required = True

    async def resume_embedding(self, *, verified: bool = False) -> bool:
        """Whether vectors are served (False while closing). ``verified`` is accepted for ReMe's signature: the
        encoder here is local and needs no health check."""
        return not self._closing

    # ------------------------------------------------------------------------------------------- search
    def search(self, query: str, limit: int, policy: Any = None) -> tuple[Any, list[Any]]:
        """``(rank decision, hits)`` of a query over the notes (the index synced first)."""
        with self._lock:
            self.sync()
            decision, hits = self.memory.search_with_decision(
                query, limit, NOTES_TARGET, min_score=float("-inf"), policy=policy
            )
            paths = {str(h.memory.metadata.get("path", "")) for h in hits}
            self._recent = [*self._recent, (decision.decision_id, paths)][-RECENT_SEARCHES:]
            return decision, hits

    # ------------------------------------------------------------------------------------------- rewards
    def _writes_file(self) -> Path:
        return self.index_dir / "note_writes.json"

    def note_written(self, path: str, decision_ids: list[str]) -> None:
        """Remember which LLM write decisions wrote ``path`` (for the rewards its later use earns)."""
        with self._lock:
            writes = self.note_writes()
            writes[path] = sorted(set(writes.get(path, [])) | set(decision_ids))
            target = self._writes_file()
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps(writes, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(target)

    def note_writes(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self._writes_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def note_read(self, path: str) -> int:
        """Credit the latest recent search that returned ``path`` (the result the agent acted on), and the writes
        of that note, with a ``used`` reward (once per decision and path). Returns how many rewards were
        recorded."""
        with self._lock:
            searches = [d for d, paths in self._recent if path in paths][-1:]
            if not searches:
                return 0
            count = 0
            for decision_id in [*searches, *self.note_writes().get(path, [])]:
                if (decision_id, path) in self._credited:
                    continue
                self._credited.add((decision_id, path))
                try:
                    self.memory.feedback(1.0, decision_id=decision_id, source="used")
                    count += 1
                except Exception as exc:  # an unknown id (a pruned log) must not fail the read
                    log.debug("no used reward for %s: %s", decision_id, exc)
            return count
