"""Chunking of ReMeLight's Markdown memory files, as ReMe 0.3.x's file watcher did.

ReMe chunks at 400 tokens with 80 tokens of overlap and counts about 4 characters per token, so a chunk holds
at most 1,600 characters of whole lines and the next chunk starts with the last >= 320 characters of lines of
the previous one. A single line longer than a chunk is cut into pieces. Line numbers are 1-based and inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

CHUNK_TOKENS = 400
CHUNK_OVERLAP_TOKENS = 80
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Chunk:
    start_line: int
    end_line: int
    text: str


def chunk_markdown(
    text: str, chunk_tokens: int = CHUNK_TOKENS, overlap_tokens: int = CHUNK_OVERLAP_TOKENS
) -> list[Chunk]:
    """Split a file into overlapping chunks of whole lines (blank-only chunks are dropped).

    >>> [(c.start_line, c.end_line) for c in chunk_markdown("# A\\nb\\n")]
    [(1, 2)]
    """
    max_chars = max(1, chunk_tokens * CHARS_PER_TOKEN)
    overlap_chars = max(0, overlap_tokens * CHARS_PER_TOKEN)
    # (line number, text) pieces; over-long lines become several pieces with the same line number
    pieces: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) <= max_chars:
            pieces.append((number, line))
        else:
            pieces.extend((number, line[i : i + max_chars]) for i in range(0, len(line), max_chars))
    chunks: list[Chunk] = []
    current: list[tuple[int, str]] = []
    size = 0

    def flush() -> None:
        body = "\n".join(p for _, p in current)
        if body.strip():
            chunks.append(Chunk(current[0][0], current[-1][0], body))

    for piece in pieces:
        piece_size = len(piece[1]) + 1
        if current and size + piece_size > max_chars:
            flush()
            # carry the tail of the chunk as overlap
            carried: list[tuple[int, str]] = []
            carried_size = 0
            for prev in reversed(current):
                if carried_size >= overlap_chars or carried_size + len(prev[1]) + 1 + piece_size > max_chars:
                    break
                carried.insert(0, prev)
                carried_size += len(prev[1]) + 1
            current, size = carried, carried_size
        current.append(piece)
        size += piece_size
    if current:
        flush()
    return chunks
