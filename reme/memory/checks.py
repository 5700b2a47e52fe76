"""Input checks of ``Memory``'s public methods: each raises ``BadInputError`` naming the problem.

``build_node`` turns one add request into a validated ``MemoryNode`` (also used by the ReMe face, the importers,
the CLI and the service); the others check one argument each (a time, metadata, an id, a search's limit and
``min_score``, a finite number).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from reme.errors import BadInputError
from reme.schema import MemoryNode, check_text, json_problem, make_memory_id, normalize_target, utc_now

__all__ = [
    "MAX_LIMIT",
    "build_node",
    "check_filters",
    "check_id",
    "check_limit",
    "check_metadata",
    "check_min_score",
    "check_time",
    "finite",
]

MAX_LIMIT = 1000
"""The most hits one search returns."""


def check_time(value: str | None) -> str:
    """An ISO 8601 date or datetime, or empty."""
    if not value:
        return ""
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadInputError(f"invalid time {value!r}: use ISO 8601, e.g. 2024-05-08 or 2024-05-08T13:56:00") from None
    return value


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A JSON object (a copy), ``{}`` for ``None``."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise BadInputError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    problem = json_problem(metadata)
    if problem is not None:
        raise BadInputError(f"metadata {problem}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"metadata is not JSON-serialisable: {exc}") from None
    return dict(metadata)


def build_node(item: MemoryNode | Mapping[str, Any] | str, target: str | None = None, id_key: str = "") -> MemoryNode:
    """Validate one add request (a text, a mapping with ``content`` or ``text``, or a node) into a node with its
    id; raises ``BadInputError`` naming the problem. ``target`` applies when the item names none; ``id_key`` is the
    workspace's key of derived ids (``make_memory_id``)."""
    if isinstance(item, MemoryNode):
        fields = item.model_dump()
    elif isinstance(item, str):
        fields = {"content": item}
    elif isinstance(item, Mapping):
        fields = dict(item)
        if "text" in fields and "content" not in fields:
            fields["content"] = fields.pop("text")
        if "target" in fields:
            fields["memory_target"] = fields.pop("target")
        if "time" in fields:
            fields["message_time"] = fields.pop("time")
    else:
        raise BadInputError(f"a memory must be a string, a mapping or a MemoryNode, got {type(item).__name__}")
    fields["content"] = check_text(fields.get("content"), "memory text")
    if fields.get("when_to_use"):
        fields["when_to_use"] = check_text(fields["when_to_use"], "when_to_use")
    chosen = fields.get("memory_target") if fields.get("memory_target") not in (None, "") else target
    fields["memory_target"] = normalize_target(chosen)
    fields["message_time"] = check_time(fields.get("message_time") or "")
    fields["metadata"] = check_metadata(fields.get("metadata"))
    score = fields.get("score", 0.0)
    if isinstance(score, bool) or not isinstance(score, int | float) or not finite(score):
        raise BadInputError(f"score must be a finite number, got {score!r}")
    if not fields.get("memory_id"):
        fields["memory_id"] = make_memory_id(fields["content"], fields["memory_target"], id_key)
    elif not isinstance(fields["memory_id"], str) or len(fields["memory_id"]) > 256:
        raise BadInputError("memory_id must be a string of at most 256 characters")
    fields.setdefault("time_created", utc_now())
    fields["time_modified"] = utc_now()
    try:
        return MemoryNode.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadInputError(f"invalid memory field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def finite(value: float) -> bool:
    """Whether ``value`` is a finite float (ints too large for a float are not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_id(name: str, value: Any) -> None:
    """An id must be a non-empty string of encodable text (no lone surrogates, no NUL), at most 256 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > 256 or "\x00" in value:
        raise BadInputError(f"{name} must be a non-empty string of at most 256 characters, got {value!r:.80}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInputError(f"{name} is not valid text (a lone surrogate): {value!r:.80}") from None


def check_limit(limit: Any) -> int:
    """A search's number of hits: an integer in ``[1, MAX_LIMIT]``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadInputError(f"limit must be an integer in [1, {MAX_LIMIT}], got {limit!r}")
    return limit


FilterValue = str | int | float | bool


def check_filters(filters: Any) -> dict[str, list[FilterValue]] | None:
    """A search's metadata filter: ``{key: value}`` or ``{key: [value, ...]}`` (a memory passes when its metadata's
    ``key`` equals the value, or one of the list; every key must pass). ``None`` or ``{}``: no filter. Returned with
    every value as a list."""
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise BadInputError(f"filters must be an object of metadata key -> value(s), got {type(filters).__name__}")
    out: dict[str, list[FilterValue]] = {}
    for key, value in filters.items():
        if not isinstance(key, str) or not key.strip() or any(c in key for c in '"\\') or not key.isprintable():
            raise BadInputError(f"filter key {key!r}: a non-empty metadata key without quotes or backslashes")
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not values:
            raise BadInputError(f"filter {key!r}: an empty list matches nothing; leave the key out instead")
        for v in values:
            if not isinstance(v, str | int | float | bool) or (isinstance(v, float) and not math.isfinite(v)):
                raise BadInputError(f"filter {key!r}: values are strings, numbers or booleans, got {v!r}")
        out[key] = values
    return out or None


def check_min_score(min_score: Any) -> None:
    """A search's score floor: a number (``-inf`` for none), not NaN; ``None`` means the configured default."""
    if min_score is None:
        return
    try:
        bad = isinstance(min_score, bool) or math.isnan(float(min_score))
    except (TypeError, ValueError, OverflowError):
        bad = True
    if bad:
        raise BadInputError(f"min_score must be a number (or -inf for no threshold), got {min_score!r}")
