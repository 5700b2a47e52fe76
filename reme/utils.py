"""Small helpers of ReMe 0.4.x's ``reme.utils`` that hosts import: ``render_expansion_lines``, ``human_bytes``."""

from __future__ import annotations

from typing import Any

__all__ = ["human_bytes", "render_expansion_lines"]


def render_expansion_lines(expansion: dict[str, Any] | None) -> str:
    """The link lines printed under a search result: ``-> outlink: path`` and ``<- inlink: path``, one per line
    (empty when the note links nowhere and nothing links to it)."""
    if not expansion:
        return ""
    lines = [f"-> outlink: {p}" for p in expansion.get("outlinks", []) or []]
    lines += [f"<- inlink: {p}" for p in expansion.get("inlinks", []) or []]
    return "\n".join(lines)


def human_bytes(n: float) -> str:
    """``512 B``, ``12.34 KiB``, ``1.50 MiB`` (binary units)."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024.0
        if n < 1024 or unit == "TiB":
            return f"{n:.2f} {unit}"
    return f"{n:.2f} TiB"
