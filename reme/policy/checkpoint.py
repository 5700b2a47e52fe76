"""Checkpoint directories of learned policies: ``policy.safetensors`` (weights) + ``policy.json`` (spec).

``policy.json`` holds ``kind`` (the decision kind), ``policy`` (the policy class name), ``feature_spec`` (input
column names, in order), ``config`` (sizes, temperature, ...), ``version`` (sha256 of the spec and the weights,
16 hex digits) and ``training_data_hash``. A loaded checkpoint whose files do not match its version, or that
is missing a file, is an error: never a silent fallback.

A save writes both files into a temporary folder beside the directory, fsyncs them and swaps the folder into
place (``reme.atomic.replace_dir``): after a crash the directory holds the whole old checkpoint or the
whole new one. A crash between the swap's two renames leaves the old one under ``.<name>.old-…``, which
loading falls back to and the next save puts back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reme.atomic import replace_dir, whole_dir
from reme.errors import BadInputError

SPEC_FILE = "policy.json"
WEIGHTS_FILE = "policy.safetensors"

MAX_HIDDEN = 4096
"""Largest hidden width a checkpoint may ask for (a head is a small MLP; 10^9 would allocate gigabytes)."""
MAX_ABS_WEIGHT = 1e4
"""Largest weight magnitude accepted: beyond it scores overflow to inf and every decision fails."""


def checkpoint_version(spec: dict[str, Any], weights: bytes) -> str:
    """The version a checkpoint with this spec (its ``version`` key ignored) and these weight bytes carries."""
    body = {k: v for k, v in spec.items() if k != "version"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode() + weights)
    return digest.hexdigest()[:16]


def save_checkpoint(
    directory: str | Path,
    *,
    kind: str,
    policy: str,
    feature_spec: list[str],
    config: dict[str, Any],
    tensors: dict[str, Any],
    training_data_hash: str = "",
) -> str:
    """Write a checkpoint directory; returns its version hash. ``tensors`` maps names to torch tensors."""
    from safetensors.torch import save

    directory = Path(directory)
    weights = save({name: t.detach().cpu().contiguous() for name, t in tensors.items()})
    spec = {
        "kind": kind,
        "policy": policy,
        "feature_spec": list(feature_spec),
        "config": config,
        "training_data_hash": training_data_hash,
    }
    spec["version"] = checkpoint_version(spec, weights)

    def fill(folder: Path) -> None:
        (folder / WEIGHTS_FILE).write_bytes(weights)
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    replace_dir(directory, fill, SPEC_FILE)
    return str(spec["version"])


def read_spec(directory: str | Path) -> dict[str, Any]:
    """The ``policy.json`` of a checkpoint directory (validated to be a JSON object with a kind)."""
    path = whole_dir(Path(directory), SPEC_FILE) / SPEC_FILE
    if not path.is_file():
        raise BadInputError(f"not a policy checkpoint: {directory} has no {SPEC_FILE}")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"unreadable policy checkpoint {path}: {exc}") from None
    if not isinstance(spec, dict) or "kind" not in spec:
        raise BadInputError(f"policy checkpoint {path} is not a JSON object with a 'kind'")
    return spec


def check_spec(spec: dict[str, Any], directory: str | Path, live_features: tuple[str, ...] | None = None) -> None:
    """Refuse a spec a loader could not build a working policy from, with a one-line ``BadInputError``: a config
    that is not an object, a ``feature_spec`` that is not a list of names (or not ``live_features``), a hidden width
    that is not an integer in [1, MAX_HIDDEN], a temperature that is not a finite positive number, any non-finite
    number in the config."""
    import math

    config = spec.get("config")
    if not isinstance(config, dict):
        raise BadInputError(f"checkpoint {directory}: config must be a JSON object, got {type(config).__name__}")
    features = spec.get("feature_spec")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise BadInputError(f"checkpoint {directory}: feature_spec must be a non-empty list of feature names")
    if live_features is not None and tuple(features) != tuple(live_features):
        unknown = [f for f in features if f not in live_features][:3]
        raise BadInputError(
            f"checkpoint {directory} was trained on other features ({len(features)} columns"
            f"{', unknown: ' + ', '.join(unknown) if unknown else ''}) than the {len(live_features)} this version "
            "computes"
        )
    hidden = config.get("hidden", 1)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN:
        raise BadInputError(f"checkpoint {directory}: hidden must be an integer in [1, {MAX_HIDDEN}], got {hidden!r}")
    if "temperature" in config:
        t = config["temperature"]
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or not 0 < t <= 1e3:
            raise BadInputError(f"checkpoint {directory}: temperature must be a number in (0, 1000], got {t!r}")
    for key, value in config.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInputError(f"checkpoint {directory}: config {key} is {value!r}")


def load_checkpoint(directory: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(spec, tensors)`` of a learned-policy checkpoint, checked against its version hash."""
    from safetensors.torch import load

    directory = whole_dir(Path(directory), SPEC_FILE)
    spec = read_spec(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise BadInputError(f"policy checkpoint {directory} has no {WEIGHTS_FILE}")
    weights = weights_path.read_bytes()
    if spec.get("version") != checkpoint_version(spec, weights):
        raise BadInputError(f"policy checkpoint {directory} does not match its version hash (corrupt or edited)")
    try:
        tensors = load(weights)
    except Exception as exc:  # safetensors raises its own error types
        raise BadInputError(f"unreadable weights in {weights_path}: {exc}") from None
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            continue
        if not bool(tensor.isfinite().all()):
            raise BadInputError(f"policy checkpoint {directory}: weights {name} hold NaN or infinite values")
        if tensor.numel() and float(tensor.abs().max()) > MAX_ABS_WEIGHT:
            raise BadInputError(f"policy checkpoint {directory}: weights {name} exceed {MAX_ABS_WEIGHT:g} in magnitude")
    return spec, tensors


def params_version(name: str, params: dict[str, Any]) -> str:
    """Version of a heuristic policy: a hash of its name and parameters."""
    return hashlib.sha256(json.dumps({"name": name, **params}, sort_keys=True).encode()).hexdigest()[:16]
