"""ReMe 0.4.x's ``DefaultFileChunker``, standalone: ``chunk_content(text, path) -> list[FileChunk]`` in chunks of
whole lines of at most ``chunk_byte_size`` bytes overlapping by ``overlap_byte_size`` (``reme.store.markdown``'s
chunker, sized in bytes at four per token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reme.store.markdown import CHARS_PER_TOKEN, chunk_markdown

__all__ = ["DefaultFileChunker", "FileChunk"]


@dataclass
class FileChunk:
    path: str
    start_line: int
    end_line: int
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


class DefaultFileChunker:
    """Chunks text; needs no application context and no ``start()``."""

    def __init__(self, chunk_byte_size: int = 2048, overlap_byte_size: int = 256, **_: Any) -> None:
        self.chunk_tokens = max(1, int(chunk_byte_size) // CHARS_PER_TOKEN)
        self.overlap_tokens = max(0, int(overlap_byte_size) // CHARS_PER_TOKEN)

    def chunk_content(self, text: str, path: str = "", parse_links: bool = False) -> list[FileChunk]:
        return [
            FileChunk(path=str(path), start_line=c.start_line, end_line=c.end_line, text=c.text)
            for c in chunk_markdown(text, self.chunk_tokens, self.overlap_tokens)
        ]
