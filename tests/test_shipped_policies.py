"""Shipped defaults (``reme.policy.shipped``): a decision whose setting is ``default`` (the default setting) serves
the checkpoint this reme version ships for it, registered into the workspace as a version like any other, or the
heuristic where the manifest ships none. ``heuristic`` stays one line of ``reme.yaml`` away; a missing or corrupt
shipped checkpoint is an error, or a warned fallback under ``on_failure: heuristic``.

The checkpoint form is tested on a copy of the shipped folder holding a tiny rank head, pointed at through the one
override, ``REME_SHIPPED_DIR``; the real package's manifest is checked to parse, to name only checkpoints that load,
and to be covered by the wheel's package-data."""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reme.cli import app
from reme.cli.evaluate import _labelled
from reme.envs.compaction import load_compact_policy
from reme.envs.write import load_write_policy
from reme.errors import WorkspaceError
from reme.memory import Memory
from reme.policy.guard import FALLBACKS, GuardedPolicy, PolicyError
from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy
from reme.policy.registry import load_checkpoint_dir, policy_for_record
from reme.policy.shipped import MANIFEST, SHIPPED_DIR_ENV, read_manifest
from reme.policy.trajectory import read_records
from reme.retrieval.embedding import RandomEncoder
from reme.settings import load_settings

runner = CliRunner()
PACKAGE = Path(__file__).resolve().parents[1] / "reme" / "policy" / "shipped"
RECIPE = "training/recipes/default-policies.sh"
HEURISTIC_ENTRY = {"heuristic": True, "why": "no shipped checkpoint yet"}


def _ship(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rank: bool = True) -> tuple[Path, str]:
    """A copy of the shipped folder (its manifest) pointed at by ``REME_SHIPPED_DIR``; with ``rank``, its rank entry
    names a tiny head saved beside it. Returns ``(folder, rank version)`` (``""`` without a head)."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    manifest = {kind: dict(HEURISTIC_ENTRY) for kind in ("rank", "write", "compact")}
    version = ""
    if rank:
        version = MLPRankPolicy(hidden=4, init="heuristic").save(shipped / "rank-v1")
        manifest["rank"] = {"checkpoint": "rank-v1", "trained_by": RECIPE, "reme_version": "0.1.0", "figures": {}}
    (shipped / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setenv(SHIPPED_DIR_ENV, str(shipped))
    return shipped, version


def _decisions(ws: Path) -> list:
    return [e.record for e in read_records(ws / "trajectories") if e.record and e.record.type == "decision"]


def _history(ws: Path) -> list[dict]:
    path = ws / "policies" / "history.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def _search_once(ws: Path) -> None:
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        memory.add("Alice moved to Lisbon in May 2024.", "user:alice")
        memory.add("Alice is allergic to peanuts.", "user:alice")
        assert memory.search("Where does Alice live?", 2, "user:alice", min_score=-1)


def test_a_new_workspace_serves_the_shipped_checkpoint_registered_as_a_version(tmp_path, monkeypatch):
    _, version = _ship(tmp_path, monkeypatch)
    ws = tmp_path / "ws"
    _search_once(ws)
    rank = [d for d in _decisions(ws) if d.kind == "rank"]
    assert [(d.policy, d.version) for d in rank] == [("mlp-rank", version)]  # the real version, never "default"
    assert all(d.version != "default" for d in _decisions(ws))
    assert (ws / "policies" / version / "policy.safetensors").is_file()
    assert load_settings(ws).policies.rank == "default"  # reme.yaml still follows the shipped default
    (entry,) = _history(ws)
    assert entry["version"] == version and entry["source"] == "shipped" and entry["event"] == "register"
    assert entry["trained_by"] == RECIPE and entry["reme_version"]

    _search_once(ws)  # registered once: a second open neither copies nor logs again
    assert len(_history(ws)) == 1

    listed = json.loads(runner.invoke(app, ["policy", "list", "-w", str(ws), "--json", "-"]).stdout)
    (row,) = [r for r in listed if r["kind"] == "rank" and r["active"]]
    assert row["version"] == version and row["policy"] == "mlp-rank" and row["source"] == "shipped"
    assert RECIPE in row["detail"]
    text = runner.invoke(app, ["policy", "list", "-w", str(ws)]).stdout
    assert f"* rank     {version}" in text and "shipped default" in text

    # a shipped decision re-scores through the registry (the audit does this for every decision)
    policy = policy_for_record(ws, rank[0])
    assert policy.version == version
    assert abs(policy.logprob(policy.state_from_record(rank[0]), rank[0].action) - rank[0].logprob) < 1e-4
    r = runner.invoke(app, ["trajectories", "verify", "-w", str(ws)])
    assert r.exit_code == 0, r.output


def test_heuristic_in_reme_yaml_or_the_environment_serves_the_heuristic(tmp_path, monkeypatch):
    _, version = _ship(tmp_path, monkeypatch)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reme.yaml").write_text("policies:\n  rank: heuristic\n", encoding="utf-8")
    _search_once(ws)
    assert [d.policy for d in _decisions(ws) if d.kind == "rank"] == ["heuristic-fusion"]
    assert not (ws / "policies" / version).exists()
    listed = json.loads(runner.invoke(app, ["policy", "list", "-w", str(ws), "--json", "-"]).stdout)
    assert {"kind": "rank", "version": "heuristic", "policy": "heuristic", "active": True, "source": "heuristic",
            "detail": ""} in listed  # fmt: skip

    other = tmp_path / "other"
    monkeypatch.setenv("REME_POLICIES__RANK", "heuristic")
    with Memory(other, encoder=RandomEncoder(16)) as memory:
        assert isinstance(memory.rank_policy, HeuristicRankPolicy)


def test_activate_kind_default_serves_the_shipped_default_again(tmp_path, monkeypatch):
    _, version = _ship(tmp_path, monkeypatch)
    ws = tmp_path / "ws"
    _search_once(ws)
    r = runner.invoke(app, ["policy", "activate", "rank:heuristic", "-w", str(ws)])
    assert r.exit_code == 0 and load_settings(ws).policies.rank == "heuristic"
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        assert isinstance(memory.rank_policy, HeuristicRankPolicy)
    r = runner.invoke(app, ["policy", "activate", "rank:default", "-w", str(ws)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"rank: default ({version})" and load_settings(ws).policies.rank == "default"
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        assert isinstance(memory.rank_policy, GuardedPolicy) and memory.rank_policy.version == version
    r = runner.invoke(app, ["policy", "rollback", "--kind", "rank", "-w", str(ws)])
    assert r.exit_code == 0 and load_settings(ws).policies.rank == "heuristic"
    r = runner.invoke(app, ["policy", "rollback", "--kind", "rank", "-w", str(ws)])
    assert r.exit_code == 0 and load_settings(ws).policies.rank == "default"


def test_the_manifests_heuristic_form_serves_the_heuristic(tmp_path, monkeypatch):
    _ship(tmp_path, monkeypatch, rank=False)
    ws = tmp_path / "ws"
    _search_once(ws)
    rank = [d for d in _decisions(ws) if d.kind == "rank"]
    assert [d.policy for d in rank] == ["heuristic-fusion"] and rank[0].version == HeuristicRankPolicy().version
    assert not (ws / "policies").exists() or not any(p.is_dir() for p in (ws / "policies").iterdir())
    listed = json.loads(runner.invoke(app, ["policy", "list", "-w", str(ws), "--json", "-"]).stdout)
    for kind in ("rank", "write", "compact"):
        assert {"kind": kind, "version": "heuristic", "policy": "heuristic", "active": True, "source": "shipped",
                "detail": "no shipped checkpoint yet"} in listed  # fmt: skip
    r = runner.invoke(app, ["policy", "activate", "rank:default", "-w", str(ws)])
    assert r.exit_code == 0 and r.stdout.strip() == "rank: default (heuristic)"


@pytest.mark.parametrize("damage", ["weights", "missing-folder", "manifest"])
def test_a_corrupt_shipped_default_is_an_error_or_a_warned_fallback(tmp_path, monkeypatch, caplog, damage):
    shipped, version = _ship(tmp_path, monkeypatch)
    if damage == "weights":
        weights = shipped / "rank-v1" / "policy.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:]))  # not the weights the version hashes
        expected = str(shipped / "rank-v1")
    elif damage == "missing-folder":
        shutil.rmtree(shipped / "rank-v1")
        expected = str(shipped / "rank-v1")
    else:
        (shipped / MANIFEST).write_text("{not json", encoding="utf-8")
        expected = str(shipped / MANIFEST)
    ws = tmp_path / "ws"
    with pytest.raises(PolicyError, match="cannot serve") as raised:
        Memory(ws, encoder=RandomEncoder(16))
    assert expected in str(raised.value)
    r = runner.invoke(app, ["eval", "retrieval", "--dataset", "unused.json", "--policy", "default"])
    assert r.exit_code != 0 and expected in r.stderr and "Traceback" not in r.output
    assert not (ws / "policies" / version).exists()

    (ws / "reme.yaml").write_text("policies:\n  on_failure: heuristic\n", encoding="utf-8")
    before = FALLBACKS["rank:load"]
    with caplog.at_level(logging.WARNING, logger="reme.policy.guard"):
        memory = Memory(ws, encoder=RandomEncoder(16))
    with memory:
        assert isinstance(memory.rank_policy, HeuristicRankPolicy)
    assert FALLBACKS["rank:load"] == before + 1 and expected in caplog.text
    listed = json.loads(runner.invoke(app, ["policy", "list", "-w", str(ws), "--json", "-"]).stdout)
    assert [r["version"] for r in listed if r["kind"] == "rank" and r["active"]] == ["heuristic"]
    assert any(r["version"] == "default" and r["policy"].startswith("unusable:") for r in listed)


@pytest.mark.parametrize(
    "manifest",
    [
        {"rank": HEURISTIC_ENTRY, "write": HEURISTIC_ENTRY},  # a kind missing
        {"rank": {"heuristic": True}, "write": HEURISTIC_ENTRY, "compact": HEURISTIC_ENTRY},  # no why
        {
            "rank": {"checkpoint": "../up", "trained_by": RECIPE, "reme_version": "0.1.0"},
            "write": HEURISTIC_ENTRY,
            "compact": HEURISTIC_ENTRY,
        },
        {
            "rank": {"checkpoint": "absent", "trained_by": RECIPE, "reme_version": "0.1.0"},
            "write": HEURISTIC_ENTRY,
            "compact": HEURISTIC_ENTRY,
        },
        {"rank": {**HEURISTIC_ENTRY, "checkpoint": "rank-v1"}, "write": HEURISTIC_ENTRY, "compact": HEURISTIC_ENTRY},
        [],
    ],
)
def test_a_malformed_manifest_is_a_workspace_error_naming_it(tmp_path, manifest):
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(WorkspaceError, match=re.escape(str(tmp_path / MANIFEST))):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).unlink()
    with pytest.raises(WorkspaceError, match="no shipped-policy manifest"):
        read_manifest(tmp_path)


def test_eval_policy_default_loads_the_shipped_default_of_each_kind(tmp_path, monkeypatch):
    _, version = _ship(tmp_path, monkeypatch)
    data = tmp_path / "synthetic.json"
    assert runner.invoke(app, ["datasets", "synth", "--out", str(data), "--conversations", "1"]).exit_code == 0
    out = tmp_path / "eval.json"
    r = runner.invoke(
        app, ["eval", "retrieval", "--dataset", str(data), "--policy", "default", "--policy", "heuristic",
              "--json", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert set(json.loads(out.read_text())["results"]) == {f"default({version})", "heuristic"}
    assert set(_labelled(["default"], load_write_policy, "write", "store-all")) == {"default(store-all)"}
    assert set(_labelled(["default", "heuristic"], load_compact_policy, "compact")) == {
        "default(heuristic)",
        "heuristic",
    }


def test_the_packaged_manifest_parses_and_every_checkpoint_it_names_loads_and_ships(monkeypatch):
    monkeypatch.delenv(SHIPPED_DIR_ENV, raising=False)
    entries = read_manifest()  # the package's own folder
    assert set(entries) == {"rank", "write", "compact"}
    patterns = tomllib.loads((PACKAGE.parents[2] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "reme.policy.shipped"
    ]

    def shipped(relative: str) -> bool:
        return any(fnmatch.fnmatch(relative, p) for p in patterns)

    assert shipped(MANIFEST) and shipped("rank-v1/policy.json") and shipped("rank-v1/policy.safetensors")
    for kind, entry in entries.items():
        if entry.heuristic:
            assert entry.why
            continue
        assert entry.checkpoint is not None and entry.trained_by and entry.reme_version
        policy = load_checkpoint_dir(entry.checkpoint)
        assert policy.kind == kind
        for path in entry.checkpoint.iterdir():
            assert shipped(path.relative_to(PACKAGE).as_posix()), f"{path} would not be in the wheel"


def test_a_wheel_carries_the_shipped_folder(tmp_path):
    """Built offline from a copy of the source (with a probe checkpoint beside the real ones): every file of
    ``reme/policy/shipped`` is in the wheel."""
    import importlib.util
    import subprocess
    import sys
    import zipfile

    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: no offline wheel build")
    source = tmp_path / "src"
    root = PACKAGE.parents[2]
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "reme", source / "reme", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    MLPRankPolicy(hidden=4).save(source / "reme" / "policy" / "shipped" / "probe-v1")
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w",
         str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    folder = source / "reme" / "policy" / "shipped"
    expected = {p.relative_to(source).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "reme/policy/shipped/probe-v1/policy.safetensors" in expected
    assert expected <= names, sorted(expected - names)
