"""Helpers shared by the dataset loaders: reading a JSON list from disk, format detection, value coercion."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reme.errors import DatasetError
from reme.schema import DatasetReport, Episode

FORMATS = ("locomo", "longmemeval")
"""The dataset formats the loaders read (the synthetic generator writes ``locomo``)."""

_SIGNATURES = {
    "locomo": "items with 'conversation' and 'qa'",
    "longmemeval": "items with 'haystack_sessions'",
}


def show_path(path: str | os.PathLike[str]) -> str:
    """A path as it appears in one-line messages (control characters escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)


def read_json_items(path: str | os.PathLike[str]) -> list[Any]:
    """Read a dataset file that must hold a non-empty JSON list.

    Raises :class:`DatasetError` with a one-line message for a missing file, a directory, an unreadable file,
    invalid UTF-8, invalid JSON (with line and column), a top level that is not a list, or an empty list.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DatasetError(f"dataset path must be a string or path, got {type(path).__name__}")
    file = Path(path)
    where = show_path(file)
    if not file.exists():
        raise DatasetError(f"dataset file not found: {where}")
    if file.is_dir():
        raise DatasetError(f"dataset path is a directory, not a JSON file: {where}")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read dataset file {where}: {exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset file {where} is not valid UTF-8 (bad byte at offset {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"dataset file {where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise DatasetError(f"dataset file {where} is not usable JSON: nested too deeply") from None
    if not isinstance(data, list):
        raise DatasetError(f"dataset file {where} must hold a JSON list of items, not a JSON {json_kind(data)}")
    if not data:
        raise DatasetError(f"dataset file {where} holds an empty list: no items to load")
    return data


def json_kind(value: Any) -> str:
    """The JSON name of a parsed value's type (``object``, ``array``, ``string``...)."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else type(value).__name__


def item_format(item: Any) -> str | None:
    """The format one item looks like: ``locomo``, ``longmemeval`` or ``None``."""
    if not isinstance(item, dict):
        return None
    if "conversation" in item and "qa" in item:
        return "locomo"
    if "haystack_sessions" in item:
        return "longmemeval"
    return None


def detect_format(items: list[Any], path: str | os.PathLike[str] = "<data>") -> str:
    """The format of a list of items, judged by content; :class:`DatasetError` when none or both match."""
    found = {fmt for fmt in map(item_format, items) if fmt}
    where = show_path(path)
    if not found:
        raise DatasetError(
            f"cannot tell the format of {where}: no item has 'conversation' and 'qa' (LoCoMo) "
            f"or 'haystack_sessions' (LongMemEval)"
        )
    if len(found) > 1:
        raise DatasetError(f"dataset file {where} mixes LoCoMo and LongMemEval items")
    return found.pop()


def check_format(items: list[Any], expected: str, path: str | os.PathLike[str] = "<data>") -> None:
    """Raise :class:`DatasetError` unless the items' content matches ``expected``."""
    where = show_path(path)
    found = {fmt for fmt in map(item_format, items) if fmt}
    if expected not in found:
        if found:
            other = ", ".join(sorted(found))
            raise DatasetError(f"dataset file {where} looks like {other}, not {expected}")
        raise DatasetError(f"dataset file {where} is not {expected}: it has no {_SIGNATURES[expected]}")
    if len(found) > 1:
        raise DatasetError(f"dataset file {where} mixes LoCoMo and LongMemEval items")


def as_text(value: Any) -> str:
    """Stringify an answer-like value: numbers become their decimal text, lists are joined, ``None`` is empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(part) for part in value)
    return str(value)


def clip(value: Any, limit: int = 60) -> str:
    """A short ``repr`` of a bad value for a warning line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def collect_episodes(
    items: list[Any],
    parse_item: Callable[[Any, int, list[str]], Episode | None],
    id_field: str,
    fmt: str,
    path: str,
) -> tuple[list[Episode], DatasetReport]:
    """Parse every item with ``parse_item``, skip unusable ones and duplicate ids, and report what was skipped."""
    warnings: list[str] = []
    episodes: list[Episode] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        episode = parse_item(item, position, warnings)
        if episode is None:
            continue
        if episode.episode_id in seen:
            warnings.append(f"item {position}: duplicate {id_field} {episode.episode_id!r}; skipped")
            continue
        seen.add(episode.episode_id)
        episodes.append(episode)
    report = DatasetReport(
        path=path,
        format=fmt,
        episodes=len(episodes),
        questions=sum(len(episode.questions) for episode in episodes),
        warnings=warnings,
    )
    return episodes, report
