"""Checkpoint directories of learned policies: ``policy.safetensors`` (weights) + ``policy.json`` (spec).

``policy.json`` holds ``kind`` (the decision kind), ``policy`` (the policy class name), ``feature_spec`` (input
column names, in order), ``config`` (sizes, temperature, ...), ``version`` (sha256 of the spec and the weights,
16 hex digits) and ``training_data_hash``. A loaded checkpoint whose files do not match its version, or that
is missing a file, is an error: never a silent fallback.

A save writes both files into a temporary folder beside the directory, fsyncs them and swaps the folder into
place (``reme.atomic.replace_dir``): after a crash the directory holds the whole old checkpoint or the
whole new one. A crash between the swap's two renames leaves the old one under ``.<name>.old-…``, which
loading falls back to and the next save puts back.

A learned policy's torch head goes through ``save_head`` / ``load_head``, the one loader: a checkpoint is refused
(``BadInputError``) unless it is whole (its version hash), its weights are finite and bounded, it holds this kind
and policy, its spec is sound (``check_spec``), its tensors have exactly the names, dtypes and shapes of the head
the policy builds from that spec, and the loaded head with the policy's own spec reproduces the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from reme.atomic import replace_dir, whole_dir
from reme.errors import BadInputError

if TYPE_CHECKING:
    import torch

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


# --------------------------------------------------------------------------------------------------------------
# Torch heads: the one saver and loader of learned policies
# --------------------------------------------------------------------------------------------------------------


class TorchHead(Protocol):
    """What a learned policy gives the head saver and loader."""

    def checkpoint_spec(self) -> dict[str, Any]:
        """``kind``, ``policy``, ``feature_spec``, ``config`` and ``training_data_hash`` of the policy as it is."""
        ...

    def torch_module(self) -> torch.nn.Module:
        """The module whose ``state_dict`` is the checkpoint's weights."""
        ...


H = TypeVar("H", bound=TorchHead)


def head_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's weights as they are saved: detached, on the CPU, contiguous."""
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def head_version(head: TorchHead) -> str:
    """The version ``save_head`` would write for ``head`` now (its spec and current weights)."""
    from safetensors.torch import save

    return checkpoint_version(head.checkpoint_spec(), save(head_tensors(head.torch_module())))


def save_head(directory: str | Path, head: TorchHead) -> str:
    """Write ``head``'s checkpoint directory; returns its version (``head_version(head)``)."""
    spec = head.checkpoint_spec()
    return save_checkpoint(
        directory,
        kind=spec["kind"],
        policy=spec["policy"],
        feature_spec=list(spec["feature_spec"]),
        config=spec["config"],
        tensors=head_tensors(head.torch_module()),
        training_data_hash=str(spec.get("training_data_hash", "")),
    )


def load_head(directory: str | Path, *, kind: str, policy: str, build: Callable[[dict[str, Any]], H]) -> H:
    """The learned policy of a checkpoint directory (see the module docstring for what is refused).

    ``build(spec)`` makes a fresh policy from the checked spec (raising ``BadInputError``, ``KeyError``,
    ``TypeError`` or ``ValueError`` for a config it cannot take); its head is then filled with the weights."""
    import torch

    spec, tensors = load_checkpoint(directory)
    if spec.get("kind") != kind or spec.get("policy") != policy:
        raise BadInputError(
            f"{directory} holds a {spec.get('kind')!r} / {spec.get('policy')!r} policy, not {kind} / {policy}"
        )
    check_spec(spec, directory)
    try:
        head = build(spec)
    except BadInputError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{directory}: bad {policy} config {spec.get('config')!r}: {exc}") from None
    module = head.torch_module()
    expected = {k: (tuple(v.shape), v.dtype) for k, v in module.state_dict().items()}
    found = {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise BadInputError(f"weights in {directory} do not fit the {policy} head (tensors {wrong[:4]})")
    with torch.no_grad():
        module.load_state_dict(tensors, strict=True)
    if head_version(head) != spec["version"]:
        raise BadInputError(f"{directory}: the loaded weights and config do not reproduce version {spec['version']}")
    return head
