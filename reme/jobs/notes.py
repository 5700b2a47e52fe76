"""Notes of a ReMe 0.4.x workspace: safe paths, YAML front matter, the day index.

A note is Markdown with YAML front matter between ``---`` lines (keys sorted, as PyYAML writes them by default).
Paths are workspace-relative POSIX strings; ``resolve`` refuses escapes and names no file system accepts, and gives
a path without a suffix ``.md``. A job run may carry ``_allowed_paths`` (injected by the agent of ``auto_memory``,
never visible to the model): then only those files, or files under those folders, may be touched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reme.errors import BadInputError

if TYPE_CHECKING:
    from reme.jobs.steps import JobRun

__all__ = ["check_name", "day_notes", "read_note", "refresh_day_index", "render_note", "resolve", "split_note"]

_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_FENCE = re.compile(r"\A---\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


def check_name(part: str, what: str = "path component") -> str:
    """A file or folder name any file system accepts (ReMe's rule), else ``BadInputError``."""
    if not part or part in (".", ".."):
        raise BadInputError(f"invalid {what} {part!r}")
    if _BAD_CHARS.search(part) or part != part.strip() or part.endswith("."):
        raise BadInputError(f"invalid {what} {part!r}: no < > : \" / \\ | ? *, control characters, edge spaces or "
                            "trailing dots")  # fmt: skip
    if part.split(".")[0].lower() in _DEVICES:
        raise BadInputError(f"invalid {what} {part!r}: a reserved device name")
    return part


def resolve(run: JobRun, path: Any, *, markdown: bool = True) -> Path:
    """The absolute path of a workspace-relative ``path`` (an absolute one must lie inside the workspace)."""
    if not isinstance(path, str) or not path.strip():
        raise BadInputError("path is required")
    root = run.root
    text = path.strip().replace("\\", "/")
    if text.startswith("~"):
        raise BadInputError(f"path {path!r} must be relative to the workspace")
    candidate = Path(text)
    if candidate.is_absolute():
        try:
            text = candidate.resolve().relative_to(root).as_posix()
        except ValueError:
            raise BadInputError(f"path {path!r} is outside the workspace") from None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        raise BadInputError(f"path {path!r} names the workspace itself")
    for part in parts:
        check_name(part)
    out = root.joinpath(*parts)
    if markdown and not out.suffix:
        out = out.with_suffix(".md")
    allowed = run.kwargs.get("_allowed_paths")
    if allowed is not None:
        allowed_paths = [root / str(a) for a in allowed] if isinstance(allowed, list) else []
        if not any(out == a or a in out.parents for a in allowed_paths):
            raise BadInputError(f"path {relative(run, out)!r} is outside what this job may touch")
    return out


def relative(run: JobRun, path: Path) -> str:
    try:
        return path.relative_to(run.root).as_posix()
    except ValueError:
        return path.as_posix()


def split_note(text: str) -> tuple[dict[str, Any], str]:
    """``(front matter, body)`` of a note (``{}`` and the whole text without valid front matter)."""
    match = _FENCE.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return meta, text[match.end() :].lstrip("\n")


def render_note(meta: dict[str, Any], body: str) -> str:
    """A note's text: ``---``, the front matter (sorted keys), ``---``, a blank line, the body, one newline."""
    body = body.strip("\n")
    if not meta:
        return body + "\n"
    dumped = yaml.safe_dump(meta, sort_keys=True, allow_unicode=True, default_flow_style=False).strip()
    return f"---\n{dumped}\n---\n\n{body}".strip() + "\n"


def read_note(path: Path) -> tuple[dict[str, Any], str]:
    return split_note(path.read_text(encoding="utf-8"))


def day_notes(run: JobRun, day: str) -> list[dict[str, Any]]:
    """The notes of ``<daily_dir>/<day>/`` (front matter plus ``path``), by path."""
    folder = run.root / run.folder("daily_dir") / day
    out = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        try:
            meta, _ = read_note(path)
        except (OSError, UnicodeDecodeError):
            continue
        out.append({**meta, "path": relative(run, path)})
    return out


def refresh_day_index(run: JobRun, day: str) -> dict[str, Any]:
    """Rewrite ``<daily_dir>/<day>.md``: front matter ``name`` (kept) and ``description`` (the count), one
    ``[[link]]`` line per note with its description."""
    notes = day_notes(run, day)
    index = run.root / run.folder("daily_dir") / f"{day}.md"
    meta: dict[str, Any] = {}
    if index.is_file():
        meta, _ = read_note(index)
    meta["name"] = meta.get("name") or day
    meta["description"] = f"{len(notes)} note(s) today." if notes else "No notes today."
    lines = [f"- [[{n['path']}]] {n.get('description', '')}".rstrip() for n in notes]
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(render_note(meta, "\n".join(lines) or "(none)"), encoding="utf-8")
    run.file_store.invalidate()
    return {"path": relative(run, index), "count": len(notes)}
