"""The workspace's policy registry: which policy serves each decision kind, and every version that ever did.

``WORKSPACE/policies/<version>/`` holds a copy of each activated checkpoint (``policy.json`` +
``policy.safetensors``), so a decision that names a version can always be re-scored by it;
``policies/history.jsonl`` records each activation, for ``rollback``. The active version per kind lives in
``reme.yaml`` (``policies: {rank: <version> | heuristic, ...}``). A missing or corrupt checkpoint is an error
when it is loaded, never a silent fallback to the heuristic.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from reme.atomic import fsync_dir, fsync_tree, temp_name, whole_dir, write_atomic
from reme.errors import BadInputError, WorkspaceError
from reme.policy.checkpoint import SPEC_FILE, check_spec, read_spec
from reme.policy.decision import DECISION_KINDS, Decision
from reme.schema import utc_now

HEURISTIC = "heuristic"


def _classes() -> dict[str, Any]:
    """Policy name -> class, for every policy this project ships."""
    from reme.policy.compact import HeuristicCompactPolicy
    from reme.policy.compact_mlp import MLPCompactPolicy, RankedMLPCompactPolicy
    from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy, RRFRankPolicy
    from reme.policy.write import HeuristicWritePolicy, NoveltyLengthWritePolicy, RandomWritePolicy
    from reme.policy.write_mlp import MLPWritePolicy, PacedMLPWritePolicy

    return {
        cls.name: cls
        for cls in (
            HeuristicRankPolicy,
            RRFRankPolicy,
            MLPRankPolicy,
            HeuristicWritePolicy,
            MLPWritePolicy,
            NoveltyLengthWritePolicy,
            RandomWritePolicy,
            PacedMLPWritePolicy,
            HeuristicCompactPolicy,
            MLPCompactPolicy,
            RankedMLPCompactPolicy,
        )
    }


def heuristic_for(kind: str, params: dict[str, Any] | None = None) -> Any:
    """The heuristic policy of a decision kind (ReMe 0.3.1.x's rule), with optional parameters."""
    if kind == "rank":
        from reme.policy.rank import HeuristicRankPolicy

        return HeuristicRankPolicy(**(params or {}))
    if kind == "write":
        from reme.policy.write import HeuristicWritePolicy

        return HeuristicWritePolicy(**(params or {}))
    if kind == "compact":
        from reme.policy.compact import HeuristicCompactPolicy

        return HeuristicCompactPolicy(**(params or {}))
    raise BadInputError(f"unknown decision kind {kind!r}: use rank, write or compact")


def ensure_registered(workspace: str | Path, policy: Any) -> None:
    """Copy a learned policy given in code into the registry, so that its decisions can be re-scored later.
    (Heuristics need no copy: their records carry their parameters.)"""
    if not hasattr(policy, "save"):
        return
    root = registry_dir(workspace)
    if (root / policy.version).is_dir():
        return
    tmp = temp_name(root / "register")
    shutil.rmtree(tmp, ignore_errors=True)
    version = policy.save(tmp)  # the version a saved checkpoint carries (the policy adopts it)
    _publish(tmp, root / version)


def _publish(tmp: Path, target: Path) -> None:
    """Move a complete registry folder into place (fsynced first: a version folder is never torn), unless that
    version is already there (versions are content hashes: the same name holds the same files)."""
    if target.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    fsync_tree(tmp)
    try:
        os.replace(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process registered the same version meanwhile
    fsync_dir(target.parent)


def _check_kind(kind: str) -> str:
    if kind not in DECISION_KINDS:
        raise BadInputError(f"unknown decision kind {kind!r}: use rank, write or compact")
    return kind


def registry_dir(workspace: str | Path) -> Path:
    return Path(workspace) / "policies"


def load_version(workspace: str | Path, version: str) -> Any:
    """The learned policy stored in the registry under ``version``."""
    directory = registry_dir(workspace) / version
    if not directory.is_dir() or "/" in version or version.startswith("."):
        raise WorkspaceError(f"policy version {version!r} is not in the registry of {workspace}")
    return load_checkpoint_dir(directory)


def load_checkpoint_dir(directory: str | Path) -> Any:
    """A learned policy from a checkpoint directory, refused with ``BadInputError`` (one line) unless it is whole
    (its version hash), its spec is sound and its features are this version's (``check_spec``), its weights are
    finite and bounded, and it decides finitely on a probe state (``reme.policy.probe``)."""
    from reme.policy.feature_sets import live_features
    from reme.policy.probe import probe

    spec = read_spec(directory)
    kind = spec.get("kind")
    if kind not in DECISION_KINDS:
        raise BadInputError(f"checkpoint {directory} names unknown decision kind {kind!r}")
    cls = _classes().get(str(spec.get("policy")))
    if cls is None or not hasattr(cls, "load"):
        raise BadInputError(f"checkpoint {directory} names unknown learned policy {spec.get('policy')!r}")
    check_spec(spec, directory, live_features(str(kind)))
    try:
        policy = cls.load(directory)
    except BadInputError:
        raise
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise BadInputError(f"checkpoint {directory} cannot be loaded: {str(exc).splitlines()[0]}") from None
    probe(policy, f"checkpoint {directory}")
    return policy


def load_active(workspace: str | Path, kind: str, name: str) -> Any:
    """The policy serving ``kind``: the heuristic, or a registry version."""
    _check_kind(kind)
    if name == HEURISTIC:
        return heuristic_for(kind)
    policy = load_version(workspace, name)
    if policy.kind != kind:
        raise WorkspaceError(f"reme.yaml names {name} for {kind}, but it is a {policy.kind} policy")
    return policy


def _set_active(workspace: str | Path, kind: str, value: str) -> str:
    """Point ``policies.<kind>`` of ``reme.yaml`` at ``value``; returns the previous value."""
    import yaml

    from reme.settings import SETTINGS_FILE, WorkspaceSettings

    path = Path(workspace) / SETTINGS_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise WorkspaceError(f"{path} must be a mapping of settings")
        data = loaded
    policies = dict(data.get("policies") or {})
    previous = str(policies.get(kind, HEURISTIC))
    policies[kind] = value
    data["policies"] = policies
    WorkspaceSettings(**data)  # refuse to write a file that would not load
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))
    return previous


def _log(workspace: str | Path, entry: dict[str, Any]) -> None:
    root = registry_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "history.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def activate(workspace: str | Path, source: str, note: dict[str, Any] | None = None) -> tuple[str, str]:
    """Serve a checkpoint directory (copied into the registry) or a registry version, or ``KIND:heuristic``.
    ``note`` (e.g. the activation gate's report, and whether it was forced) is kept in the history entry.

    Returns ``(kind, version)``."""
    if source.endswith(":" + HEURISTIC):
        kind = _check_kind(source.split(":", 1)[0])
        version = HEURISTIC
    elif Path(source).is_dir():
        policy = load_checkpoint_dir(source)  # validates before anything is copied
        kind, version = policy.kind, policy.version
        target = registry_dir(workspace) / version
        if not target.exists():
            tmp = temp_name(target)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(whole_dir(Path(source), SPEC_FILE), tmp)
            _publish(tmp, target)
    else:
        policy = load_version(workspace, source)
        kind, version = policy.kind, policy.version
    previous = _set_active(workspace, kind, version)
    _log(workspace, {"time": utc_now(), "kind": kind, "version": version, "previous": previous, **(note or {})})
    return kind, version


def load_source(workspace: str | Path, source: str) -> Any:
    """The policy ``activate(workspace, source)`` would serve: a checkpoint directory, a registry version, or
    ``KIND:heuristic``."""
    if source.endswith(":" + HEURISTIC):
        return heuristic_for(_check_kind(source.split(":", 1)[0]))
    if Path(source).is_dir():
        return load_checkpoint_dir(source)
    return load_version(workspace, source)


def rollback(workspace: str | Path, kind: str) -> str:
    """Serve again the version that was active before the latest activation of ``kind``."""
    _check_kind(kind)
    path = registry_dir(workspace) / "history.jsonl"
    entries = []
    if path.is_file():
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    mine = [e for e in entries if e.get("kind") == kind]
    if not mine:
        raise BadInputError(f"nothing to roll back: {kind} was never activated in {workspace}")
    previous = str(mine[-1]["previous"])
    if previous != HEURISTIC:
        load_version(workspace, previous)  # still loadable?
    _set_active(workspace, kind, previous)
    _log(
        workspace,
        {"time": utc_now(), "kind": kind, "version": previous, "previous": mine[-1]["version"], "rollback": True},
    )
    return previous


def list_policies(workspace: str | Path) -> list[dict[str, Any]]:
    """Every registry version with its kind and policy name, and which one serves each kind."""
    from reme.settings import load_settings

    active = load_settings(workspace).policies.model_dump()
    rows = [
        {"kind": k, "version": HEURISTIC, "policy": "heuristic", "active": active[k] == HEURISTIC}
        for k in DECISION_KINDS
    ]
    root = registry_dir(workspace)
    if root.is_dir():
        for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                spec = read_spec(directory)
            except BadInputError as exc:
                rows.append({"kind": "?", "version": directory.name, "policy": f"unreadable: {exc}", "active": False})
                continue
            kind = str(spec.get("kind"))
            rows.append(
                {
                    "kind": kind,
                    "version": directory.name,
                    "policy": spec.get("policy"),
                    "active": active.get(kind) == directory.name,
                }
            )
    return rows


def policy_for_record(workspace: str | Path, decision: Decision, cache: dict[str, Any] | None = None) -> Any:
    """The policy that took a recorded decision: a heuristic rebuilt from the recorded parameters, or the
    registry version it names. Raises when neither matches the recorded version."""
    cache = {} if cache is None else cache
    key = f"{decision.policy}@{decision.version}"
    if key in cache:
        return cache[key]
    cls = _classes().get(decision.policy)
    if cls is None:
        raise ValueError(f"unknown policy {decision.policy!r}")
    if hasattr(cls, "load"):
        policy = load_version(workspace, decision.version)
    else:
        policy = cls(**decision.extra.get("params", {}))
    if policy.version != decision.version:
        raise ValueError(
            f"policy {decision.policy} rebuilt at version {policy.version}, record says {decision.version}"
        )
    cache[key] = policy
    return policy


def load_rank_policy(spec: str) -> tuple[str, Any]:
    """``(label, policy)`` for ``reme eval retrieval --policy``: ``heuristic``, ``rrf`` (ReMe 0.4's fusion), a
    learned rank checkpoint
    directory, or a ``{"kind": "fusion", "vector_weight": w, "missing": "exact"|"zero"}`` directory (a
    variant of the heuristic). The directory's name is the label."""
    from reme.policy.rank import HeuristicRankPolicy

    if spec == HEURISTIC:
        return HEURISTIC, HeuristicRankPolicy()
    if spec == "rrf":
        from reme.policy.rank import RRFRankPolicy

        return "rrf", RRFRankPolicy()
    directory = Path(spec)
    config = read_spec(directory)
    label = directory.resolve().name
    if config.get("kind") == "fusion":
        try:
            return label, HeuristicRankPolicy(
                vector_weight=float(config.get("vector_weight", 0.7)), missing=str(config.get("missing", "exact"))
            )
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"bad fusion checkpoint {directory}: {exc}") from None
    if config.get("kind") != "rank":
        raise BadInputError(f"{directory} holds a {config.get('kind')!r} policy, not a ranking policy")
    return label, load_checkpoint_dir(directory)
