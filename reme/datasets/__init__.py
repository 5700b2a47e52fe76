"""Dataset loaders (LoCoMo, LongMemEval) and a synthetic LoCoMo-format generator.

Every loader returns ``(episodes, report)``: a list of :class:`~reme.schema.Episode` and a
:class:`~reme.schema.DatasetReport` whose ``warnings`` list what was skipped or repaired. Problems with the
file as a whole (missing, unreadable, not JSON, not a list, wrong format) raise :class:`~reme.errors.DatasetError`.
"""

from __future__ import annotations

import os

from reme.datasets._common import FORMATS, check_format, detect_format, read_json_items
from reme.datasets.locomo import load_locomo, parse_dia_ids, parse_locomo
from reme.datasets.longmemeval import load_longmemeval, parse_longmemeval
from reme.datasets.longmemeval_synth import generate_longmemeval_synthetic as generate_longmemeval_synthetic
from reme.datasets.synthetic import generate_synthetic, write_synthetic
from reme.errors import DatasetError
from reme.schema import DatasetReport, Episode

__all__ = [
    "FORMATS",
    "DatasetError",
    "DatasetReport",
    "Episode",
    "detect_format",
    "generate_synthetic",
    "load_dataset",
    "load_locomo",
    "load_longmemeval",
    "parse_dia_ids",
    "parse_locomo",
    "parse_longmemeval",
    "write_synthetic",
]


def load_dataset(path: str | os.PathLike[str], format: str = "auto") -> tuple[list[Episode], DatasetReport]:
    """Load a dataset file as episodes; ``format`` is ``auto`` (judged by content), ``locomo`` or ``longmemeval``.

    Raises :class:`DatasetError` with a one-line message for a missing file, a directory, an unreadable file,
    invalid UTF-8, invalid JSON (line and column given), a top level that is not a list, an empty list, an
    unknown format name, or a format that does not match the content.
    """
    if not isinstance(format, str) or format not in ("auto", *FORMATS):
        raise DatasetError(f"unknown dataset format {format!r}: use 'auto', 'locomo' or 'longmemeval'")
    items = read_json_items(path)
    fmt = detect_format(items, path) if format == "auto" else format
    check_format(items, fmt, path)
    if fmt == "locomo":
        return parse_locomo(items, os.fspath(path))
    return parse_longmemeval(items, os.fspath(path))
