"""Tool-result compaction (ReMe 0.3.1.x's ``ToolResultCompactor``): large tool outputs leave the context, the full
text goes to ``tool_result/<uuid4 hex>.txt``, and the message keeps a head with a notice saying where the rest is.

The rule is byte and recency based, never content based:

- the trailing run of consecutive tool-result messages (at least ``recent_n`` messages) is *recent* and may keep
  ``recent_max_bytes`` (100 KiB); every older tool result keeps ``old_max_bytes`` (3000);
- a text within ``max_bytes + 100`` bytes is left alone;
- a longer one is saved whole to a new file and replaced by its first lines that fit in ``max_bytes`` (cut at a
  line boundary, never inside a UTF-8 character) followed by the notice::

      <head>

      <<<TRUNCATED>>>

      File: /abs/path/tool_result/<uuid4 hex>.txt
      Content from start_line=1, next N bytes.
      total_lines=Z
      Use start_line=Y to continue.

  where ``N`` is the size in bytes of the head shown, ``Z`` the number of lines of the full text
  (``text.count("\\n") + 1``) and ``Y`` the first line not shown (a first line longer than ``max_bytes`` is shown
  in part and counts as shown, so ``Y`` always moves forward);
- a text that already carries the notice (it was truncated as a recent result and has now aged) is cut again to
  the new limit, keeping its file, start line and line count: no second file is written.

``read_tool_result`` reads a saved file back from any line, with the same notice when it is cut again.
``clean_expired_tool_results`` deletes saved files older than the retention period.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reme.errors import BadInputError, NotFoundError

from .messages import TRUNCATION_MARKER, is_msg_like, is_tool_result_message

__all__ = [
    "DEFAULT_OLD_MAX_BYTES",
    "DEFAULT_RECENT_MAX_BYTES",
    "SLACK_BYTES",
    "TRUNCATION_MARKER",
    "TruncationNotice",
    "clean_expired_tool_results",
    "compact_tool_results",
    "cut_head",
    "parse_notice",
    "read_tool_result",
    "truncate_tool_text",
]

log = logging.getLogger(__name__)

DEFAULT_OLD_MAX_BYTES = 3000
"""Bytes an older tool result keeps (ReMe's ``old_max_bytes``)."""

DEFAULT_RECENT_MAX_BYTES = 100 * 1024
"""Bytes a recent tool result keeps (ReMe's ``recent_max_bytes``)."""

SLACK_BYTES = 100
"""A text up to ``max_bytes + SLACK_BYTES`` bytes is not truncated."""

_NOTICE_RE = re.compile(
    re.escape(TRUNCATION_MARKER)
    + r"\n\nFile: (?P<path>[^\n]*)\nContent from start_line=(?P<start>\d+), next (?P<shown>\d+) bytes\."
    r"\ntotal_lines=(?P<total>\d+)(?:\nUse start_line=(?P<next>\d+) to continue\.)?"
)


@dataclass(frozen=True)
class TruncationNotice:
    """What a ``<<<TRUNCATED>>>`` notice says."""

    path: str
    """The file holding the full text."""
    start_line: int
    """First line (1-based) of the text shown above the notice."""
    shown_bytes: int
    """UTF-8 bytes of the text shown above the notice."""
    total_lines: int
    """Lines of the full text."""
    next_line: int | None
    """The first line not shown (``None`` when the notice has no ``Use start_line=...`` line)."""

    def render(self) -> str:
        """The notice text, from ``<<<TRUNCATED>>>`` on (the two newlines before it are not included)."""
        text = (
            f"{TRUNCATION_MARKER}\n\nFile: {self.path}\n"
            f"Content from start_line={self.start_line}, next {self.shown_bytes} bytes.\n"
            f"total_lines={self.total_lines}"
        )
        return text if self.next_line is None else text + f"\nUse start_line={self.next_line} to continue."


def parse_notice(text: str) -> tuple[str, TruncationNotice] | None:
    """``(text shown, notice)`` of a truncated text, or ``None`` when it carries no notice in this format."""
    at = text.find(TRUNCATION_MARKER)
    if at < 0:
        return None
    match = _NOTICE_RE.match(text, at)
    if match is None:
        return None
    nxt = match.group("next")
    notice = TruncationNotice(
        path=match.group("path"),
        start_line=int(match.group("start")),
        shown_bytes=int(match.group("shown")),
        total_lines=int(match.group("total")),
        next_line=None if nxt is None else int(nxt),
    )
    shown = text[:at]
    return shown.removesuffix("\n\n"), notice


def cut_head(text: str, max_bytes: int) -> tuple[str, int]:
    """``(head, lines shown)``: the longest run of whole lines of ``text`` within ``max_bytes`` UTF-8 bytes
    (without the newline that ends it). When even the first line does not fit, its longest prefix that fits,
    never splitting a character; it counts as one line shown."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text, text.count("\n") + 1
    window = raw[:max_bytes].decode("utf-8", errors="ignore")  # drops only a character cut in two at the end
    if raw[max_bytes : max_bytes + 1] == b"\n":  # the window ends exactly at the end of a line
        return window, window.count("\n") + 1
    cut = window.rfind("\n")
    if cut < 0:
        return window, 1
    head = window[:cut]
    return head, head.count("\n") + 1


def _with_notice(head: str, notice: TruncationNotice) -> str:
    return f"{head}\n\n{notice.render()}"


def _check_bytes(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadInputError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def truncate_tool_text(text: str, max_bytes: int, tool_result_dir: str | Path) -> tuple[str, Path | None]:
    """``(new text, file written or None)`` for one tool-result text under a ``max_bytes`` limit (the rules in
    the module docstring). Writes only a new ``<uuid4 hex>.txt`` inside ``tool_result_dir``."""
    _check_bytes("max_bytes", max_bytes)
    if not text:
        return text, None
    parsed = parse_notice(text) if TRUNCATION_MARKER in text else None
    if TRUNCATION_MARKER in text and parsed is None:
        log.debug("tool result holds %s without a notice in ReMeLight's format; left as it is", TRUNCATION_MARKER)
        return text, None
    if parsed is not None:  # two-phase: cut the shown part again, same file
        shown, old = parsed
        if len(shown.encode("utf-8")) <= max_bytes + SLACK_BYTES:
            return text, None
        head, lines = cut_head(shown, max_bytes)
        notice = TruncationNotice(
            path=old.path,
            start_line=old.start_line,
            shown_bytes=len(head.encode("utf-8")),
            total_lines=old.total_lines,
            next_line=old.start_line + lines,
        )
        return _with_notice(head, notice), None
    if len(text.encode("utf-8")) <= max_bytes + SLACK_BYTES:
        return text, None
    directory = Path(tool_result_dir).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.txt"
    with open(path, "x", encoding="utf-8", newline="") as fh:  # "x": never overwrite anything
        fh.write(text)
    head, lines = cut_head(text, max_bytes)
    notice = TruncationNotice(
        path=str(path),
        start_line=1,
        shown_bytes=len(head.encode("utf-8")),
        total_lines=text.count("\n") + 1,
        next_line=1 + lines,
    )
    return _with_notice(head, notice), path


def _text_slots(message: Any, index: int) -> Iterator[tuple[MutableMapping[str, Any], str]]:
    """``(container, key)`` of every tool-result text of a message: the ``output`` of a ``tool_result`` block (or
    the ``text`` of its text parts), the ``content`` of an OpenAI ``role: "tool"`` dict (or its text parts)."""
    if isinstance(message, Mapping):
        content = message.get("content")
        if message.get("role") == "tool":
            if isinstance(content, str):
                yield _mutable(message, index), "content"
            elif isinstance(content, list):
                yield from _text_parts(content, index)
            return
    elif is_msg_like(message):
        content = message.content
    else:
        raise BadInputError(f"message {index}: expected an AgentScope Msg or a dict, got {type(message).__name__}")
    if not isinstance(content, list):
        return
    for block in content:
        if not isinstance(block, Mapping) or block.get("type") != "tool_result" or not block.get("output"):
            continue
        output = block["output"]
        if isinstance(output, str):
            yield _mutable(block, index), "output"
        elif isinstance(output, list):
            yield from _text_parts(output, index)


def _text_parts(parts: list[Any], index: int) -> Iterator[tuple[MutableMapping[str, Any], str]]:
    for part in parts:
        if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
            yield _mutable(part, index), "text"


def _mutable(container: Mapping[str, Any], index: int) -> MutableMapping[str, Any]:
    if not isinstance(container, MutableMapping):
        raise BadInputError(f"message {index}: a tool result in a read-only {type(container).__name__}")
    return container


def compact_tool_results(
    messages: list[Any],
    tool_result_dir: str | Path,
    old_max_bytes: int = DEFAULT_OLD_MAX_BYTES,
    recent_max_bytes: int = DEFAULT_RECENT_MAX_BYTES,
    retention_days: float = 3,
    recent_n: int = 1,
) -> list[Any]:
    """Truncate the large tool results of ``messages`` in place (AgentScope ``tool_result`` blocks, whether in a
    ``Msg`` or a dict, and OpenAI ``role: "tool"`` dicts) and return the same list; then delete saved files
    older than ``retention_days``.

    On any error (a malformed message, an unwritable directory, a bad limit) the error is logged, the files this
    call wrote are removed, and ``messages`` is returned unchanged: every new text is computed before the first
    one is stored."""
    written: list[Path] = []
    try:
        _check_bytes("old_max_bytes", old_max_bytes)
        _check_bytes("recent_max_bytes", recent_max_bytes)
        if isinstance(recent_n, bool) or not isinstance(recent_n, int) or recent_n < 0:
            raise BadInputError(f"recent_n must be an integer >= 0, got {recent_n!r}")
        items = list(messages)
        trailing = 0
        for message in reversed(items):
            if not is_tool_result_message(message):
                break
            trailing += 1
        split = max(0, len(items) - max(trailing, recent_n))
        edits: list[tuple[MutableMapping[str, Any], str, str]] = []
        for index, message in enumerate(items):
            limit = recent_max_bytes if index >= split else old_max_bytes
            for container, key in list(_text_slots(message, index)):
                text = container[key]
                new, path = truncate_tool_text(text, limit, tool_result_dir)
                if path is not None:
                    written.append(path)
                if new != text:
                    edits.append((container, key, new))
        for container, key, new in edits:
            container[key] = new
    except Exception as exc:
        log.error("compact_tool_results failed, the messages are left as they were: %s", exc)
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        return messages
    if edits:
        log.info("compact_tool_results: truncated %d tool-result texts, %d saved", len(edits), len(written))
    try:
        clean_expired_tool_results(tool_result_dir, retention_days)
    except Exception as exc:
        log.warning("cleaning expired tool results failed: %s", exc)
    return messages


def clean_expired_tool_results(tool_result_dir: str | Path, retention_days: float = 3) -> int:
    """Delete the ``*.txt`` files directly in ``tool_result_dir`` whose modification time is more than
    ``retention_days`` days ago; returns how many were deleted (0 when the folder does not exist). Links and
    anything but regular files are left alone."""
    ok = isinstance(retention_days, int | float) and not isinstance(retention_days, bool)
    if not ok or not math.isfinite(retention_days) or retention_days < 0:
        raise BadInputError(f"retention_days must be a number >= 0, got {retention_days!r}")
    directory = Path(tool_result_dir).expanduser()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - float(retention_days) * 86400.0
    deleted = 0
    for path in directory.glob("*.txt"):
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue  # removed by someone else meanwhile
        except OSError as exc:
            log.warning("cannot delete expired tool result %s: %s", path, exc)
    if deleted:
        log.info("deleted %d expired tool results from %s", deleted, directory)
    return deleted


def read_tool_result(
    path: str | Path,
    start_line: int = 1,
    max_bytes: int = DEFAULT_RECENT_MAX_BYTES,
    tool_result_dir: str | Path | None = None,
) -> str:
    """The saved text from line ``start_line`` (1-based) on: whole lines within ``max_bytes`` bytes, followed by
    a notice (same format, with ``Use start_line=Y to continue.``) when more remains.

    With ``tool_result_dir``, ``path`` may be a bare file name, and a path that resolves outside that folder is
    refused. ``NotFoundError`` for a missing file, ``BadInputError`` for a bad line or limit."""
    _check_bytes("max_bytes", max_bytes)
    if isinstance(start_line, bool) or not isinstance(start_line, int) or start_line < 1:
        raise BadInputError(f"start_line must be an integer >= 1, got {start_line!r}")
    file = Path(path).expanduser()
    if tool_result_dir is not None:
        root = Path(tool_result_dir).expanduser().resolve()
        file = (root / file).resolve()
        if not file.is_relative_to(root):
            raise BadInputError(f"{path} is outside the tool-result folder {root}")
    if not file.is_file():
        raise NotFoundError(f"no saved tool result at {file}")
    with open(file, encoding="utf-8", errors="replace", newline="") as fh:
        text = fh.read()
    lines = text.split("\n")
    if start_line > len(lines):
        raise BadInputError(f"start_line={start_line} is past the end of {file} ({len(lines)} lines)")
    rest = "\n".join(lines[start_line - 1 :])
    if len(rest.encode("utf-8")) <= max_bytes:
        return rest
    head, shown = cut_head(rest, max_bytes)
    notice = TruncationNotice(
        path=str(file),
        start_line=start_line,
        shown_bytes=len(head.encode("utf-8")),
        total_lines=len(lines),
        next_line=start_line + shown,
    )
    return _with_notice(head, notice)
