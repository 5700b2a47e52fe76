"""The file jobs of ReMe 0.4.x: read, write, edit, daily_write, daily_list, daily_reindex, the front-matter jobs,
stat, list, move, delete, read_image. Answers and metadata follow ReMe's (``docs/migrating-from-reme.md``).

Reading a note that a recent ``search`` returned is an outcome: the file store credits that search (and the write
that made the note) with a ``used`` reward (``LocalFileStore.note_read``).
"""

from __future__ import annotations

import base64
import shutil
from typing import Any

from reme.errors import BadInputError
from reme.jobs.notes import check_name, day_notes, read_note, refresh_day_index, relative, render_note, resolve
from reme.jobs.steps import JobRun

__all__ = ["STEPS"]

MAX_READ_BYTES = 50 * 1024
RESERVED = ("name", "description")


def _day(run: JobRun, value: Any) -> str:
    import datetime as dt

    day = str(value or "").strip() or run.today()
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        raise BadInputError("date must be YYYY-MM-DD") from None
    return day


def _wrote(run: JobRun, path: str) -> None:
    """Record a note this run wrote, and tell the index its tree changed."""
    run.state.setdefault("written", []).append(path)
    run.file_store.invalidate()


async def read_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    if not path.is_file():
        return run.fail(f"file {path} does not exist")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = len(lines)
    start = int(run.arg("start_line", 1) or 1)
    end = int(run.arg("end_line", total) or total)
    if start < 1 or (total and start > total):
        return run.fail(f"start_line {start} exceeds file length ({total} lines)")
    picked: list[str] = []
    size, last = 0, start - 1
    for number in range(start, min(end, total) + 1):
        line = lines[number - 1]
        if size + len(line.encode()) + 1 > MAX_READ_BYTES and picked:
            break
        picked.append(line)
        size += len(line.encode()) + 1
        last = number
    answer = "\n".join(picked)
    if last < min(end, total):
        answer += (f"\n<<TRUNCATION_NOTICE>>\nOutput truncated at {MAX_READ_BYTES} bytes; continue with read "
                   f"path={relative(run, path)} start_line={last + 1}")  # fmt: skip
    run.response.answer = answer
    run.response.metadata.update(path=relative(run, path), start_line=start, end_line=last, total_lines=total)
    store = run.file_store
    if hasattr(store, "note_read"):
        run.response.metadata["rewarded"] = store.note_read(relative(run, path))


async def write_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    content = run.arg("content")
    if not isinstance(content, str):
        raise BadInputError("content is required")
    existed = path.exists()
    if path.suffix == ".md":
        meta = {k: v for k, v in dict(run.arg("metadata", {}) or {}).items() if k not in RESERVED and v is not None}
        for key in RESERVED:
            if run.arg(key):
                meta[key] = str(run.arg(key))
        text = render_note(meta, content)
    else:
        text = content
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    answer = f"Wrote {path} ({len(text.encode())} bytes)"
    if existed:
        answer += " [system notice: target already existed and was overwritten]"
    run.response.answer = answer
    run.response.metadata.update(path=relative(run, path), overwritten=existed)
    _wrote(run, relative(run, path))


async def edit_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    old, new = run.arg("old", ""), run.arg("new", "")
    if not isinstance(old, str) or not old:
        raise BadInputError("old must be a non-empty string")
    if not path.is_file():
        return run.fail(f"file {path} does not exist")
    meta, body = read_note(path)
    count = body.count(old)
    if not count:
        return run.fail(f"old text not found in {path}")
    path.write_text(render_note(meta, body.replace(old, str(new))), encoding="utf-8")
    run.response.answer = f"Replaced {count} occurrence(s) in {path}"
    run.response.metadata.update(path=relative(run, path), replaced=count)
    _wrote(run, relative(run, path))


def source_conversation(run: JobRun, session_id: str) -> str:
    return f"[[{run.folder('session_dir')}/dialog/{session_id}.jsonl]]"


async def daily_write_step(run: JobRun, **_: Any) -> None:
    for key in ("name", "description", "session_id", "content"):
        if not isinstance(run.arg(key), str) or not run.arg(key).strip():
            raise BadInputError(f"{key} is required")
    name = check_name(run.arg("name").strip(), "name")
    session_id = check_name(run.arg("session_id").strip(), "session_id")
    day = _day(run, run.arg("date"))
    rel = f"{run.folder('daily_dir')}/{day}/{name}.md"
    extra = {k: v for k, v in dict(run.arg("metadata", {}) or {}).items() if k not in RESERVED}
    meta = {**extra, "session_id": session_id}
    if "source_resource" not in extra:  # a note from a conversation (auto_resource's name their file instead)
        meta["source_conversation"] = source_conversation(run, session_id)
    inner = JobRun(run.app, "write", {**run.kwargs, "path": rel, "metadata": meta})
    await write_step(inner)
    run.response.answer = inner.response.answer
    _wrote(run, rel)
    run.response.metadata.update(
        date=day, path=rel, name=run.arg("name"), description=run.arg("description"), session_id=session_id,
        source_conversation=meta.get("source_conversation"), index=refresh_day_index(run, day),
    )  # fmt: skip


async def daily_list_step(run: JobRun, **_: Any) -> None:
    day = _day(run, run.arg("date"))
    notes = day_notes(run, day)
    lines = []
    for note in notes:
        fields = " ".join(f"{k}: {v}" for k, v in note.items() if k != "path")
        lines.append(f"- path: {note['path']} {fields}".rstrip())
    run.response.answer = "\n".join(lines) if lines else f"No notes found for {day}"
    run.response.metadata.update(date=day, count=len(notes), notes=notes)


async def daily_reindex_step(run: JobRun, **_: Any) -> None:
    day = _day(run, run.arg("date"))
    index = refresh_day_index(run, day)
    run.response.answer = f"Reindexed {index['path']} ({index['count']} note(s))"
    run.response.metadata.update(date=day, index=index)


async def frontmatter_read_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    meta = read_note(path)[0] if path.is_file() else {}
    run.response.answer = str(meta) if path.is_file() else f"Error: file {path} does not exist"
    run.response.success = path.is_file()
    run.response.metadata.update(path=relative(run, path), exists=path.is_file(), frontmatter=meta)


async def frontmatter_update_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    updates = run.arg("metadata")
    if not isinstance(updates, dict):
        raise BadInputError("metadata must be an object")
    if not path.is_file():
        return run.fail(f"file {path} does not exist")
    meta, body = read_note(path)
    meta.update(updates)
    path.write_text(render_note(meta, body), encoding="utf-8")
    run.response.answer = f"Updated {len(updates)} key(s) on {relative(run, path)}"
    run.response.metadata.update(path=relative(run, path), frontmatter=meta)
    _wrote(run, relative(run, path))


async def frontmatter_delete_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"))
    keys = run.arg("keys")
    if not isinstance(keys, list) or not keys:
        raise BadInputError("keys must be a non-empty list")
    if not path.is_file():
        return run.fail(f"file {path} does not exist")
    meta, body = read_note(path)
    removed = [k for k in keys if meta.pop(k, None) is not None]
    path.write_text(render_note(meta, body), encoding="utf-8")
    _wrote(run, relative(run, path))
    run.response.answer = f"Removed {len(removed)} key(s) from {relative(run, path)}"
    run.response.metadata.update(path=relative(run, path), removed=removed)


def _item(run: JobRun, path: Any) -> dict[str, Any]:
    st = path.stat()
    return {"path": relative(run, path), "type": "dir" if path.is_dir() else "file", "size": st.st_size,
            "modified": st.st_mtime}  # fmt: skip


async def stat_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"), markdown=False)
    if not path.exists():
        return run.fail(f"file {path} does not exist")
    item = _item(run, path)
    run.response.answer = str(item)
    run.response.metadata.update(items=[item], count=1)


async def list_step(run: JobRun, **_: Any) -> None:
    given = str(run.arg("path", "") or "")
    folder = resolve(run, given, markdown=False) if given.strip() else run.root
    if not folder.is_dir():
        return run.fail(f"folder {folder} does not exist")
    pattern = folder.rglob("*") if run.arg("recursive", False) else folder.iterdir()
    limit = int(run.arg("limit", 100) or 100)
    items = [_item(run, p) for p in sorted(pattern) if not p.name.startswith(".")][:limit]
    run.response.answer = "\n".join(i["path"] + ("/" if i["type"] == "dir" else "") for i in items)
    run.response.metadata.update(items=items, count=len(items))


async def move_step(run: JobRun, **_: Any) -> None:
    src, dst = resolve(run, run.arg("src_path")), resolve(run, run.arg("dst_path"))
    if not src.exists():
        return run.fail(f"file {src} does not exist")
    if dst.exists() and not run.arg("overwrite", False):
        return run.fail(f"target {dst} exists (overwrite=false)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
    retargeted = 0
    if run.arg("retarget", True):
        old, new = relative(run, src), relative(run, dst)
        for folder in (run.folder("daily_dir"), run.folder("digest_dir")):
            for note in (run.root / folder).rglob("*.md"):
                text = note.read_text(encoding="utf-8")
                if f"[[{old}" in text:
                    note.write_text(text.replace(f"[[{old}", f"[[{new}"), encoding="utf-8")
                    retargeted += 1
    run.response.answer = f"Moved {relative(run, src)} → {relative(run, dst)}"
    run.response.metadata.update(src_path=relative(run, src), dst_path=relative(run, dst), retargeted=retargeted)
    _wrote(run, relative(run, dst))


async def delete_step(run: JobRun, **_: Any) -> None:
    path = resolve(run, run.arg("path"), markdown=False)
    if not path.exists():
        path = resolve(run, run.arg("path"))
    if not path.exists():
        return run.fail(f"file {path} does not exist")
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    _wrote(run, relative(run, path))
    run.response.answer = f"Deleted {relative(run, path)}"
    run.response.metadata.update(path=relative(run, path))


async def read_image_step(run: JobRun, max_bytes: int = 5242880, **_: Any) -> None:
    path = resolve(run, run.arg("path"), markdown=False)
    if not path.is_file():
        return run.fail(f"file {path} does not exist")
    if path.stat().st_size > int(max_bytes):
        return run.fail(f"image {path} is larger than {max_bytes} bytes")
    run.response.answer = base64.b64encode(path.read_bytes()).decode()
    run.response.metadata.update(path=relative(run, path), bytes=path.stat().st_size)


STEPS = {
    "read_step": read_step,
    "write_step": write_step,
    "edit_step": edit_step,
    "daily_write_step": daily_write_step,
    "daily_list_step": daily_list_step,
    "daily_reindex_step": daily_reindex_step,
    "frontmatter_read_step": frontmatter_read_step,
    "frontmatter_update_step": frontmatter_update_step,
    "frontmatter_delete_step": frontmatter_delete_step,
    "stat_step": stat_step,
    "list_step": list_step,
    "move_step": move_step,
    "delete_step": delete_step,
    "read_image_step": read_image_step,
}
