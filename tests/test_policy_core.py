import json

import numpy as np
import pytest
from fusion_ranker import FusionRanker, rank
from typer.testing import CliRunner

from reme.cli import app
from reme.memory import Memory
from reme.policy.decision import Decision
from reme.policy.rank import MLPRankPolicy
from reme.policy.rewards import join_rewards
from reme.policy.trajectory import RewardEvent, TrajectoryLog, read_records
from reme.retrieval.embedding import RandomEncoder
from reme.settings import TrajectorySettings, WorkspaceSettings, load_settings

runner = CliRunner()


def _fill(mem: Memory, n_adds: int = 200, n_searches: int = 50) -> None:
    for i in range(n_adds):
        mem.add(f"note {i}: the {['red', 'blue', 'green'][i % 3]} fox visited town {i % 17}")
    for i in range(n_searches):
        mem.search(f"which fox visited town {i % 17}", limit=5, min_score=0.0)


def test_heuristic_policy_search_equals_the_core_ranker(tmp_path, minilm):
    with Memory(tmp_path, encoder=minilm) as mem:
        mem.add_many([f"Caroline said fact number {i} about {w}" for i, w in enumerate("abcdefghij" * 6)])
        for query in ("fact about c", "what did Caroline say", "number 17"):
            hits = mem.search(query, limit=7, min_score=0.0)
            cands = mem.candidates(query, mem.retrieval.candidates_for(7))
            order, scores = rank(FusionRanker(), cands, 7)
            by_seq = mem.records.get_by_seqs(cands.ids[order].tolist())
            assert [h.memory.memory_id for h in hits] == [by_seq[int(s)].memory_id for s in cands.ids[order]]
            np.testing.assert_allclose([h.policy_score for h in hits], scores, atol=1e-9)
            np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-9)  # the heuristic's is the fused


class _CountingRanker(MLPRankPolicy):
    """A learned head that counts how often a search asks it for scores."""

    calls = 0

    def scores(self, state):
        type(self).calls += 1
        return super().scores(state)


def test_a_search_asks_its_policy_once_and_keeps_the_scores_out_of_the_log(tmp_path):
    from reme.policy.rank_features import RANK_FEATURES

    policy = _CountingRanker(RANK_FEATURES, hidden=4, seed=0)
    with Memory(tmp_path, encoder=RandomEncoder(dim=16)) as mem:
        mem.add_many([f"note {i} about topic {i % 5}" for i in range(30)])
        _CountingRanker.calls = 0
        decision, hits = mem.search_with_decision("topic 3", limit=5, min_score=-1.0, policy=policy)
        assert _CountingRanker.calls == 1 and len(hits) == 5
        assert decision.scores is not None
        np.testing.assert_allclose([h.policy_score for h in hits], decision.scores[list(decision.action)[:5]])
        # score keeps ReMe's one scale under a learned head: the fused relevance, in [0, 1], that min_score reads
        fused = [0.7 * (h.vector_score or 0.0) + 0.3 * (h.keyword_score or 0.0) for h in hits]
        np.testing.assert_allclose([h.score for h in hits], fused, atol=1e-6)
        assert all(h.score <= 1.0 for h in hits)
        assert [h.score for h in hits] != [h.policy_score for h in hits]
        assert [h.rank for h in hits] == list(range(5))  # the order is the head's
    lines = [e.record for e in read_records(tmp_path / "trajectories")]
    logged = [r for r in lines if isinstance(r, Decision) and r.decision_id == decision.decision_id]
    assert len(logged) == 1 and logged[0].scores is None and "scores" not in logged[0].model_dump()


def test_200_adds_50_searches_verify_and_stats(tmp_path):
    ws = tmp_path / "ws"
    with Memory(ws, encoder=RandomEncoder(32), seed=0) as mem:
        _fill(mem)
    r = runner.invoke(app, ["trajectories", "verify", "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["trajectories", "stats", "--workspace", str(ws), "--json", "-"])
    stats = json.loads(r.stdout)
    assert stats["decisions"] == {"write": 200, "rank": 50}
    assert stats["modes"] == {"sample": 0, "greedy": 250}
    assert all(v <= 0 for v in stats["mean_logprob"].values())
    assert stats["untrainable"] == 0 and stats["rewards"] == 0
    # corrupt one line of the segment: verify names the file and line and fails
    segment = next((ws / "trajectories").glob("segment-*.jsonl"))
    lines = segment.read_text().splitlines(keepends=True)
    lines[41] = lines[41][:30] + "\n"
    record = json.loads(lines[100])
    record["logprob"] = -123.0  # a tampered propensity
    lines[100] = json.dumps(record) + "\n"
    segment.write_text("".join(lines))
    r = runner.invoke(app, ["trajectories", "verify", "--workspace", str(ws)])
    assert r.exit_code == 1
    assert f"trajectories/{segment.name}:42: invalid JSON" in r.stdout
    assert f"trajectories/{segment.name}:101:" in r.stdout and "re-scores to" in r.stdout


def test_sample_mode_and_learned_policy_replay_through_the_registry(tmp_path, seed_style_cache):
    ws = tmp_path / "ws"
    ckpt = tmp_path / "ckpt"
    version = MLPRankPolicy(seed=1).save(ckpt)
    with Memory(ws, encoder=RandomEncoder(32)) as mem:
        mem.add("bootstrap memory")
    seed_style_cache(ws)
    # a random head loses to the heuristic on the evaluation styles (the style gate): forced, as this test serves it
    r = runner.invoke(app, ["policy", "activate", str(ckpt), "--workspace", str(ws)])
    assert r.exit_code == 1 and "evaluation style" in r.stderr
    r = runner.invoke(app, ["policy", "activate", str(ckpt), "--force", "--workspace", str(ws)])
    assert r.exit_code == 0 and r.stdout.strip() == f"rank: {version}"
    assert load_settings(ws).policies.rank == version
    settings = WorkspaceSettings(mode="sample", policies=load_settings(ws).policies)
    with Memory(ws, encoder=RandomEncoder(32), settings=settings, seed=7) as mem:
        assert isinstance(mem.rank_policy.policy, MLPRankPolicy)  # GuardedPolicy wraps the loaded head
        _fill(mem, 40, 20)
    r = runner.invoke(app, ["trajectories", "verify", "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    stats = json.loads(runner.invoke(app, ["trajectories", "stats", "-w", str(ws), "--json", "-"]).stdout)
    assert stats["policies"][f"mlp-rank@{version}"] == 20 and stats["modes"] == {"sample": 60, "greedy": 1}
    listed = json.loads(runner.invoke(app, ["policy", "list", "-w", str(ws), "--json", "-"]).stdout)
    row = {"kind": "rank", "version": version, "policy": "mlp-rank", "active": True, "source": "directory"}
    assert {**row, "detail": str(ckpt.resolve())} in listed
    r = runner.invoke(app, ["policy", "rollback", "--kind", "rank", "-w", str(ws)])
    assert r.exit_code == 0 and load_settings(ws).policies.rank == "default"


def test_missing_or_corrupt_active_checkpoint_is_an_error(tmp_path):
    ws = tmp_path / "ws"
    with Memory(ws, encoder=RandomEncoder(8)):
        pass
    (ws / "reme.yaml").write_text("policies:\n  rank: 0123456789abcdef\n")
    r = runner.invoke(app, ["search", "anything", "-w", str(ws)])
    assert r.exit_code == 1 and "not in the registry" in r.stderr
    (ws / "reme.yaml").write_text("policies: [oops\n")
    r = runner.invoke(app, ["list", "-w", str(ws)])
    assert r.exit_code == 1 and "reme.yaml" in r.stderr


def test_feedback_is_joined_to_decisions_and_writes(tmp_path):
    ws = tmp_path / "ws"
    with Memory(ws, encoder=RandomEncoder(16)) as mem:
        stored = mem.add("the meeting moved to Friday")
        hits = mem.search("meeting", min_score=0.0)
    r = runner.invoke(app, ["feedback", "--decision", hits[0].decision_id, "--value", "1", "-w", str(ws)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["feedback", "--memory", stored.memory_id, "--value", "0.5", "-w", str(ws)])
    assert r.exit_code == 0
    for bad in (
        ["--value", "nan", "--memory", stored.memory_id],
        ["--value", "1"],
        ["--value", "1", "--memory", "nope"],
    ):
        assert runner.invoke(app, ["feedback", "-w", str(ws), *bad]).exit_code == 2
    stats = json.loads(runner.invoke(app, ["trajectories", "stats", "-w", str(ws), "--json", "-"]).stdout)
    assert stats["rewards"] == 2 and stats["rewards_joined"] == 2


def _decision(kind, action, mids=(), did=None):
    d = Decision(kind=kind, policy="p", version="v", mode="sample", action=action, logprob=-0.5, memory_ids=list(mids))
    if did:
        d.decision_id = did
    return d


def test_credit_rules():
    w1 = _decision("write", "store", ["m1"], "w1")
    w2 = _decision("write", "store", ["m2"], "w2")
    w3 = _decision("write", "discard", [], "w3")
    r1 = _decision("rank", [0, 1], ["m1", "m2"], "r1")
    r_unrewarded = _decision("rank", [0], ["m1"], "r2")
    events = [
        RewardEvent(reward_id="a", memory_id="m1", value=1.0),  # m1's writer is 2 writes back: gamma ** 2
        RewardEvent(reward_id="b", decision_id="r1", value=2.0),
        RewardEvent(reward_id="c", memory_id="unknown", value=5.0),
    ]
    records = [w1, w2, w3, r1, r_unrewarded, *events]
    for record in records:  # every record on day 0, the last one a day later: each stored memory lives one day
        record.time = "2024-01-01T00:00:00+00:00"
    events[-1].time = "2024-01-02T00:00:00+00:00"
    report = join_rewards(records, gamma=0.5, storage_cost_per_day=0.1)
    returns = {s.decision.decision_id: s.ret for s in report.samples}
    # r1's reward also reaches the writers of its top k (m1, m2), discounted by the writes after each: w1 averages
    # the memory reward 0.25 and the search's 2 * 0.5 ** 2; w2 gets 2 * 0.5 ** 1; each pays one memory-day
    assert returns == pytest.approx({"w1": (0.25 + 0.5) / 2 - 0.1, "w2": 1.0 - 0.1, "w3": 0.0, "r1": 2.0})
    assert report.rewards == 3 and report.rewards_joined == 2 and report.unmatched_reward_ids == ["c"]


def test_logging_off_writes_nothing_and_rotation(tmp_path, monkeypatch):
    off = WorkspaceSettings(trajectories=TrajectorySettings(enabled=False))
    with Memory(tmp_path / "a", encoder=RandomEncoder(8), settings=off) as mem:
        _fill(mem, 10, 3)
    assert not list((tmp_path / "a" / "trajectories").glob("*.jsonl"))
    log = TrajectoryLog(tmp_path / "t", segment_bytes=4096)
    for i in range(40):
        log.append(RewardEvent(reward_id=str(i), decision_id="d", value=float(i)))
    log.close()
    segments = sorted((tmp_path / "t").glob("segment-*.jsonl"))
    assert len(segments) > 1
    assert [int(e.record.reward_id) for e in read_records(tmp_path / "t")] == list(range(40))
    monkeypatch.setenv("REME_POLICIES__RANK", "0123456789abcdef")
    monkeypatch.setenv("REME_MODE", "sample")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "reme.yaml").write_text("mode: greedy\ntrajectories:\n  enabled: false\n")
    s = load_settings(tmp_path / "b")
    assert s.policies.rank == "0123456789abcdef" and s.mode == "sample" and s.trajectories.enabled is False


def test_torn_last_line_is_reported_not_fatal(tmp_path):
    log = TrajectoryLog(tmp_path)
    for i in range(3):
        log.append(RewardEvent(reward_id=str(i), decision_id="d", value=1.0))
    log.close()
    segment = next(tmp_path.glob("segment-*.jsonl"))
    with segment.open("ab") as fh:
        fh.write(b'{"type": "reward", "schema_ver')
    entries = list(read_records(tmp_path))
    assert [e.record.reward_id for e in entries[:3]] == ["0", "1", "2"]
    assert entries[3].error == "truncated record (no end of line)"


def test_policies_given_in_code_are_replayable(tmp_path):
    from reme.policy.rank import HeuristicRankPolicy
    from reme.policy.write import HeuristicWritePolicy
    from reme.policy.write_mlp import MLPWritePolicy

    ws = tmp_path / "ws"
    with Memory(
        ws,
        encoder=RandomEncoder(16),
        rank_policy=MLPRankPolicy(seed=9),  # copied into the registry on open
        write_policy=HeuristicWritePolicy(temperature=0.3),  # a non-default heuristic: params recorded
    ) as mem:
        _fill(mem, 30, 10)
    with Memory(
        ws, encoder=RandomEncoder(16), rank_policy=HeuristicRankPolicy(temperature=0.2), write_policy=MLPWritePolicy()
    ) as mem:
        _fill(mem, 20, 5)  # the learned writer sees each candidate's nearest memory
    r = runner.invoke(app, ["trajectories", "verify", "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    stats = json.loads(runner.invoke(app, ["trajectories", "stats", "-w", str(ws), "--json", "-"]).stdout)
    assert stats["decisions"] == {"write": 50, "rank": 15}
    assert len(stats["policies"]) == 4


class _DiscardAll:
    """A write policy that discards everything (any object with the protocol's methods can serve)."""

    kind = "write"
    name = "discard-all"
    version = "0"

    def decide(self, state, mode="greedy", rng=None):
        return Decision(kind="write", policy=self.name, version=self.version, mode=mode, action="discard", logprob=0.0)


def test_discarded_memories_are_not_written_and_search_always_names_its_decision(tmp_path):
    with Memory(tmp_path, encoder=RandomEncoder(8), write_policy=_DiscardAll()) as mem:
        assert mem.add("never stored") is None
        assert mem.add_many(["a", "b"]) == [] and mem.count() == 0
        decision, hits = mem.search_with_decision("anything", min_score=0.0)
        assert hits == [] and decision.kind == "rank" and decision.action == []
    r = runner.invoke(app, ["search", "nothing here", "-w", str(tmp_path), "--json", "-"])
    assert r.exit_code == 0 and json.loads(r.stdout)["decision_id"] is not None


def test_activating_a_path_that_does_not_exist_says_so(tmp_path):
    """Issue 24.10: a checkpoint path with a typo is a bad argument (exit 2) naming the path, not a registry miss."""
    ws = tmp_path / "ws"
    with Memory(ws, encoder=RandomEncoder(8)):
        pass
    for source in ("/no/such/ckpt", "./runs/rank", "~/ckpt"):
        r = runner.invoke(app, ["policy", "activate", source, "-w", str(ws)])
        assert r.exit_code == 2 and f"no checkpoint folder at {source}" in r.stderr, r.output
    r = runner.invoke(app, ["policy", "activate", "0123456789abcdef", "-w", str(ws)])
    assert r.exit_code == 1 and "not in the registry" in r.stderr  # a version name is still looked up
