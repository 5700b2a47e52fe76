"""The write environment: budgets, the reward join, the paced learned policy, GRPO, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reme.datasets import generate_synthetic, parse_locomo
from reme.envs.write import (
    WRITE_BASELINES,
    WriteEnvConfig,
    WriteEpisode,
    WriteRollout,
    evaluate_write,
    load_write_policy,
    run_write,
)
from reme.errors import BadInputError
from reme.policy.decision import Decision
from reme.policy.write import NoveltyLengthWritePolicy, RandomWritePolicy, WriteStream, make_write_state
from reme.policy.write_features import WRITE_FEATURES
from reme.policy.write_mlp import PacedMLPWritePolicy
from reme.retrieval.embedding import RandomEncoder
from reme.schema import Episode, Question, Turn
from reme.train.write_grpo import WriteGRPOConfig, train_write_policy


@pytest.fixture(scope="module")
def episodes():
    raw, _ = parse_locomo(generate_synthetic(2, sessions=3, seed=11), "synthetic")
    return [WriteEpisode.build(ep, RandomEncoder(16)) for ep in raw]


def all_policies():
    return [NoveltyLengthWritePolicy(), RandomWritePolicy(), load_write_policy("store-all"), PacedMLPWritePolicy(8, 3)]


@settings(max_examples=15, deadline=None)
@given(budget=st.floats(0.02, 1.0), seed=st.integers(0, 2**16), which=st.integers(0, 3))
def test_budget_is_never_exceeded(episodes, budget, seed, which):
    episode = episodes[seed % len(episodes)]
    config = WriteEnvConfig(budget=budget)
    out = run_write(episode, all_policies()[which], config, "sample", np.random.default_rng(seed))
    stored = sum(d.action == "store" for d in out.decisions)
    assert stored <= episode.budget_count(budget)
    assert out.stored_fraction <= max(budget, 1 / episode.n) + 1e-9
    for state, decision in zip(out.states, out.decisions):
        assert decision.action in state.allowed


def test_greedy_heuristic_spends_about_its_budget(episodes):
    for budget in (0.1, 0.3, 0.6):
        out = run_write(episodes[0], NoveltyLengthWritePolicy(), WriteEnvConfig(budget=budget))
        assert abs(out.stored_fraction - budget) < 0.05


def _tiny_episode() -> WriteEpisode:
    turns = [
        Turn(turn_id=f"D1:{i}", session_id="s1", session_index=0, turn_index=i, speaker="A", text=text)
        for i, text in enumerate(["alpha apples", "beta bananas", "gamma grapes", "delta dates"])
    ]
    questions = [
        Question(question_id="q1", question="alpha apples", category="4", evidence=["D1:0"]),
        Question(question_id="q2", question="gamma grapes", category="4", evidence=["D1:2", "D1:3"]),
    ]
    episode = Episode(episode_id="tiny", format="locomo", turns=turns, questions=questions)
    return WriteEpisode.build(episode, RandomEncoder(8), text_format="plain")


class Scripted:
    """Stores the candidates named in ``store`` (a test double of the policy protocol)."""

    kind = "write"
    name = "scripted"
    version = "test"

    def __init__(self, store):
        self.store = set(store)

    def decide(self, state, mode="greedy", rng=None):
        i = self.calls = getattr(self, "calls", -1) + 1
        action = "store" if i in self.store and "store" in state.allowed else "discard"
        return Decision(kind="write", policy=self.name, version=self.version, mode=mode, action=action, logprob=0.0)


def test_reward_join_credits_only_stored_and_retrieved_memories():
    episode = _tiny_episode()
    out = run_write(episode, Scripted({0, 3}), WriteEnvConfig(budget=1.0, k=1, storage_cost=0.25))
    # q1 finds D1:0 at rank 1 (identical text); q2 can only find D1:3 (D1:2 was discarded)
    assert out.recall["recall@10"] == pytest.approx((1.0 + 0.5) / 2)
    stored_ids = {mid for d in out.decisions if d.action == "store" for mid in d.memory_ids}
    assert {r.memory_id for r in out.rewards} <= stored_ids
    for decision, ret in zip(out.decisions, out.returns):
        if decision.action == "discard":
            assert ret == 0.0
    assert out.returns[0] == pytest.approx(1.0 - 0.25)  # used once with value 1, minus the storage cost
    assert out.returns[2] == 0.0
    credited = {r.memory_id for r in out.rewards}
    for decision, ret in zip(out.decisions, out.returns):
        if decision.action == "store" and decision.memory_ids[0] not in credited:
            assert ret == pytest.approx(-0.25)  # stored, never retrieved: only the cost


def test_update_supersedes_in_place():
    episode = _tiny_episode()
    rollout = WriteRollout(episode, WriteEnvConfig(budget=0.25))  # one memory allowed
    assert rollout.step(Scripted({0})).action == "store"
    seen = []

    class Updater:
        kind, name, version = "write", "u", "t"

        def decide(self, state, mode="greedy", rng=None):
            seen.append(state.allowed)
            return Decision(kind="write", policy="u", version="t", mode=mode, action="update", logprob=0.0)

    decision = rollout.step(Updater())
    assert seen == [("discard", "update")]  # the budget is spent: no store, but an update needs none
    assert decision.action == "update" and decision.memory_ids == ["tiny:m0"] and rollout.slots == [1]


def test_paced_policy_rescores_its_records_exactly(episodes):

    policy = PacedMLPWritePolicy(hidden=8, seed=1)
    out = run_write(episodes[0], policy, WriteEnvConfig(budget=0.3), "sample", np.random.default_rng(0))
    records = [Decision.model_validate_json(d.model_dump_json()) for d in out.decisions[:40]]
    for record in records:
        state = policy.state_from_record(record)
        assert policy.logprob(state, record.action) == pytest.approx(record.logprob, abs=1e-12)
    states = [policy.state_from_record(r) for r in records]
    torch_logp = policy.logprob_torch(states, [r.action for r in records]).detach().numpy()
    np.testing.assert_allclose(torch_logp, [r.logprob for r in records], atol=1e-9)
    assert states[5].reference is not None and states[5].reference.shape == (5, len(WRITE_FEATURES))


def test_stream_features():
    stream = WriteStream(budget=2, expected=4)
    first = make_write_state("a much longer first text", stream=stream)
    second = make_write_state("short", nearest_memory_id="m", nearest_similarity=0.2, nearest_text="x", stream=stream)
    col = {name: i for i, name in enumerate(WRITE_FEATURES)}
    assert first.features[col["length_percentile"]] == 1.0 and second.features[col["length_percentile"]] == 0.5
    assert first.features[col["budget_rate"]] == pytest.approx(2 / 4)
    stream.record("store")
    third = make_write_state("x", stream=stream)
    assert third.features[col["budget_rate"]] == pytest.approx(1 / 2)
    assert make_write_state("x").features[col["budget_rate"]] == 1.0  # outside a stream: neutral


def test_evaluate_write_shape_and_errors(episodes):
    policies = {label: load_write_policy(label) for label in WRITE_BASELINES}
    result = evaluate_write(episodes, policies, WriteEnvConfig(budget=0.3))
    assert set(result["results"]) == set(WRITE_BASELINES)
    for values in result["results"].values():
        assert set(values) == {"recall@5", "recall@10", "stored_fraction"}
        assert 0.0 <= values["recall@5"] <= values["recall@10"] <= 1.0
    assert result["queries"] == sum(len(e.questions) for e in episodes)
    for bad in (0.0, 1.5, -1, float("nan")):
        with pytest.raises(BadInputError):
            WriteEnvConfig(budget=bad)
    with pytest.raises(BadInputError):
        load_write_policy("nonsense")


def test_train_write_policy_writes_a_checkpoint(episodes, tmp_path):
    config = WriteGRPOConfig(steps=2, group_size=2, groups_per_step=1, window=8, eval_every=1, clone_steps=5)
    metrics = train_write_policy(episodes[:1], episodes[1:], tmp_path / "ckpt", config)
    for name in ("policy.safetensors", "policy.json", "metrics.json", "curves.png"):
        assert (tmp_path / "ckpt" / name).is_file()
    policy = load_write_policy(str(tmp_path / "ckpt"))
    assert isinstance(policy, PacedMLPWritePolicy) and policy.version == metrics["version"]
    assert json.loads((tmp_path / "ckpt" / "metrics.json").read_text())["validation"][0]["step"] == 0


def test_write_grpo_with_several_epochs_and_a_kl_term_moves_less_than_without(episodes, tmp_path):
    """The ratio, clip and KL terms of ``grpo_loss`` in the write trainer: several passes per batch move the
    weights, and a KL term towards the cloned start keeps them closer to it."""
    import torch

    base = dict(steps=3, group_size=2, groups_per_step=1, window=8, eval_every=3, clone_steps=5, lr=0.05)
    start = train_write_policy(
        episodes[:1], [], tmp_path / "start", WriteGRPOConfig(**{**base, "steps": 1, "lr": 1e-12})
    )
    free = train_write_policy(episodes[:1], [], tmp_path / "free", WriteGRPOConfig(**base, update_epochs=3))
    tied = train_write_policy(episodes[:1], [], tmp_path / "tied", WriteGRPOConfig(**base, update_epochs=3, beta=50.0))
    assert len({start["version"], free["version"], tied["version"]}) == 3

    def weights(name):
        return torch.cat([p.flatten() for p in load_write_policy(str(tmp_path / name)).module.parameters()])

    w0 = weights("start")
    assert (weights("tied") - w0).norm() < (weights("free") - w0).norm()
    for bad in ({"update_epochs": 0}, {"epsilon": 0.0}, {"beta": -1.0}):
        with pytest.raises(BadInputError):
            WriteGRPOConfig(**bad)


def test_cli_eval_write_and_compaction(tmp_path):
    from reme.cli import app
    from reme.datasets import write_synthetic

    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=1, sessions=2, seed=4)
    runner = CliRunner()
    out = tmp_path / "w.json"
    result = runner.invoke(app, ["eval", "write", "--dataset", str(data), "--budget", "0.3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert set(payload["results"]) == {"novelty-length", "store-all", "random"} and payload["budget"] == 0.3
    out = tmp_path / "c.json"
    result = runner.invoke(app, ["eval", "compaction", "--dataset", str(data), "--budget", "0.2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    values = json.loads(out.read_text())["results"]["heuristic"]
    assert {"evidence_reachable", "kept_token_fraction", "budget_unmet"} <= set(values)
    result = runner.invoke(app, ["eval", "write", "--dataset", str(data), "--budget", "1.5"])
    assert result.exit_code == 2 and "budget" in result.output


def test_budget_policies_rebuild_from_their_records(tmp_path, episodes):
    from reme.policy.registry import ensure_registered, policy_for_record

    learned = PacedMLPWritePolicy(hidden=4, seed=2)
    ensure_registered(tmp_path, learned)
    for policy in (NoveltyLengthWritePolicy(novelty_weight=0.3), RandomWritePolicy(), learned):
        out = run_write(episodes[0], policy, WriteEnvConfig(budget=0.3), "sample", np.random.default_rng(1))
        record = Decision.model_validate_json(out.decisions[7].model_dump_json())
        rebuilt = policy_for_record(tmp_path, record)
        assert rebuilt.version == policy.version
        assert rebuilt.logprob(rebuilt.state_from_record(record), record.action) == pytest.approx(record.logprob)


def test_cli_train_policy_write_and_compact(tmp_path):
    from reme.cli import app
    from reme.datasets import write_synthetic

    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=2, seed=1)
    runner = CliRunner()
    for decision in ("write", "compact"):
        out = tmp_path / decision
        args = ["train-policy", "--decision", decision, "--dataset", str(data), "--val-fraction", "0.5"]
        result = runner.invoke(app, [*args, "--steps", "2", "--group-size", "2", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert (out / "policy.json").is_file() and (out / "curves.png").is_file()
        baseline = {"write": "novelty-length", "compact": "heuristic"}[decision]
        assert baseline in result.output and "learned" in result.output


def test_from_assistant_feature():
    col = WRITE_FEATURES.index("from_assistant")
    assert make_write_state("Sure, here is a long answer.", speaker="assistant").features[col] == 1.0
    assert make_write_state("I moved to Lisbon.", speaker="user").features[col] == 0.0
    assert make_write_state("I moved to Lisbon.", speaker="Caroline").features[col] == 0.0


def test_cli_datasets_synth_longmemeval(tmp_path):
    from reme.cli import app
    from reme.datasets import load_dataset

    out = tmp_path / "lme.json"
    args = ["datasets", "synth", "--format", "longmemeval", "--conversations", "3", "--sessions", "4"]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    episodes, report = load_dataset(out)
    assert report.format == "longmemeval" and len(episodes) == 3


def test_paced_policy_serves_in_a_workspace(tmp_path, random_encoder):
    from reme.memory import Memory

    mem = Memory(tmp_path / "ws", encoder=random_encoder, write_policy=PacedMLPWritePolicy(hidden=4, seed=0))
    try:
        stored = mem.add_many([{"content": f"fact number {i}"} for i in range(5)], show_progress=False)
        assert len([s for s in stored if s is not None]) == 5  # no budget online: everything is stored
        assert len(mem.list()) == 5
    finally:
        mem.close()
