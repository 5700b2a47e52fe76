"""Import ReMe 0.3.x data into a workspace: ``import_reme(path, workspace)``.

Two sources, told apart by the path:

- **a file**: a vector-store dump (``dump_memory``), JSON or JSONL. Records are ReMe ``VectorNode`` dicts
  (``{vector_id, content, vector?, metadata: {memory_type, memory_target, when_to_use, ...}}``, where
  ``metadata["content"]``, when present, is the memory text and the top-level ``content`` the embedded
  ``when_to_use``), plain ``MemoryNode`` dicts, or the older ``{unique_id, workspace_id, ...}`` nodes. The file may
  hold one record, a list of records, or an object with one list of them (``{"nodes": [...]}``). Memories keep
  their ``memory_id`` (unless it belongs to a memory of another target: then the id of the text in its own
  target; a memory never moves) and land in ``user:<target>`` (personal, identity, summary, history), ``task:<target>``
  (procedural; the old ``task`` type too) or ``tool:<target>`` (tool). Vectors are not imported: every memory is
  encoded with the workspace's model.
- **a directory**: a ReMeLight working directory. ``MEMORY.md``, ``memory.md``, ``memory/*.md``, ``dialog/*.jsonl``
  and ``tool_result/*.txt`` are copied into the workspace (an existing file with other content is never
  overwritten: the copy goes to ``<name>.imported-<n>`` and counts as a conflict; identical files are skipped), then
  the Markdown is indexed (``Memory.sync_markdown``). A directory with none of these but with top-level ``*.json`` /
  ``*.jsonl`` files is read as a folder of dumps (ReMe's ``dump_memory`` writes ``<workspace_id>.jsonl``).

Everything is read and validated before anything is written: bad input raises ``BadInputError`` naming the record
(``file:line`` or ``file[index]``) and leaves the workspace as it was. Imported memories are written through
``reme.vector.explicit_write_policy`` (ReMe's add: always stored), each write decision logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reme.errors import BadInputError

if TYPE_CHECKING:
    from reme.memory import Memory
    from reme.retrieval.embedding import Encoder

__all__ = ["LIGHT_FILES", "import_reme", "read_dump", "record_to_item"]

log = logging.getLogger(__name__)

_USER_TYPES = frozenset({"personal", "identity", "summary", "history"})
_TYPE_KIND = {**{t: "user" for t in _USER_TYPES}, "procedural": "task", "task": "task", "tool": "tool"}
"""ReMe memory type -> target kind (``task`` is reme_ai 0.1/0.2's name of procedural memory)."""

_NODE_FIELDS = (
    "memory_id",
    "memory_type",
    "memory_target",
    "when_to_use",
    "content",
    "message_time",
    "ref_memory_id",
    "author",
    "score",
    "time_created",
    "time_modified",
)
_ID_KEYS = ("memory_id", "vector_id", "unique_id", "id")
_LIST_KEYS = ("nodes", "memories", "records", "items", "data")

LIGHT_FILES = ("MEMORY.md", "memory.md", "memory/*.md", "dialog/*.jsonl", "tool_result/*.txt")
"""What a ReMeLight working directory holds that is worth importing (paths relative to it)."""


# ----------------------------------------------------------------------------------------------- dump files
def read_dump(path: str | Path) -> list[tuple[str, Any]]:
    """The raw records of a dump file, each with where it came from (``file:line`` for JSONL, ``file[i]`` for
    JSON). A ``.jsonl`` file is read line by line; any other as JSON, else as JSON Lines. Raises
    ``BadInputError`` for an unreadable file or a line that is not JSON."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from None
    return read_dump_bytes(data, path)


def read_dump_bytes(raw: bytes, path: str | Path) -> list[tuple[str, Any]]:
    """``read_dump`` of a dump's bytes (a dump kept in the PostgreSQL store); ``path`` names it in messages and its
    suffix says JSON Lines."""
    path = Path(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path} is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        return []
    try:
        if path.suffix.lower() == ".jsonl":
            raise json.JSONDecodeError("JSON Lines", text, 0)
        data = json.loads(text)
    except RecursionError:
        raise BadInputError(f"{path.name}: the JSON is nested too deeply") from None
    except json.JSONDecodeError:
        lines = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                lines.append((f"{path.name}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{path.name}:{number}: not JSON ({exc.msg})") from None
            except RecursionError:
                raise BadInputError(f"{path.name}:{number}: the JSON is nested too deeply") from None
        return lines
    if isinstance(data, list):
        return [(f"{path.name}[{i}]", rec) for i, rec in enumerate(data)]
    if isinstance(data, Mapping):
        if "content" in data or "metadata" in data:
            return [(path.name, data)]
        lists = [k for k in _LIST_KEYS if isinstance(data.get(k), list)]
        if not lists:
            lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) == 1:
            key = lists[0]
            return [(f"{path.name}[{key}][{i}]", rec) for i, rec in enumerate(data[key])]
    raise BadInputError(f"{path.name}: expected a record, a list of records or an object holding one list of them")


def _text_field(fields: Mapping[str, Any], key: str, where: str) -> str:
    value = fields.get(key)
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and key != "content":
        return str(value)
    if not isinstance(value, str):
        raise BadInputError(f"{where}: {key} must be a string, got {type(value).__name__}")
    return value


def record_to_item(record: Any, where: str) -> dict[str, Any] | None:
    """A ``Memory.add_many`` item from one dump record, or ``None`` for a record that is skipped (a ``chunk`` of
    a Markdown file: those are rebuilt from the files). Raises ``BadInputError`` naming ``where``."""
    from reme.memory import check_time
    from reme.schema import normalize_target

    if not isinstance(record, Mapping):
        raise BadInputError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    meta = record.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise BadInputError(f"{where}: metadata must be an object")
    vector_node = any(k in record for k in ("vector_id", "unique_id")) or (
        "memory_type" not in record and "memory_type" in meta
    )
    if vector_node:  # VectorNode: the MemoryNode fields live in metadata
        fields = {k: meta[k] for k in _NODE_FIELDS if k in meta}
        fields.update({k: record[k] for k in _NODE_FIELDS if k not in fields and k != "content" and k in record})
        if not fields.get("content"):
            fields["content"] = record.get("content")
        extra = {k: v for k, v in meta.items() if k not in _NODE_FIELDS and k != "metadata"}
        nested = meta.get("metadata")
        if isinstance(nested, Mapping):
            extra = {**nested, **extra}
    else:  # MemoryNode dict
        fields = {k: record[k] for k in _NODE_FIELDS if k in record}
        extra = dict(meta)
    if "workspace_id" in record and not fields.get("memory_target"):
        fields["memory_target"] = record["workspace_id"]

    content = fields.get("content")
    if not isinstance(content, str) or not content.strip():
        raise BadInputError(
            f"{where}: no memory content: `reme import --from reme` reads ReMe 0.3.1.x dumps (MemoryNode or VectorNode"
            " records with a `content`); to add memories of your own from a file, use `reme add --file`"
        )
    memory_type = str(fields.get("memory_type") or "personal").lower()
    if memory_type == "chunk":
        return None
    kind = _TYPE_KIND.get(memory_type)
    if kind is None:
        raise BadInputError(f"{where}: unknown memory_type {memory_type!r}")
    if memory_type == "task":
        memory_type = "procedural"
    name = _text_field(fields, "memory_target", where).strip()
    if not name:
        raise BadInputError(f"{where}: no memory_target (the user, task or tool the memory belongs to)")
    target = name if name.split(":", 1)[0] in ("user", "task", "tool") and ":" in name else f"{kind}:{name}"
    try:
        target = normalize_target(target)
    except BadInputError as exc:
        raise BadInputError(f"{where}: {exc}") from None
    memory_id = next((record.get(k) for k in _ID_KEYS if isinstance(record.get(k), str) and record.get(k)), None)
    memory_id = fields.get("memory_id") or memory_id or hashlib.sha256(content.encode()).hexdigest()[:16]
    if not isinstance(memory_id, str):
        raise BadInputError(f"{where}: memory_id must be a string")
    message_time = _text_field(fields, "message_time", where)
    try:
        check_time(message_time)
    except BadInputError:  # ReMe never validated it: keep the text, out of the way of date arithmetic
        extra["message_time_raw"] = message_time
        message_time = ""
    score = fields.get("score")
    if score is None or score == "":
        score = 0.0
    if isinstance(score, str):
        try:
            score = float(score)
        except ValueError:
            raise BadInputError(f"{where}: score must be a number, got {score!r}") from None
    if isinstance(fields.get("time_modified"), str) and fields["time_modified"]:
        extra.setdefault("reme_time_modified", fields["time_modified"])
    item: dict[str, Any] = {
        "memory_id": memory_id,
        "memory_type": memory_type,
        "memory_target": target,
        "content": content,
        "when_to_use": _text_field(fields, "when_to_use", where),
        "message_time": message_time,
        "ref_memory_id": _text_field(fields, "ref_memory_id", where),
        "author": _text_field(fields, "author", where),
        "score": score,
        "metadata": extra,
    }
    created = _text_field(fields, "time_created", where)
    if created:
        item["time_created"] = created
    return item


def _plan_dumps(files: list[Path]) -> tuple[list[dict[str, Any]], int]:
    """Validated items of dump files (the last record of an id in a target wins; ReMe's ids are
    ``sha256(content)``, so one sentence of two users is one id in two targets: both are kept, and the second
    gets its own id when written) and how many records were skipped."""
    from reme.memory import build_node

    items: dict[tuple[str, str], dict[str, Any]] = {}
    skipped = 0
    for path in files:
        for where, record in read_dump(path):
            item = record_to_item(record, where)
            if item is None:
                skipped += 1
                continue
            try:
                build_node(item)
            except BadInputError as exc:
                raise BadInputError(f"{where}: {exc}") from None
            key = (item["memory_id"], str(item.get("memory_target") or ""))
            if key in items:
                skipped += 1
                log.info("%s: memory %s appears again; the later record wins", where, item["memory_id"])
                del items[key]  # keep file order of the winner
            items[key] = item
    return list(items.values()), skipped


# ---------------------------------------------------------------------------------------- ReMeLight folders
def _light_sources(root: Path) -> list[tuple[Path, str]]:
    """``(file, path relative to root)`` of the ReMeLight files under ``root`` (symlinks left out)."""
    out = []
    for pattern in LIGHT_FILES:
        for path in sorted(root.glob(pattern)):
            if path.is_file() and not path.is_symlink():
                out.append((path, path.relative_to(root).as_posix()))
    return out


def _is_light_dir(root: Path) -> bool:
    return any((root / name).is_file() for name in ("MEMORY.md", "memory.md")) or any(
        (root / name).is_dir() for name in ("memory", "dialog", "tool_result")
    )


def _validate_light_file(data: bytes, rel: str) -> None:
    if rel.endswith(".txt"):
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{rel} is not UTF-8 (byte {exc.start})") from None
    if rel.endswith(".jsonl"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{rel}:{number}: not JSON ({exc.msg})") from None
            except RecursionError:
                raise BadInputError(f"{rel}:{number}: the JSON is nested too deeply") from None
            if not isinstance(message, Mapping):
                raise BadInputError(f"{rel}:{number}: a dialog line must be a message object")


def _plan_copies(root: Path, dest_root: Path) -> tuple[list[tuple[Path, bytes]], dict[str, int]]:
    """The files to write (destination, bytes) and the counts, without writing anything."""
    writes: list[tuple[Path, bytes]] = []
    counts = {"files": 0, "conflicts": 0, "skipped": 0}
    for path, rel in _light_sources(root):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInputError(f"cannot read {rel}: {exc.strerror}") from None
        _validate_light_file(data, rel)
        dest = dest_root / rel
        if dest.resolve() == path.resolve() or (dest.is_file() and dest.read_bytes() == data):
            counts["skipped"] += 1
            continue
        if dest.exists():
            n = 1
            alt: Path | None = dest.with_name(f"{dest.name}.imported-1")
            while alt is not None and alt.exists():
                if alt.is_file() and alt.read_bytes() == data:  # imported before
                    alt = None
                    break
                n += 1
                alt = dest.with_name(f"{dest.name}.imported-{n}")
            if alt is None:
                counts["skipped"] += 1
                continue
            log.warning("%s exists with other content: importing as %s", rel, alt.name)
            counts["conflicts"] += 1
            dest = alt
        writes.append((dest, data))
        counts["files"] += 1
    return writes, counts


def _write_file(dest: Path, data: bytes) -> None:
    """Write atomically: a temporary file beside ``dest``, then a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


# ------------------------------------------------------------------------------------------------ entry point
@contextlib.contextmanager
def opened_memory(workspace: str | Path | Memory, encoder: Encoder | None) -> Iterator[Memory]:
    from reme.memory import Memory

    if isinstance(workspace, Memory):
        yield workspace
        return
    memory = Memory(workspace, encoder=encoder)
    try:
        yield memory
    finally:
        memory.close()


def write_imported(items: list[dict[str, Any]], workspace: str | Path | Memory, encoder: Encoder | None) -> int:
    """Write checked import items through ReMe's add (always stored, each write decision logged); an id taken
    from another store that another target holds here gets the id of its text instead. Returns how many."""
    from reme.vector import explicit_write_policy

    if not items:
        return 0
    with opened_memory(workspace, encoder) as memory:
        return len(memory.add_many(items, foreign_ids="new_id", policy=explicit_write_policy()))


def import_reme(path: str | Path, workspace: str | Path | Memory, *, encoder: Encoder | None = None) -> dict[str, int]:
    """Import ReMe 0.3.x data (a ``dump_memory`` file, or a ReMeLight working directory; see the module
    docstring) into ``workspace`` (a directory, or an open ``Memory``). ``encoder`` overrides the workspace's
    encoder (tests).

    Returns counts: ``memories`` written (dump records, or Markdown chunks indexed), ``files`` copied,
    ``conflicts`` (files copied under ``<name>.imported-<n>``), ``skipped`` (repeated ids and Markdown chunks
    in a dump; files already present with the same content)."""
    from reme.memory import Memory
    from reme.vector import explicit_write_policy

    source = Path(path).expanduser()
    if not source.exists():
        raise BadInputError(f"{source} does not exist")
    counts = {"memories": 0, "files": 0, "conflicts": 0, "skipped": 0}
    if source.is_file() or not _is_light_dir(source):
        if source.is_file():
            files = [source]
        else:
            files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl"))
            if not files:
                raise BadInputError(
                    f"{source} is neither a ReMe dump file nor a ReMeLight working directory "
                    f"({', '.join(LIGHT_FILES)}) nor a folder of dump files"
                )
        items, counts["skipped"] = _plan_dumps(files)
        counts["memories"] = write_imported(items, workspace, encoder)
        return counts

    dest_root = workspace.workspace.root if isinstance(workspace, Memory) else Path(workspace).expanduser()
    writes, copied = _plan_copies(source, dest_root)
    counts.update(copied)
    with opened_memory(workspace, encoder) as memory:
        for dest, data in writes:
            _write_file(dest, data)
        counts["memories"] = memory.sync_markdown(write_policy=explicit_write_policy())["chunks_added"]
    return counts
