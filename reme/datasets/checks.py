"""Argument checks shared by the dataset generators (``synthetic``, ``longmemeval_synth``)."""

from __future__ import annotations

from typing import Any

from reme.errors import BadInputError

__all__ = ["check_int"]


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """Reject a non-integer or out-of-range argument with :class:`BadInputError`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadInputError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise BadInputError(f"{name} must be between {low} and {high}, got {value}")
