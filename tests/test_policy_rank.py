import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reme.errors import BadInputError
from reme.policy import plackett_luce as pl
from reme.policy.decision import Decision
from reme.policy.rank import HeuristicRankPolicy, MLPRankPolicy, RankState
from reme.policy.rank_features import RANK_FEATURES

scores_st = st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=6).map(np.array)


def _state(n: int, seed: int = 0, k: int = 3) -> RankState:
    rng = np.random.default_rng(seed)
    x = rng.random((n, len(RANK_FEATURES))).astype(np.float32)
    col = RANK_FEATURES.index
    x[:, col("in_dense")] = (rng.random(n) > 0.3).astype(np.float32)
    x[:, col("in_keyword")] = (rng.random(n) > 0.3).astype(np.float32)
    return RankState(x, k, [f"m{i}" for i in range(n)])


@given(scores_st, st.integers(1, 4))
@settings(max_examples=60, deadline=None)
def test_plackett_luce_sums_to_one_over_all_orderings(scores, k):
    k = min(k, len(scores))
    total = sum(math.exp(pl.logprob(scores, o)) for o in itertools.permutations(range(len(scores)), k))
    assert total == pytest.approx(1.0, abs=1e-5)


@given(scores_st, st.integers(1, 6), st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_logprobs_finite_nonpositive_and_greedy_is_most_likely(scores, k, seed):
    sampled = pl.sample(scores, k, np.random.default_rng(seed))
    greedy = pl.greedy(scores, k)
    for order in (sampled, greedy):
        lp = pl.logprob(scores, order)
        assert math.isfinite(lp) and lp <= 0
    assert pl.logprob(scores, greedy) >= pl.logprob(scores, sampled) - 1e-9


def test_sampled_orderings_follow_the_distribution():
    scores = np.array([1.2, 0.4, 0.0, -0.7])
    rng = np.random.default_rng(1234)
    n = 20_000
    orders = list(itertools.permutations(range(4), 2))
    counts = dict.fromkeys(orders, 0)
    for _ in range(n):
        counts[tuple(pl.sample(scores, 2, rng))] += 1
    expected = {o: n * math.exp(pl.logprob(scores, o)) for o in orders}
    chi2 = sum((counts[o] - expected[o]) ** 2 / expected[o] for o in orders)
    assert chi2 < 32.9  # chi-square, 11 degrees of freedom, p = 0.0005


def test_minus_inf_scores_are_never_placed():
    scores = np.array([0.5, -np.inf, 0.1])
    assert pl.greedy(scores, 3) == [0, 2]
    assert set(pl.sample(scores, 3, np.random.default_rng(0))) == {0, 2}
    with pytest.raises(ValueError):
        pl.logprob(scores, [1])


@pytest.mark.parametrize("policy", [HeuristicRankPolicy(), HeuristicRankPolicy(missing="zero"), MLPRankPolicy()])
@pytest.mark.parametrize("mode", ["greedy", "sample"])
def test_rescoring_a_record_gives_its_logprob(policy, mode):
    for seed in range(5):
        state = _state(12, seed)
        decision = policy.decide(state, mode, np.random.default_rng(seed))
        restored = Decision.model_validate_json(decision.model_dump_json())
        rebuilt = policy.state_from_record(restored)
        assert np.array_equal(rebuilt.features, state.features)
        assert policy.logprob(rebuilt, restored.action) == pytest.approx(decision.logprob, abs=1e-9)
        assert decision.mode == mode and len(decision.action) == 3 and decision.logprob <= 0


def test_heuristic_greedy_order_is_the_fusion_order():
    from fusion_ranker import FusionRanker, rank

    from reme.retrieval.candidates import CandidateSet
    from reme.retrieval.features import build_features, context_features

    rng = np.random.default_rng(5)
    for _ in range(50):
        n_d, n_k = rng.integers(0, 8, size=2)
        d_ids = rng.choice(20, n_d, replace=False)
        k_ids = rng.choice(20, n_k, replace=False)
        cands = CandidateSet.merge(
            "q",
            d_ids,
            np.sort(rng.random(n_d).astype(np.float32))[::-1],
            k_ids,
            np.sort(rng.random(n_k).astype(np.float32) * 5)[::-1],
        )
        cands.fill(rng.random(len(cands)).astype(np.float32), rng.random(len(cands)).astype(np.float32))
        ctx = context_features(cands.ids, {}, {}, {})
        state = RankState(np.concatenate([build_features(cands), ctx], axis=1), 5)
        order, _ = rank(FusionRanker(), cands, 5)
        assert HeuristicRankPolicy().decide(state).action == order.tolist()


def test_mlp_rank_checkpoint_round_trip(tmp_path):
    policy = MLPRankPolicy(seed=3)
    version = policy.save(tmp_path / "ckpt")
    loaded = MLPRankPolicy.load(tmp_path / "ckpt")
    assert loaded.version == version
    state = _state(9)
    assert loaded.logprob(state, [0, 1, 2]) == pytest.approx(policy.logprob(state, [0, 1, 2]), abs=1e-9)
    torch = pytest.importorskip("torch")
    lp = loaded.logprob_torch(torch.from_numpy(state.features), [4, 1, 7])
    assert float(lp.detach()) == pytest.approx(loaded.logprob(state, [4, 1, 7]), abs=1e-5)
    (tmp_path / "ckpt" / "policy.safetensors").write_bytes(b"garbage")
    from reme.errors import BadInputError

    with pytest.raises(BadInputError, match="version hash"):
        MLPRankPolicy.load(tmp_path / "ckpt")


def test_decision_rejects_impossible_logprobs():
    for bad in (float("nan"), float("inf"), 0.5):
        with pytest.raises(ValueError):
            Decision(kind="rank", policy="p", version="v", mode="greedy", action=[0], logprob=bad)
    llm = Decision(kind="write", policy="llm:gpt", version="v", mode="sample", action="store", logprob=None)
    assert llm.trainable is False


def test_a_residual_head_starts_at_the_heuristic_and_stays_within_its_bound(tmp_path):
    """The bounded residual: score = fused / T0 + B tanh(MLP(x)), so however its MLP is trained, it moves a
    candidate's score by at most B from ReMe's fused score over T0 (numpy and torch paths agree, and the bound and
    anchor survive a checkpoint)."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.random((40, len(RANK_FEATURES))).astype(np.float32)
    fused = x[:, RANK_FEATURES.index("fused")].astype(np.float64)
    policy = MLPRankPolicy(init="heuristic", residual_bound=0.5)
    np.testing.assert_allclose(policy.scores(RankState(x, 10)), fused / 0.05, rtol=1e-5)
    with torch.no_grad():
        for p in policy.head.mlp.parameters():
            p.add_(torch.randn(p.shape) * 5.0)
    policy.refresh_version()
    scores = policy.scores(RankState(x, 10))
    assert np.abs(scores - fused / 0.05).max() <= 0.5 + 1e-4
    assert np.abs(scores - fused / 0.05).max() > 0.1  # the MLP does move scores, within the bound
    np.testing.assert_allclose(policy.scores_torch(torch.from_numpy(x)).detach().numpy(), scores, rtol=1e-5, atol=1e-5)
    version = policy.save(tmp_path / "ckpt")
    loaded = MLPRankPolicy.load(tmp_path / "ckpt")
    assert loaded.version == version and loaded.params["residual_bound"] == 0.5
    np.testing.assert_allclose(loaded.scores(RankState(x, 10)), scores, rtol=1e-6)
    with pytest.raises(BadInputError, match="residual"):
        MLPRankPolicy(residual_bound=0.0)
