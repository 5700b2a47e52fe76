"""The workspace directory: ReMe 0.3.x's layout plus this project's database, indexes and trajectories.

::

    WORKSPACE/
      MEMORY.md               long-term notes curated by the host agent (indexed as chunks)
      memory/YYYY-MM-DD.md    daily journal written by the memory writer (indexed as chunks)
      dialog/YYYY-MM-DD.jsonl raw messages moved out by compaction (not indexed)
      tool_result/<uuid>.txt  full tool outputs behind <<<TRUNCATED>>> notices
      reme.db                 memory records (SQLite, WAL): the source of truth
      index/                  FAISS and BM25 caches, rebuilt from reme.db whenever they are stale
      embedding_cache/        vectors keyed by (model id, text hash)
      trajectories/           decision records for the trainers
"""

from __future__ import annotations

from pathlib import Path

from reme.errors import WorkspaceError

SUBDIRS = ("memory", "dialog", "tool_result", "index", "embedding_cache", "trajectories")


class Workspace:
    """Paths of one workspace; creates the folders on first use."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"workspace {self.root} exists and is not a directory")
        try:
            for sub in SUBDIRS:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create workspace {self.root}: {exc.strerror}") from None

    def check_database(self) -> None:
        """Refuse to open a workspace whose ``reme.db`` is missing or empty while the files derived from it
        (saved indexes, the embedding cache, the trajectory log) show that it held data: opening it would serve an
        empty store over lost memories. Raises ``WorkspaceError`` naming the file and the ways to recover."""
        db = self.db_path
        if db.is_file() and db.stat().st_size > 0:
            return
        evidence = []
        segments = [p for p in self.trajectory_dir.glob("segment-*.jsonl") if p.stat().st_size > 0]
        if segments:
            evidence.append(f"{len(segments)} trajectory segment(s)")
        if any(p.is_file() for p in self.index_dir.rglob("*")):
            evidence.append("saved indexes")
        cache = self.embedding_cache_path
        if cache.is_file() and cache.stat().st_size > 0:
            evidence.append("an embedding cache")
        if not evidence:
            return
        state = "is empty (0 bytes)" if db.is_file() else "is missing"
        raise WorkspaceError(
            f"the memory database {db} {state}, but this workspace holds {', '.join(evidence)}: the database was "
            f"lost or truncated, and opening it would serve an empty store. Restore {db.name} from a backup "
            f"(with its -wal file, if any); or, to start afresh on purpose, move {self.trajectory_dir.name}/, "
            f"{self.index_dir.name}/ and {self.embedding_cache_path.parent.name}/ out of {self.root}"
        )

    @property
    def db_path(self) -> Path:
        return self.root / "reme.db"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def dialog_dir(self) -> Path:
        return self.root / "dialog"

    @property
    def tool_result_dir(self) -> Path:
        return self.root / "tool_result"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def trajectory_dir(self) -> Path:
        return self.root / "trajectories"

    @property
    def embedding_cache_path(self) -> Path:
        return self.root / "embedding_cache" / "embeddings.db"

    def markdown_files(self) -> list[Path]:
        """The Markdown files ReMeLight indexes: ``MEMORY.md``, ``memory.md`` and ``memory/*.md`` (not recursive)."""
        files = [self.root / name for name in ("MEMORY.md", "memory.md") if (self.root / name).is_file()]
        files += sorted(p for p in self.memory_dir.glob("*.md") if p.is_file() and not p.is_symlink())
        return files
