"""Policy safety (``reme.policy.guard``): a learned policy whose checkpoint is missing, corrupt, of another feature
version, or whose scores are non-finite is refused (``PolicyError``) or, with ``policies.on_failure: heuristic``,
replaced by the heuristic with a warning and a counter; a non-finite log-probability is never recorded."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from reme.memory import Memory
from reme.policy.guard import FALLBACKS, GuardedPolicy, PolicyError
from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.registry import activate
from reme.policy.trajectory import read_records
from reme.retrieval.embedding import RandomEncoder


def _workspace(tmp_path: Path, policy: MLPRankPolicy, on_failure: str, checked: bool = True) -> Path:
    """A workspace with two memories whose rank policy is ``policy``: activated from a checkpoint (``checked``), or
    written into the registry as a release that did not check checkpoints at activation would have left it (the
    guard must still refuse it when the workspace opens)."""
    ws = tmp_path / "ws"
    memory = Memory(ws, encoder=RandomEncoder(16))
    memory.add("Alice moved to Lisbon in May 2024.", "user:alice")
    memory.add("Alice is allergic to peanuts.", "user:alice")
    memory.close()
    if checked:
        policy.save(tmp_path / "ckpt")
        _, version = activate(ws, str(tmp_path / "ckpt"))
    else:
        version = policy.save(tmp_path / "ckpt")
        policy.save(ws / "policies" / version)
        (ws / "reme.yaml").write_text(f"policies:\n  rank: {version}\n", encoding="utf-8")
    (ws / "version.txt").write_text(version, encoding="utf-8")
    settings = (ws / "reme.yaml").read_text(encoding="utf-8")
    (ws / "reme.yaml").write_text(settings.replace("policies:", f"policies:\n  on_failure: {on_failure}"), "utf-8")
    return ws


def _logprobs(ws: Path) -> list[float | None]:
    return [e.record.logprob for e in read_records(ws / "trajectories") if e.record and e.record.type == "decision"]


def test_a_sound_learned_policy_is_guarded_and_decides(tmp_path):
    ws = _workspace(tmp_path, MLPRankPolicy(hidden=4), "error")
    memory = Memory(ws, encoder=RandomEncoder(16))
    assert isinstance(memory.rank_policy, GuardedPolicy) and memory.rank_policy.name == "mlp-rank"
    hits = memory.search("Where does Alice live?", 2, "user:alice", min_score=-1)
    assert len(hits) == 2 and {h.memory.memory_target for h in hits} == {"user:alice"}
    decision = memory.decision(hits[0].decision_id)
    assert decision.kind == "rank"
    memory.close()
    logged = [e.record for e in read_records(ws / "trajectories") if e.record and e.record.type == "decision"]
    assert logged[-1].policy == "mlp-rank" and logged[-1].logprob is not None  # the guarded head decided


@pytest.mark.parametrize("damage", ["missing", "truncated", "features"])
def test_a_policy_that_cannot_load_is_refused_or_replaced(tmp_path, caplog, damage):
    policy = MLPRankPolicy(RANK_FEATURES[:-1], hidden=4) if damage == "features" else MLPRankPolicy(hidden=4)
    ws = _workspace(tmp_path, policy, "error", checked=damage != "features")
    version_dir = ws / "policies" / (ws / "version.txt").read_text(encoding="utf-8")
    if damage == "missing":
        for path in version_dir.iterdir():
            path.unlink()
        version_dir.rmdir()
    elif damage == "truncated":
        weights = version_dir / "policy.safetensors"
        weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(PolicyError, match="cannot serve"):
        Memory(ws, encoder=RandomEncoder(16))

    (ws / "reme.yaml").write_text((ws / "reme.yaml").read_text().replace("on_failure: error", "on_failure: heuristic"))
    before = FALLBACKS["rank:load"]
    with caplog.at_level(logging.WARNING, logger="reme.policy.guard"):
        memory = Memory(ws, encoder=RandomEncoder(16))
    assert isinstance(memory.rank_policy, HeuristicRankPolicy)
    assert FALLBACKS["rank:load"] == before + 1 and "the heuristic serves rank decisions" in caplog.text
    hits = memory.search("Where does Alice live?", 2, "user:alice", min_score=-1)
    assert len(hits) == 2
    memory.close()
    logged = [e.record for e in read_records(ws / "trajectories") if e.record and e.record.type == "decision"]
    assert logged[-1].kind == "rank" and logged[-1].policy == "heuristic-fusion"  # the fallback decided


def test_non_finite_scores_are_refused_or_replaced_and_never_logged(tmp_path, caplog):
    broken = MLPRankPolicy(hidden=4)
    with torch.no_grad():
        for p in broken.head.parameters():
            p.fill_(float("nan"))
    # in the registry (left by a release that did not check at activation), NaN weights are refused at load
    ws = _workspace(tmp_path, broken, "error", checked=False)
    with pytest.raises(PolicyError, match="cannot serve"):
        Memory(ws, encoder=RandomEncoder(16))
    (ws / "reme.yaml").write_text("policies:\n  rank: heuristic\n", encoding="utf-8")

    # a policy given in code reaches decisions, where its NaN scores are refused
    memory = Memory(ws, encoder=RandomEncoder(16), rank_policy=GuardedPolicy(broken, "rank", "error"))
    with pytest.raises(PolicyError, match="failed to decide"):
        memory.search("Where does Alice live?", 2, "user:alice", min_score=-1)
    memory.close()

    guarded = GuardedPolicy(broken, "rank", "heuristic")
    memory = Memory(ws, encoder=RandomEncoder(16), rank_policy=guarded)
    before = FALLBACKS["rank:decide"]
    with caplog.at_level(logging.WARNING, logger="reme.policy.guard"):
        decision, hits = memory.search_with_decision("Where does Alice live?", 2, "user:alice", min_score=-1)
    assert hits and decision.policy == HeuristicRankPolicy().name
    assert decision.extra["fallback_from"] == broken.version
    assert guarded.fallbacks == 1 and FALLBACKS["rank:decide"] == before + 1
    assert "failed to decide" in caplog.text
    memory.close()
    logprobs = _logprobs(ws)
    assert logprobs and all(lp is None or math.isfinite(lp) for lp in logprobs)
