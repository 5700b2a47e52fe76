"""The learned defaults this reme version ships: ``manifest.json`` and one checkpoint directory per shipped policy
(``<subdir>/policy.json`` + ``<subdir>/policy.safetensors``), installed with the package (pyproject's package-data).

``manifest.json`` holds one entry per decision kind (``rank``, ``write``, ``compact``), in one of two forms::

    {"checkpoint": "<subdir>", "trained_by": "training/recipes/default-policies.sh", "reme_version": "0.1.0",
     "figures": {...}}
    {"heuristic": true, "why": "<one line: why no learned default ships for this decision>"}

A workspace whose ``reme.yaml`` says ``default`` for a kind (the default setting) serves that kind's entry: the
checkpoint, registered into the workspace's registry as a version like any other (``reme.policy.registry``), or
the heuristic. A missing or malformed manifest, or an entry naming a missing folder, is a ``WorkspaceError`` naming
the path; a corrupt checkpoint is refused when it is loaded (``BadInputError``). Neither falls back to the
heuristic except through the guard with ``policies.on_failure: heuristic``.

One override: the environment variable ``REME_SHIPPED_DIR`` names another folder laid out like this one (tests
use it to ship a checkpoint without real weights; a packager can use it to try a candidate default).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reme.errors import WorkspaceError

__all__ = ["MANIFEST", "SHIPPED_DIR_ENV", "ShippedDefault", "read_manifest", "shipped_default", "shipped_dir"]

MANIFEST = "manifest.json"
SHIPPED_DIR_ENV = "REME_SHIPPED_DIR"
KINDS = ("rank", "write", "compact")  # reme.policy.decision.DECISION_KINDS (not imported: this package stays a leaf)


@dataclass(frozen=True)
class ShippedDefault:
    """One decision kind's entry of the manifest: a checkpoint folder, or the heuristic and why."""

    kind: str
    checkpoint: Path | None = None
    """The checkpoint directory; ``None`` when the heuristic is the default."""
    why: str = ""
    trained_by: str = ""
    reme_version: str = ""
    """The reme version the checkpoint was trained and measured with."""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def heuristic(self) -> bool:
        return self.checkpoint is None


def shipped_dir() -> Path:
    """The folder holding ``manifest.json``: ``$REME_SHIPPED_DIR`` when set, else this package's folder."""
    override = os.environ.get(SHIPPED_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent


def _entry(kind: str, raw: Any, directory: Path, path: Path) -> ShippedDefault:
    where = f"{path}: {kind}"
    if not isinstance(raw, dict):
        raise WorkspaceError(f"{where} must be an object, got {type(raw).__name__}")
    if "checkpoint" in raw and "heuristic" in raw:
        raise WorkspaceError(f"{where} names both a checkpoint and the heuristic")
    if "heuristic" in raw:
        why = raw.get("why")
        if (
            raw["heuristic"] is not True
            or not isinstance(why, str)
            or not why.strip()
            or set(raw) - {"heuristic", "why"}
        ):
            raise WorkspaceError(f'{where} must be {{"heuristic": true, "why": "<one line>"}}')
        return ShippedDefault(kind, why=why.strip())
    sub = raw.get("checkpoint")
    if not isinstance(sub, str) or not sub or sub.startswith(".") or "/" in sub or "\\" in sub:
        raise WorkspaceError(f"{where}: checkpoint must be the name of a folder beside the manifest, got {sub!r}")
    unknown = set(raw) - {"checkpoint", "trained_by", "reme_version", "figures"}
    if unknown:
        raise WorkspaceError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("trained_by", "reme_version"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise WorkspaceError(f"{where}: {key} must be a non-empty string")
    figures = raw.get("figures", {})
    if not isinstance(figures, dict):
        raise WorkspaceError(f"{where}: figures must be an object")
    checkpoint = directory / sub
    if not checkpoint.is_dir():
        raise WorkspaceError(f"{where} names checkpoint {checkpoint}, which is not a folder")
    return ShippedDefault(
        kind, checkpoint=checkpoint, trained_by=raw["trained_by"], reme_version=raw["reme_version"], figures=figures
    )


def read_manifest(directory: str | Path | None = None) -> dict[str, ShippedDefault]:
    """Every decision kind's shipped default, from ``directory`` (default ``shipped_dir()``); a missing or malformed
    manifest is a ``WorkspaceError`` naming its path."""
    directory = Path(directory) if directory is not None else shipped_dir()
    path = directory / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(
            f"no shipped-policy manifest at {path} (a broken install, or a wrong ${SHIPPED_DIR_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"unreadable shipped-policy manifest {path}: {exc}") from None
    if not isinstance(raw, dict) or set(raw) != set(KINDS):
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise WorkspaceError(f"shipped-policy manifest {path} must hold exactly rank, write and compact, got {keys}")
    return {kind: _entry(kind, raw[kind], directory, path) for kind in KINDS}


def shipped_default(kind: str, directory: str | Path | None = None) -> ShippedDefault:
    """The shipped default of one decision kind (see ``read_manifest``)."""
    return read_manifest(directory)[kind]
