"""The workspace's policy registry: which policy serves each decision kind, and every version that ever did.

``WORKSPACE/policies/<version>/`` holds a copy of each activated checkpoint (``policy.json`` +
``policy.safetensors``), so a decision that names a version can always be re-scored by it;
``policies/history.jsonl`` records each activation, for ``rollback``, and each version registered without one
(``"event": "register"``: a shipped default, a policy given in code), each with its ``source``. The active
setting per kind lives in ``reme.yaml`` (``policies: {rank: default | heuristic | <version>, ...}``): ``default``
(the default setting) serves the shipped default of this reme version (``reme.policy.shipped``), a checkpoint
registered here on first use like any other version, or the heuristic when the manifest ships none. A missing or
corrupt checkpoint is an error when it is loaded, never a silent fallback to the heuristic.

A kind may also have a **canary**: a registered version that does not serve, but that rank exploration shows to a
share of the searches where its ordering differs from the serving one (``reme.policy.explore``), so that ``reme
learn`` can compare the two on live rewards; after a promotion, the replaced version is kept the same way as a
*holdback*, so that the promotion is watched on the same searches too. ``policies/canary.json`` names it per kind
(``set_canary``, ``set_holdback``, ``clear_canary``); its history entries have ``"event": "canary"``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from reme.atomic import publish_dir, temp_name, whole_dir, write_atomic
from reme.errors import BadInputError, WorkspaceError
from reme.policy.checkpoint import SPEC_FILE, check_spec, read_spec
from reme.policy.decision import DECISION_KINDS, Decision
from reme.schema import utc_now

HEURISTIC = "heuristic"
DEFAULT = "default"
"""The setting that serves the shipped default of this reme version (``resolve``)."""


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
    if publish_dir(tmp, root / version):
        _log(
            workspace,
            {"time": utc_now(), "kind": policy.kind, "version": version, "event": "register", "source": "code"},
        )


def _copy_in(workspace: str | Path, source: str | Path) -> tuple[Any, bool]:
    """Validate a checkpoint directory and copy it into the registry under its version (atomically; nothing when
    that version is there already). Returns ``(policy, placed)``."""
    policy = load_checkpoint_dir(source)  # validates before anything is copied
    target = registry_dir(workspace) / policy.version
    if target.exists():
        return policy, False
    tmp = temp_name(target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(whole_dir(Path(source), SPEC_FILE), tmp)
    return policy, publish_dir(tmp, target)


def _reme_version() -> str:
    from reme import __project_version__

    return __project_version__


def shipped_version(kind: str) -> str:
    """The version the shipped default of ``kind`` serves: its checkpoint's version, or ``heuristic``. Reads the
    manifest and the checkpoint's spec only (nothing is registered or loaded)."""
    from reme.policy.shipped import shipped_default

    entry = shipped_default(_check_kind(kind))
    if entry.checkpoint is None:
        return HEURISTIC
    spec = read_spec(entry.checkpoint)
    version = spec.get("version")
    if not isinstance(version, str) or len(version) != 16 or any(c not in "0123456789abcdef" for c in version):
        raise BadInputError(f"shipped checkpoint {entry.checkpoint} carries no valid version ({version!r})")
    if spec.get("kind") != kind:
        raise BadInputError(f"shipped checkpoint {entry.checkpoint} holds a {spec.get('kind')!r} policy, not {kind}")
    return version


def register_shipped(workspace: str | Path, kind: str) -> str:
    """Register the shipped default of ``kind`` into the workspace's registry, once (a copy of its checkpoint under
    its version, logged with ``source: "shipped"``, this reme version and the recipe that trained it); returns the
    version it serves (``heuristic`` when the manifest ships none)."""
    from reme.policy.shipped import shipped_default

    version = shipped_version(kind)
    if version == HEURISTIC or (registry_dir(workspace) / version).is_dir():
        return version
    entry = shipped_default(kind)
    assert entry.checkpoint is not None
    policy, placed = _copy_in(workspace, entry.checkpoint)
    if policy.kind != kind or policy.version != version:
        raise BadInputError(f"shipped checkpoint {entry.checkpoint} does not load as the {kind} version {version}")
    if placed:
        _log(
            workspace,
            {
                "time": utc_now(),
                "kind": kind,
                "version": version,
                "event": "register",
                "source": "shipped",
                "reme_version": _reme_version(),
                "trained_by": entry.trained_by,
                "trained_with": entry.reme_version,
            },
        )
    return version


def resolve(workspace: str | Path, kind: str, name: str) -> str:
    """What the setting ``name`` of ``kind`` serves: ``heuristic`` or a registry version. ``default`` is the shipped
    default of this reme version (registered on first use, ``register_shipped``); other names are themselves."""
    if name != DEFAULT:
        return name
    return register_shipped(workspace, kind)


def shipped_policy(kind: str) -> tuple[str, Any]:
    """``(label, policy)`` of the shipped default of ``kind``, with no workspace (``reme eval ... --policy default``):
    ``default(<version>)`` and the checkpoint's policy, or ``default(heuristic)`` and the heuristic."""
    from reme.policy.shipped import shipped_default

    version = shipped_version(kind)
    if version == HEURISTIC:
        return f"{DEFAULT}({HEURISTIC})", heuristic_for(kind)
    checkpoint = shipped_default(kind).checkpoint
    assert checkpoint is not None
    policy = load_checkpoint_dir(checkpoint)
    if policy.kind != kind:
        raise BadInputError(f"shipped checkpoint {checkpoint} holds a {policy.kind} policy, not {kind}")
    return f"{DEFAULT}({policy.version})", policy


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
    """The policy serving ``kind``: the heuristic, a registry version, or the shipped default (``resolve``)."""
    _check_kind(kind)
    name = resolve(workspace, kind, name)
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
    previous = str(policies.get(kind, DEFAULT))
    policies[kind] = value
    data["policies"] = policies
    WorkspaceSettings(**data)  # refuse to write a file that would not load
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode("utf-8"))
    return previous


def setting_of(workspace: str | Path, kind: str) -> str:
    """What ``reme.yaml`` names for ``kind`` (``policies.<kind>``: ``default``, ``heuristic`` or a version)."""
    from reme.settings import load_settings

    return str(getattr(load_settings(workspace).policies, _check_kind(kind)))


def set_setting(workspace: str | Path, kind: str, value: str) -> str:
    """Point ``policies.<kind>`` of ``reme.yaml`` at ``value`` with no history entry (a copy of a decision already
    taken and logged elsewhere: ``reme.store.postgres_registry.pull``); returns the previous value."""
    return _set_active(workspace, _check_kind(kind), value)


def _log(workspace: str | Path, entry: dict[str, Any]) -> None:
    root = registry_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "history.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def activate(workspace: str | Path, source: str, note: dict[str, Any] | None = None) -> tuple[str, str]:
    """Serve a checkpoint directory (copied into the registry), a registry version, ``KIND:heuristic``, or
    ``KIND:default`` (the shipped default of this reme version: ``reme.yaml`` then says ``default``, so a newer
    reme's default serves after an upgrade). ``note`` (e.g. the activation gate's report, and whether it was
    forced) is kept in the history entry, with the activation's ``source``.

    Returns ``(kind, version)``: the version that serves now (for ``KIND:default``, the resolved one)."""
    entry: dict[str, Any]
    if source.endswith(":" + HEURISTIC):
        kind = _check_kind(source.split(":", 1)[0])
        setting = serves = HEURISTIC
        entry = {"source": HEURISTIC}
    elif source.endswith(":" + DEFAULT):
        kind = _check_kind(source.split(":", 1)[0])
        setting, serves = DEFAULT, register_shipped(workspace, kind)
        entry = {"source": "shipped", "serves": serves, "reme_version": _reme_version()}
    elif Path(source).is_dir():
        policy, _ = _copy_in(workspace, source)
        kind, setting = policy.kind, policy.version
        serves = setting
        entry = {"source": "directory", "from": str(Path(source).resolve())}
    else:
        _refuse_missing_path(source)
        policy = load_version(workspace, source)
        kind, setting = policy.kind, policy.version
        serves = setting
        entry = {"source": "registry"}
    previous = _set_active(workspace, kind, setting)
    _log(
        workspace,
        {"time": utc_now(), "kind": kind, "version": setting, "previous": previous, **entry, **(note or {})},
    )
    return kind, serves


def _refuse_missing_path(source: str) -> None:
    """A source written as a path (it has a separator, or starts with ``.`` or ``~``) that is no folder: say so
    (``BadInputError``) rather than look it up as a registry version."""
    if "/" in source or os.sep in source or source.startswith((".", "~")):
        raise BadInputError(
            f"no checkpoint folder at {source}: the path does not exist or is not a folder "
            "(a registry version is a name such as 7b537f2709ec2c4d: `reme policy list`)"
        )


def load_source(workspace: str | Path, source: str) -> Any:
    """The policy ``activate(workspace, source)`` would serve: a checkpoint directory, a registry version,
    ``KIND:heuristic`` or ``KIND:default`` (nothing is registered)."""
    if source.endswith(":" + HEURISTIC):
        return heuristic_for(_check_kind(source.split(":", 1)[0]))
    if source.endswith(":" + DEFAULT):
        return shipped_policy(_check_kind(source.split(":", 1)[0]))[1]
    if Path(source).is_dir():
        return load_checkpoint_dir(source)
    _refuse_missing_path(source)
    return load_version(workspace, source)


def rollback(workspace: str | Path, kind: str) -> str:
    """Serve again the version that was active before the latest activation of ``kind``."""
    _check_kind(kind)
    mine = activations(workspace, kind)
    if not mine:
        raise BadInputError(f"nothing to roll back: {kind} was never activated in {workspace}")
    previous = str(mine[-1]["previous"])
    if previous == DEFAULT:
        resolve(workspace, kind, previous)  # the shipped default still loads and is registered?
    elif previous != HEURISTIC:
        load_version(workspace, previous)  # still loadable?
    _set_active(workspace, kind, previous)
    _log(
        workspace,
        {"time": utc_now(), "kind": kind, "version": previous, "previous": mine[-1]["version"], "rollback": True},
    )
    return previous


def activations(workspace: str | Path, kind: str) -> list[dict[str, Any]]:
    """The history entries that changed what serves ``kind`` (activations and rollbacks, not registrations or
    canaries), oldest first."""
    _check_kind(kind)
    return [e for e in _history(workspace) if e.get("kind") == kind and e.get("event") not in ("register", "canary")]


def _canary_file(workspace: str | Path) -> Path:
    return registry_dir(workspace) / "canary.json"


class Canary(NamedTuple):
    """A kind's canary: the version shown to a share of the searches, since when, and whether it is a *holdback*
    (the version a promotion replaced, kept on that share so that the promotion is judged on the same searches);
    ``setting`` is how ``reme.yaml`` would name it (a registry version, or ``heuristic``)."""

    version: str
    since: str
    holdback: bool = False
    setting: str = ""


def _canaries(workspace: str | Path) -> dict[str, Canary]:
    path = _canary_file(workspace)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8") or "{}")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "version" in v for v in data.values()):
        raise WorkspaceError(f"{path} must map decision kinds to {{version, since}}")
    return {
        str(k): Canary(
            str(v["version"]),
            str(v.get("since", "")),
            bool(v.get("holdback", False)),
            str(v.get("setting") or v["version"]),
        )
        for k, v in data.items()
    }


def _write_canaries(workspace: str | Path, canaries: dict[str, Canary]) -> None:
    data = {k: c._asdict() for k, c in canaries.items()}
    write_atomic(_canary_file(workspace), json.dumps(data, sort_keys=True).encode("utf-8"))


def set_canary(workspace: str | Path, source: str | Path, note: dict[str, Any] | None = None) -> tuple[str, str]:
    """Copy a checkpoint directory into the registry and make it its kind's canary from now (replacing any other);
    returns ``(kind, version)``. It does not serve: exploration shows it to some searches."""
    policy, _ = _copy_in(workspace, source)
    kind = _check_kind(policy.kind)
    canaries = _canaries(workspace)
    since = utc_now()
    canaries[kind] = Canary(policy.version, since, False, policy.version)
    _write_canaries(workspace, canaries)
    _log(workspace, {"time": since, "kind": kind, "version": policy.version, "event": "canary", "started": True,
                     "from": str(source), **({"note": note} if note else {})})  # fmt: skip
    return kind, policy.version


def set_holdback(workspace: str | Path, kind: str, setting: str) -> str:
    """Make ``setting`` (the version a promotion just replaced: a registry version or ``heuristic``) ``kind``'s canary
    as a holdback; returns its version."""
    policy = heuristic_for(_check_kind(kind)) if setting == HEURISTIC else load_version(workspace, setting)
    canaries = _canaries(workspace)
    since = utc_now()
    canaries[kind] = Canary(str(policy.version), since, True, setting)
    _write_canaries(workspace, canaries)
    _log(workspace, {"time": since, "kind": kind, "version": str(policy.version), "event": "canary", "started": True,
                     "holdback": True, "from": setting})  # fmt: skip
    return str(policy.version)


def canary_of(workspace: str | Path, kind: str) -> Canary | None:
    """``kind``'s canary, if one is set."""
    return _canaries(workspace).get(_check_kind(kind))


def load_canary(workspace: str | Path, kind: str) -> Any | None:
    """``kind``'s canary policy, if one is set."""
    found = canary_of(workspace, kind)
    if found is None:
        return None
    return heuristic_for(kind) if found.setting == HEURISTIC else load_version(workspace, found.version)


def clear_canary(workspace: str | Path, kind: str, why: str = "") -> str | None:
    """End ``kind``'s canary (promoted or refused, ``why`` says); returns the version it was."""
    canaries = _canaries(workspace)
    entry = canaries.pop(_check_kind(kind), None)
    version = None if entry is None else entry.version
    if version is not None:
        _write_canaries(workspace, canaries)
        _log(workspace, {"time": utc_now(), "kind": kind, "version": version, "event": "canary", "started": False,
                         "why": why})  # fmt: skip
    return version


def _history(workspace: str | Path) -> list[dict[str, Any]]:
    path = registry_dir(workspace) / "history.jsonl"
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


ORIGINS = ("shipped", "directory", "code")
"""How a version entered a registry (its history entry's ``source``)."""


def _row(kind: str, version: str, policy: Any, active: bool, source: str, detail: str = "") -> dict[str, Any]:
    return {"kind": kind, "version": version, "policy": policy, "active": active, "source": source, "detail": detail}


def _detail(entry: dict[str, Any]) -> str:
    if entry.get("source") == "shipped":
        parts = [f"reme {entry['reme_version']}" if entry.get("reme_version") else "", entry.get("trained_by", "")]
        return ", ".join(p for p in parts if p)
    return str(entry.get("from", ""))


def list_policies(workspace: str | Path) -> list[dict[str, Any]]:
    """A heuristic row per kind and every registry version, each with its kind, policy name, ``source``, ``detail``
    and whether it serves (``active``). ``source`` says where a version came from: ``shipped`` (a reme version's
    shipped default; ``detail``: that version and the recipe), ``directory`` (activated from the folder in
    ``detail``), ``code`` (a policy given to ``Memory`` in code), ``unknown`` (registered before sources were
    logged); a heuristic row's is ``heuristic``, or ``shipped`` when it serves as the shipped default
    (``detail``: the manifest's why). A kind whose setting is ``default`` has its shipped default registered
    first, as serving it would; when that fails, a row with version ``default`` says why (and under
    ``on_failure: heuristic`` the heuristic row serves)."""
    from reme.errors import ReMeError
    from reme.policy.shipped import shipped_default
    from reme.settings import load_settings

    settings = load_settings(workspace).policies
    setting: dict[str, str] = {k: str(getattr(settings, k)) for k in DECISION_KINDS}
    serving: dict[str, str | None] = {}
    failed: dict[str, str] = {}
    for k in DECISION_KINDS:
        try:
            serving[k] = resolve(workspace, k, setting[k])
        except (ReMeError, OSError) as exc:
            failed[k] = str(exc).splitlines()[0]
            serving[k] = HEURISTIC if settings.on_failure == HEURISTIC else None
    origins: dict[str, dict[str, Any]] = {}
    for entry in _history(workspace):
        if entry.get("source") in ORIGINS:
            origins.setdefault(str(entry.get("serves", entry.get("version"))), entry)

    rows: list[dict[str, Any]] = []
    for k in DECISION_KINDS:
        source, detail = HEURISTIC, ""
        if k in failed:
            detail = "the shipped default cannot serve (on_failure: heuristic)" if serving[k] else ""
        elif setting[k] == DEFAULT and serving[k] == HEURISTIC:
            source, detail = "shipped", shipped_default(k).why
        rows.append(_row(k, HEURISTIC, "heuristic", serving[k] == HEURISTIC, source, detail))
        if k in failed:
            rows.append(_row(k, DEFAULT, f"unusable: {failed[k]}", False, "shipped"))
    root = registry_dir(workspace)
    if root.is_dir():
        for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            version = directory.name
            try:
                spec = read_spec(directory)
            except BadInputError as exc:
                rows.append(_row("?", version, f"unreadable: {exc}", False, "unknown"))
                continue
            kind = str(spec.get("kind"))
            active = serving.get(kind) == version
            origin = origins.get(version, {})
            if active and setting.get(kind) == DEFAULT and origin.get("source") != "shipped":
                origin = {"source": "shipped", "reme_version": _reme_version()}  # its registration was not logged
            rows.append(
                _row(kind, version, spec.get("policy"), active, origin.get("source", "unknown"), _detail(origin))
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
    """``(label, policy)`` for ``reme eval retrieval --policy``: ``heuristic``, ``rrf`` (ReMe 0.4's fusion),
    ``default`` (the shipped default, ``shipped_policy``), a learned rank checkpoint
    directory, or a ``{"kind": "fusion", "vector_weight": w, "missing": "exact"|"zero"}`` directory (a
    variant of the heuristic). The directory's name is the label."""
    from reme.policy.rank import HeuristicRankPolicy

    if spec == HEURISTIC:
        return HEURISTIC, HeuristicRankPolicy()
    if spec == DEFAULT:
        return shipped_policy("rank")
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
