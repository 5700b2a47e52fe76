"""The compaction environment: the stream, the budgets, the reachability rules, the reward join, and GRPO."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reme.datasets import generate_synthetic, parse_locomo
from reme.envs.compaction import (
    CompactionEnvConfig,
    CompactionEpisode,
    evaluate_compaction,
    hindsight_keep_labels,
    join_outcome,
    load_compact_policy,
    prepare_compaction_episodes,
    run_compaction,
)
from reme.envs.compaction_features import COMPACTION_ENV_FEATURES, HISTORY_FEATURES, history_features
from reme.errors import BadInputError
from reme.messages import rule_token_count
from reme.policy.compact import CompactState, HeuristicCompactPolicy, apply
from reme.policy.compact_mlp import MLPCompactPolicy, RankedMLPCompactPolicy
from reme.schema import Episode, Question, Turn
from reme.train.compact_grpo import CompactGRPOConfig, train_compact_policy

N_FEATURES = len(COMPACTION_ENV_FEATURES)


@pytest.fixture(scope="module")
def synthetic_episodes():
    from reme.retrieval.embedding import RandomEncoder

    episodes, _ = parse_locomo(generate_synthetic(2, sessions=3, seed=3), "synthetic")
    return [CompactionEpisode.build(ep, RandomEncoder(16)) for ep in episodes]


def mlp(seed: int = 0) -> MLPCompactPolicy:
    """Even seeds: an independent gate; odd seeds: a ranked value policy."""
    if seed % 2:
        return RankedMLPCompactPolicy(hidden=8, seed=seed, feature_spec=COMPACTION_ENV_FEATURES)
    return MLPCompactPolicy(hidden=8, seed=seed, feature_spec=COMPACTION_ENV_FEATURES)


# --------------------------------------------------------------------------------------------------------------
# constraints of sampled decisions
# --------------------------------------------------------------------------------------------------------------


@st.composite
def states_with_features(draw):
    n = draw(st.integers(0, 10))
    tokens = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    roles = draw(st.lists(st.sampled_from(["user", "assistant", "tool", "system"]), min_size=n, max_size=n))
    uses: list[list[str]] = [[] for _ in range(n)]
    results: list[list[str]] = [[] for _ in range(n)]
    if n:
        for k in range(draw(st.integers(0, 3))):
            u, r = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            uses[u].append(f"t{k}")
            results[r].append(f"t{k}")
    protected = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    budget = draw(st.integers(0, 150))
    values = draw(st.lists(st.floats(-3, 3, width=32), min_size=n * N_FEATURES, max_size=n * N_FEATURES))
    features = np.asarray(values, dtype=np.float32).reshape(n, N_FEATURES)
    return CompactState(tokens, roles, uses, results, protected, budget=budget, features=features)


@settings(max_examples=80, deadline=None)
@given(states_with_features(), st.integers(0, 2**32 - 1), st.integers(0, 3))
def test_sampled_decisions_respect_the_constraints(state, seed, policy_seed):
    policy = mlp(policy_seed)
    decision = policy.decide(state, mode="sample", rng=np.random.default_rng(seed))
    keep = [a == "keep" for a in decision.action]
    kept = sum(t for t, k in zip(state.tokens, keep) if k)
    protected_tokens = sum(t for t, p in zip(state.tokens, state.protected) if p)
    if decision.extra["budget_unmet"]:
        assert protected_tokens > 0 and kept > state.budget
    else:
        assert kept <= state.budget
        _, _, valid = apply(state, decision)
        assert valid == decision.extra["is_valid"]
    assert all(k for k, p in zip(keep, state.protected) if p)  # protected stay
    holders: dict[str, list[int]] = {}
    for j, ids in enumerate(state.tool_use_ids):
        for x in ids:
            holders.setdefault(x, []).append(j)
    for i, ids in enumerate(state.tool_result_ids):  # a kept result keeps its (older) call
        if keep[i]:
            assert all(keep[j] for x in ids for j in holders.get(x, []) if j < i)
    assert decision.logprob is not None
    assert abs(policy.logprob(state, decision.action) - decision.logprob) <= 1e-9
    assert abs(float(policy.logprob_torch(state, decision.action).detach()) - decision.logprob) <= 1e-9


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.1, 0.2, 0.35, 1.0]))
def test_env_sampled_decisions_respect_the_reserve(synthetic_episodes, seed, budget):
    ep = synthetic_episodes[0]
    config = CompactionEnvConfig(budget=budget)
    context, reserve, summary = config.budgets(ep.total_tokens)
    outcome = run_compaction(ep, mlp(seed % 4), config, mode="sample", rng=np.random.default_rng(seed))
    for state, decision in zip(outcome.states, outcome.decisions):
        assert state.budget == reserve and state.features is not None
        assert state.features.shape == (state.n_messages, N_FEATURES) and np.isfinite(state.features).all()
        assert decision.extra["kept_tokens"] <= reserve and not decision.extra["budget_unmet"]
        assert state.total_tokens > context  # a compaction point is an overflow
        assert abs(mlp(seed % 4).logprob(state, decision.action) - decision.logprob) <= 1e-9
    assert outcome.budget_unmet == 0.0
    final = sum(int(ep.tokens[i]) for i in outcome.final_verbatim)
    assert final <= context and outcome.summary_tokens <= summary
    assert outcome.kept_token_fraction <= budget + 1e-12
    assert sorted(outcome.final_verbatim + outcome.store) == list(range(ep.n_messages))


def test_budgets_hold_for_the_heuristic_on_every_budget(synthetic_episodes):
    for ep in synthetic_episodes:
        for budget in (0.05, 0.2, 0.5, 1.0):
            config = CompactionEnvConfig(budget=budget, reserve_ratio=0.3, summary_ratio=0.1)
            context, reserve, summary = config.budgets(ep.total_tokens)
            outcome = run_compaction(ep, HeuristicCompactPolicy(), config)
            assert sum(int(ep.tokens[i]) for i in outcome.final_verbatim) <= context
            assert outcome.summary_tokens <= summary
            assert outcome.kept_token_fraction <= budget
            assert all(d.extra["kept_tokens"] <= reserve for d in outcome.decisions)
            if budget == 1.0:  # the whole conversation fits: no decision, everything verbatim
                assert outcome.decisions == [] and outcome.kept_token_fraction == 1.0
                assert outcome.evidence_reachable == 1.0


# --------------------------------------------------------------------------------------------------------------
# reachability on a hand-made episode
# --------------------------------------------------------------------------------------------------------------


def _text(i: int, n_bytes: int) -> str:
    body = f"message number {i} about topic{i} "
    return (body * 10)[: n_bytes - 3]  # "A: " + text = n_bytes bytes


def tiny_episode() -> Episode:
    """Six 20-token messages (75 bytes each, ``plain``), facts of 10 tokens on turns 1 and 2."""
    turns = [
        Turn(turn_id=f"D1:{i + 1}", session_id="S1", session_index=0, turn_index=i, speaker="AB"[i % 2], text=t)
        for i, t in enumerate(_text(i, 75) for i in range(6))
    ]
    for turn in turns:
        assert rule_token_count(turn.render("plain")) == 20
    fact = "f" * 38  # 10 tokens
    t1 = turns[1].render("plain")

    def q(qid, evidence, text):
        return Question(question_id=qid, question=text, category="1", evidence=evidence)

    questions = [
        q("verbatim", ["D1:5"], "anything"),
        q("summarised", ["D1:3"], "anything"),
        q("searched", ["D1:2"], t1),
        q("half", ["D1:1", "D1:2"], t1),
        q("lost", ["D1:1"], t1),
        Question(question_id="adversarial", question="x", category="5", evidence=["D1:1"]),
    ]
    return Episode(
        episode_id="tiny",
        format="locomo",
        speakers=["A", "B"],
        turns=turns,
        questions=questions,
        observations={"D1:2": [fact], "D1:3": [fact]},
    )


def test_evidence_reachable_rules(random_encoder):
    ep = CompactionEpisode.build(tiny_episode(), random_encoder, text_format="plain")
    assert ep.n_questions == 5 and ep.total_tokens == 120
    assert ep.roles == ["user", "assistant"] * 3
    config = CompactionEnvConfig(budget=0.5, k=1, text_format="plain", store="turns")  # C=60, R=30, S=15
    assert config.budgets(ep.total_tokens) == (60, 30, 15)
    outcome = run_compaction(ep, HeuristicCompactPolicy(), config)
    # one compaction point when the 4th message arrives (80 > 60): the tail rule keeps only it (40 > 30)
    assert len(outcome.decisions) == 1
    assert outcome.decisions[0].action == ["compact", "compact", "compact", "keep"]
    assert outcome.store == [0, 1, 2] and outcome.final_verbatim == [3, 4, 5]
    # the summary keeps the newest facts within 15 tokens: turn 2's, not turn 1's
    assert outcome.summary_tokens == 10
    assert outcome.per_question == [1.0, 1.0, 1.0, 0.5, 0.0]  # verbatim, summarised, searched, half, lost
    assert outcome.evidence_reachable == pytest.approx(0.7)
    assert outcome.kept_token_fraction == pytest.approx(0.5)
    assert outcome.reward == pytest.approx(0.7 - 0.05 * 0.5)
    # with k = 3 the store search finds every compacted turn
    wide_config = CompactionEnvConfig(budget=0.5, k=3, text_format="plain", store="turns")
    wide = run_compaction(ep, HeuristicCompactPolicy(), wide_config)
    assert wide.evidence_reachable == pytest.approx(1.0)


def test_observation_store_reaches_only_turns_with_facts(random_encoder):
    ep = CompactionEpisode.build(tiny_episode(), random_encoder, text_format="plain")
    config = CompactionEnvConfig(budget=0.5, k=3, text_format="plain", store="observations")
    outcome = run_compaction(ep, HeuristicCompactPolicy(), config)
    # the store holds facts of compacted turns 1 and 2 only: turn 0 ("D1:1") has none, so it is lost
    assert outcome.per_question == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert ep.fact_turn.tolist() == [1, 2]
    with pytest.raises(BadInputError):
        CompactionEnvConfig(budget=0.5, store="everything")


def test_heuristic_decisions_are_the_tail_rule(synthetic_episodes):
    ep = synthetic_episodes[1]
    config = CompactionEnvConfig(budget=0.15)
    outcome = run_compaction(ep, HeuristicCompactPolicy(), config)
    assert outcome.decisions
    for state, decision in zip(outcome.states, outcome.decisions):
        keep, used = [], 0
        for t in reversed(state.tokens):  # newest first, stop at the first that does not fit
            fits = not (keep and not keep[-1]) and used + t <= state.budget
            keep.append(fits)
            used += t if fits else 0
        assert decision.action == ["keep" if k else "compact" for k in reversed(keep)]


def test_reward_join_credits_every_decision(synthetic_episodes):
    ep = synthetic_episodes[0]
    outcome = run_compaction(ep, mlp(1), CompactionEnvConfig(budget=0.1), mode="sample", rng=np.random.default_rng(0))
    assert len(outcome.decisions) >= 2
    report = join_outcome(outcome)
    assert report.rewards == report.rewards_joined == len(outcome.decisions)
    assert {s.decision.decision_id for s in report.samples} == {d.decision_id for d in outcome.decisions}
    assert all(s.ret == pytest.approx(outcome.reward) and s.rewards == 1 for s in report.samples)
    assert all(d.episode_id == ep.episode_id for d in outcome.decisions)
    assert [d.step for d in outcome.decisions] == list(range(len(outcome.decisions)))


def test_sample_points_limit_sampling(synthetic_episodes):
    ep = synthetic_episodes[0]
    config = CompactionEnvConfig(budget=0.1)
    greedy = run_compaction(ep, mlp(2), config)
    mixed = run_compaction(ep, mlp(2), config, mode="sample", rng=np.random.default_rng(1), sample_points={1})
    assert [d.mode for d in mixed.decisions][:2] == ["greedy", "sample"]
    assert mixed.decisions[0].action == greedy.decisions[0].action


def test_evaluate_and_load(synthetic_episodes, tmp_path):
    config = CompactionEnvConfig(budget=0.2)
    policy = mlp(0)
    policy.save(tmp_path / "ck")
    report = evaluate_compaction(
        synthetic_episodes,
        {"heuristic": load_compact_policy("heuristic"), "mlp": load_compact_policy(str(tmp_path / "ck"))},
        config,
    )
    assert report["format"] == "locomo" and report["budget"] == 0.2
    assert report["queries"] == sum(ep.n_questions for ep in synthetic_episodes) > 0
    for row in report["results"].values():
        assert 0.0 <= row["evidence_reachable"] <= 1.0 and row["kept_token_fraction"] <= 0.2
        assert row["budget_unmet"] == 0.0
    with pytest.raises(BadInputError):
        load_compact_policy(str(tmp_path / "missing"))
    for bad in (0.0, 1.5, math.nan, True):
        with pytest.raises(BadInputError):
            CompactionEnvConfig(budget=bad)


def test_prepare_uses_the_cache(random_encoder, tmp_path):
    episodes, _ = parse_locomo(generate_synthetic(1, sessions=2, seed=1), "synthetic")
    built = prepare_compaction_episodes(episodes, encoder=random_encoder, cache_path=tmp_path / "e.db")
    assert len(built) == 1 and built[0].vectors.shape == (len(episodes[0].turns), random_encoder.dim)
    assert built[0].static_features.dtype == np.float32 and np.isfinite(built[0].static_features).all()


# --------------------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------------------


def test_train_compact_policy_writes_a_checkpoint(synthetic_episodes, tmp_path):
    out = tmp_path / "compact"
    config = CompactGRPOConfig(steps=3, group_size=3, episodes_per_step=1, eval_every=2, hidden=4, budget=0.2)
    metrics = train_compact_policy(synthetic_episodes[:1], synthetic_episodes[1:], out, config)
    for name in ("policy.safetensors", "policy.json", "metrics.json", "curves.png"):
        assert (out / name).is_file()
    written = json.loads((out / "metrics.json").read_text())
    assert written["best_step"] == metrics["best_step"] in (0, 2, 3)
    assert [v["step"] for v in written["validation"]] == [0, 2, 3]
    assert written["train_conversations"] == [synthetic_episodes[0].episode_id]
    assert set(written["final"]["results"]) == {"learned", "heuristic"}
    loaded = load_compact_policy(str(out))
    assert isinstance(loaded, RankedMLPCompactPolicy)
    assert loaded.feature_spec == COMPACTION_ENV_FEATURES and loaded.version == written["version"]
    warm = written["hindsight_warm_start"]
    assert warm["losses"] and warm["losses"][-1] < warm["losses"][0]  # the value fits its hindsight labels
    assert warm["token_exponent"] == loaded.config["token_exponent"] and set(warm["val_reward_by_token_exponent"])
    rows = [r["rows"] for r in warm["rounds"]]  # DAgger: each round adds the states its predecessor visited
    assert len(rows) == config.hindsight_rounds == 3 and rows[0] < rows[1] < rows[2]
    with pytest.raises(BadInputError):
        CompactGRPOConfig(hindsight_rounds=0)
    with pytest.raises(BadInputError):
        CompactGRPOConfig(group_size=1)
    with pytest.raises(BadInputError):
        CompactGRPOConfig(policy="tail")


def test_train_compact_gate_policy(synthetic_episodes, tmp_path):
    config = CompactGRPOConfig(steps=2, group_size=3, episodes_per_step=1, eval_every=1, hidden=4, policy="gate")
    metrics = train_compact_policy(synthetic_episodes[:1], synthetic_episodes[1:], tmp_path / "gate", config)
    loaded = load_compact_policy(str(tmp_path / "gate"))
    assert type(loaded) is MLPCompactPolicy and metrics["hindsight_warm_start"] == {}


def test_hindsight_labels_mark_only_evidence_the_full_store_misses(synthetic_episodes):
    from reme.envs.hybrid import hybrid_top_k

    ep = synthetic_episodes[0]
    for store in ("observations", "turns"):
        config = CompactionEnvConfig(budget=0.2, store=store)
        labels = hindsight_keep_labels(ep, config)
        assert labels.shape == (ep.n_messages,) and set(np.unique(labels)) <= {0.0, 1.0}
        evidence = set(np.concatenate(ep.evidence).tolist())
        assert all(i in evidence for i in np.flatnonzero(labels).tolist())  # only evidence turns
        if store == "turns":
            tops = hybrid_top_k(ep.vectors, ep.bm25_tokens, ep.question_vectors, ep.question_tokens, k=config.k)
            missed = {i for ev, top in zip(ep.evidence, tops) for i in ev.tolist() if i not in set(top.tolist())}
            assert set(np.flatnonzero(labels).tolist()) == missed
        else:  # a turn without observations leaves nothing in the store: compacting always loses it
            no_facts = [i for i in evidence if not ep.facts[i]]
            assert all(labels[i] == 1.0 for i in no_facts)


def test_history_features_read_only_the_past(random_encoder):
    rng = np.random.default_rng(0)
    n, f = 12, 20
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    facts = rng.normal(size=(f, 8)).astype(np.float32)
    facts /= np.linalg.norm(facts, axis=1, keepdims=True)
    fact_turn = np.sort(rng.integers(0, n, size=f))
    has = np.zeros(n, dtype=np.float32)
    has[np.unique(fact_turn)] = 1.0
    index, image = list(range(n)), [i % 3 == 0 for i in range(n)]
    words = [[f"w{j}" for j in rng.integers(0, 15, size=4)] for _ in range(n)]
    question = (rng.random(n) < 0.3).astype(np.float32)
    tokens = rng.integers(1, 50, size=n)
    session = [f"s{i // 5}" for i in range(n)]
    full = history_features(vectors, facts, fact_turn, has, index, image, words, question, tokens, session)
    assert full.shape == (n, len(HISTORY_FEATURES)) and full.dtype == np.float32 and np.isfinite(full).all()
    for cut in (1, 5, 9):  # a prefix of the conversation gives the same rows
        keep = fact_turn < cut
        part = history_features(
            vectors[:cut], facts[keep], fact_turn[keep], has[:cut], index[:cut], image[:cut],
            words[:cut], question[:cut], tokens[:cut], session[:cut],
        )  # fmt: skip
        assert np.allclose(part, full[:cut])
