"""The ``compact`` decision: ReMe's tail-reserve split as a policy, its forcing rules, and exact re-scoring."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reme.errors import BadInputError
from reme.messages import message_token_count, rule_token_count
from reme.policy.checkpoint import save_checkpoint
from reme.policy.compact import (
    COMPACT_FEATURES,
    CompactState,
    HeuristicCompactPolicy,
    apply,
    compact_features,
)
from reme.policy.compact_mlp import MLPCompactPolicy, RankedMLPCompactPolicy
from reme.policy.decision import Decision, log_sigmoid

# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def reme_split(tokens, uses, results, reserve):
    """ReMe 0.3.1.x's split of an over-threshold context, written from its description: walk from the tail; a
    message is kept when it and the not-yet-kept messages holding the calls of its tool results fit in the
    reserve (those calls are kept with it); the walk stops at the first message that does not fit.
    Returns (keep flags, is_valid)."""
    call_at = {}
    for idx, ids in enumerate(uses):
        for tool_id in ids:
            call_at[tool_id] = idx
    kept: set[int] = set()
    spent = 0
    for i in range(len(tokens) - 1, -1, -1):
        if i in kept:
            continue
        if spent + tokens[i] > reserve:
            break
        needed = {call_at[t] for t in results[i] if t in call_at} - kept - {i}
        extra = sum(tokens[j] for j in needed)
        if spent + tokens[i] + extra > reserve:
            break
        kept |= {i} | needed
        spent += tokens[i] + extra
    flags = [i in kept for i in range(len(tokens))]
    kept_uses = {t for i in kept for t in uses[i]}
    kept_results = {t for i in kept for t in results[i]}
    return flags, kept_uses == kept_results


def state(tokens, budget, uses=None, results=None, protected=None, roles=None):
    n = len(tokens)
    return CompactState(
        tokens=list(tokens),
        roles=list(roles or ["user"] * n),
        tool_use_ids=[list(x) for x in (uses or [[]] * n)],
        tool_result_ids=[list(x) for x in (results or [[]] * n)],
        protected=list(protected or [False] * n),
        budget=budget,
    )


def labels(flags):
    return ["keep" if f else "compact" for f in flags]


@lru_cache(maxsize=1)
def mlp() -> MLPCompactPolicy:
    return MLPCompactPolicy(hidden=8, seed=3)


def all_actions(n):
    return [list(a) for a in itertools.product(("keep", "compact"), repeat=n)]


def feasible_probability_mass(policy, s):
    total, feasible = 0.0, []
    for action in all_actions(s.n_messages):
        try:
            lp = policy.logprob(s, action)
        except ValueError:
            continue
        assert math.isfinite(lp) and lp <= 0.0
        total += math.exp(lp)
        feasible.append(action)
    return total, feasible


@st.composite
def contexts(draw, max_n=8, reme_shaped=False):
    """Random contexts. ``reme_shaped``: no protected message, every call before its result, no message holding
    both calls and results, unique ids (the shapes ReMe's split handles), plus orphan results / dangling calls."""
    n = draw(st.integers(0, max_n))
    tokens = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    roles = draw(st.lists(st.sampled_from(["user", "assistant", "tool", "system"]), min_size=n, max_size=n))
    uses: list[list[str]] = [[] for _ in range(n)]
    results: list[list[str]] = [[] for _ in range(n)]
    if n:
        for k in range(draw(st.integers(0, 4))):
            u, r = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
            if reme_shaped:
                u, r = min(u, r), max(u, r)
                if u == r or results[u] or uses[r]:
                    continue
            uses[u].append(f"c{k}")
            results[r].append(f"c{k}")
        if draw(st.booleans()):
            results[draw(st.integers(0, n - 1))].append("orphan")
        if draw(st.booleans()) and not (reme_shaped and results[n - 1]):
            uses[n - 1].append("dangling")
    protected = [False] * n if reme_shaped else draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not reme_shaped and draw(st.booleans()):
        protected = [False] * n  # most contexts: nothing protected
    budget = draw(st.integers(0, 120))
    return state(tokens, budget, uses, results, protected, roles)


def ranked(seed: int = 3) -> RankedMLPCompactPolicy:
    return RankedMLPCompactPolicy(hidden=8, seed=seed, rank_temperature=0.5, budget_temperature=0.5)


def policies():
    return [HeuristicCompactPolicy(), HeuristicCompactPolicy(0.7), mlp(), ranked()]


# --------------------------------------------------------------------------------------------------------------
# ReMe's rule, by hand
# --------------------------------------------------------------------------------------------------------------


def test_keeps_the_tail_within_the_reserve():
    s = state([5, 5, 5, 5], budget=10)
    d = HeuristicCompactPolicy().decide(s)
    assert d.action == ["compact", "compact", "keep", "keep"]
    assert d.extra["kept_tokens"] == 10 and d.extra["is_valid"] and not d.extra["budget_unmet"]
    assert d.extra["order"] == [3, 2, 1, 0]
    assert d.forced == [True, True, False, False]  # neither older message fits in what is left (0 tokens)
    assert apply(s, d) == ([0, 1], [2, 3], True)


def test_stops_at_the_first_message_that_does_not_fit():
    s = state([1, 100, 3, 4], budget=10)
    d = HeuristicCompactPolicy().decide(s)
    # 4 and 3 fit, 100 does not: the walk stops there, and the 1-token message is compacted although it fits
    assert d.action == ["compact", "compact", "keep", "keep"]
    assert d.forced == [False, True, False, False]
    assert d.extra["forced_by"] == [None, "budget", None, None]
    assert d.action == labels(reme_split(s.tokens, s.tool_use_ids, s.tool_result_ids, 10)[0])


def test_a_kept_tool_result_pulls_in_its_call():
    uses = [[], ["c1"], [], [], []]
    results = [[], [], [], ["c1"], []]
    s = state([10, 5, 50, 5, 5], budget=20, uses=uses, results=results)
    d = HeuristicCompactPolicy().decide(s)
    # 4 kept (5); the result at 3 costs 5 + its call's 5 (15 <= 20); 50 does not fit: stop; the call stays
    assert d.action == ["compact", "keep", "compact", "keep", "keep"]
    assert d.forced == [True, True, True, False, False]  # 10 more would make 25 > 20
    assert d.extra["forced_by"][1] == "tool_call"
    assert d.extra["kept_tokens"] == 15 and d.extra["is_valid"]
    assert d.action == labels(reme_split(s.tokens, uses, results, 20)[0])
    assert apply(s, d) == ([0, 2], [1, 3, 4], True)


def test_a_tool_result_whose_call_does_not_fit_is_compacted_and_stops_the_walk():
    uses = [[], ["c1"], [], []]
    results = [[], [], ["c1"], []]
    s = state([1, 12, 5, 5], budget=20, uses=uses, results=results)
    d = HeuristicCompactPolicy().decide(s)
    # the result (5) fits alone but not with its call (5 + 5 + 12 > 20): compacted, and the walk stops
    assert d.action == ["compact", "compact", "compact", "keep"]
    assert d.forced == [False, False, True, False]
    assert d.extra["is_valid"]
    assert d.action == labels(reme_split(s.tokens, uses, results, 20)[0])


def test_protected_system_message_is_kept_and_reserved_first():
    s = state([30, 20, 20, 20], budget=60, protected=[True, False, False, False], roles=["system"] + ["user"] * 3)
    d = HeuristicCompactPolicy().decide(s)
    # 30 reserved for the system message: the tail keeps 20 (50), the next 20 would make 70 > 60
    assert d.action == ["keep", "compact", "compact", "keep"]
    assert d.forced == [True, True, True, False]
    assert d.extra["forced_by"] == ["protected", "budget", "budget", None]
    assert not d.extra["budget_unmet"] and d.extra["kept_tokens"] == 50
    with pytest.raises(ValueError, match="must be kept"):
        HeuristicCompactPolicy().logprob(s, ["compact", "compact", "compact", "keep"])


def test_budget_unmet_when_protected_messages_alone_exceed_the_reserve():
    s = state([100, 5, 5], budget=50, protected=[True, False, False])
    d = HeuristicCompactPolicy().decide(s)
    assert d.action == ["keep", "compact", "compact"]
    assert d.extra["budget_unmet"] and d.extra["kept_tokens"] == 100
    assert d.logprob == 0.0 and all(d.forced)
    assert apply(s, d) == ([], [0, 1, 2], False)  # ReMe's hook skips compaction


def test_is_valid_false_cases_match_reme_and_skip():
    # an orphan tool result (its call is not in the context) and a dangling call at the tail
    for uses, results in (([[], [], []], [[], ["gone"], []]), ([[], [], ["x"]], [[], [], []])):
        s = state([3, 3, 3], budget=100, uses=uses, results=results)
        d = HeuristicCompactPolicy().decide(s)
        flags, valid = reme_split(s.tokens, uses, results, 100)
        assert d.action == labels(flags) == ["keep"] * 3
        assert d.extra["is_valid"] is valid is False
        assert apply(s, d) == ([], [0, 1, 2], False)
    # a learned gate may keep a call while compacting its (newer) result: feasible, but invalid
    s = state([3, 3, 3], budget=100, uses=[["c"], [], []], results=[[], ["c"], []])
    action = ["keep", "compact", "keep"]
    assert math.isfinite(mlp().logprob(s, action))
    decision = mlp().decide(s).model_copy(update={"action": action})
    assert apply(s, decision) == ([], [0, 1, 2], False)


def test_after_a_chosen_compact_later_gates_are_free_but_prefer_compact():
    policy = HeuristicCompactPolicy(temperature=0.5)
    s = state([1, 1, 1], budget=10)
    assert policy.logprob(s, ["keep", "keep", "compact"]) == pytest.approx(
        log_sigmoid(-2.0) + 2 * log_sigmoid(-2.0), abs=1e-12
    )
    assert policy.logprob(s, ["compact", "compact", "compact"]) == pytest.approx(
        log_sigmoid(-2.0) + 2 * log_sigmoid(2.0), abs=1e-12
    )
    assert policy.decide(s).action == ["keep"] * 3


def test_empty_context():
    s = state([], budget=10)
    for policy in policies():
        d = policy.decide(s, "sample", np.random.default_rng(0))
        assert d.action == [] and d.logprob == 0.0 and d.forced == []
        assert policy.logprob(s, []) == 0.0
    assert apply(s, d) == ([], [], True)


# --------------------------------------------------------------------------------------------------------------
# Building the state from messages
# --------------------------------------------------------------------------------------------------------------


def test_rule_token_count_floors_bytes_over_3_75():
    assert rule_token_count("") == 0
    assert rule_token_count("a" * 15) == 4
    assert rule_token_count("a" * 14) == 3  # 3.73 -> 3
    assert rule_token_count("中" * 5) == 4  # 15 UTF-8 bytes


def test_from_messages_openai_and_agentscope():
    messages = [
        {"role": "system", "content": "s" * 30},
        {"role": "user", "content": [{"type": "text", "text": "u" * 15}], "id": "m1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": '{"a":1}'}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r" * 75},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "c2", "name": "f", "input": {"x": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "id": "c2", "name": "f", "output": [{"type": "text", "text": "y" * 30}]}
            ],
        },
    ]
    s = CompactState.from_messages(messages, budget=500, protected_ids=["m1"])
    assert s.roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert s.tokens == [8, 4, 2, 20, 0 + 2, 8]  # "ok" -> 0, 'f{"x": 1}' (9 bytes) -> 2
    assert s.tool_use_ids == [[], [], ["c1"], [], ["c2"], []]
    assert s.tool_result_ids == [[], [], [], ["c1"], [], ["c2"]]
    assert s.protected == [True, True, False, False, False, False]
    assert s.budget == 500 and s.features is None
    assert message_token_count(messages[3], token_counter=len) == 75
    assert CompactState.from_messages(messages, token_counter=lambda text: 1).tokens == [1, 1, 1, 1, 2, 1]


def test_state_inputs_round_trip_through_json():
    s = state([3, 4], budget=5, uses=[["a"], []], results=[[], ["a"]], protected=[True, False])
    s.features = compact_features(s)
    back = CompactState.from_inputs(json.loads(json.dumps(s.to_inputs())))
    assert back.tokens == s.tokens and back.tool_use_ids == s.tool_use_ids and back.protected == s.protected
    assert back.features is not None and np.array_equal(back.features, s.features)
    with pytest.raises(BadInputError):
        CompactState.from_inputs({"tokens": [1]})
    with pytest.raises(BadInputError):
        state([1, 2], budget=-1)


def test_compact_features_columns():
    s = state([9, 0, 1], budget=10, uses=[["a"], [], []], results=[[], [], ["a"]], protected=[True, False, False])
    s.roles = ["system", "tool", "assistant"]
    f = compact_features(s)
    assert f.shape == (3, len(COMPACT_FEATURES)) and f.dtype == np.float32
    col = {name: f[:, i].tolist() for i, name in enumerate(COMPACT_FEATURES)}
    assert col["log_tokens"] == pytest.approx([math.log(10), 0.0, math.log(2)])
    assert col["position_from_tail"] == [1.0, 0.5, 0.0]
    assert col["role_system"] == [1, 0, 0] and col["role_tool"] == [0, 1, 0] and col["role_assistant"] == [0, 0, 1]
    assert col["has_tool_call"] == [1, 0, 0] and col["has_tool_result"] == [0, 0, 1]
    assert col["tokens_over_budget"] == pytest.approx([0.9, 0.0, 0.1])
    assert col["tail_tokens_over_budget"] == pytest.approx([1.0, 0.1, 0.1])
    assert col["protected"] == [1, 0, 0]


# --------------------------------------------------------------------------------------------------------------
# Protocol properties
# --------------------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(contexts(reme_shaped=True))
def test_greedy_heuristic_is_reme_split(s):
    d = HeuristicCompactPolicy().decide(s)
    flags, valid = reme_split(s.tokens, s.tool_use_ids, s.tool_result_ids, s.budget)
    assert d.action == labels(flags)
    assert d.extra["is_valid"] is valid
    assert not d.extra["budget_unmet"]


@settings(max_examples=60, deadline=None)
@given(contexts(max_n=6), st.integers(0, 2**32 - 1))
def test_probabilities_of_feasible_actions_sum_to_one(s, seed):
    for policy in policies():
        total, feasible = feasible_probability_mass(policy, s)
        assert total == pytest.approx(1.0, abs=1e-6)
        for mode in ("greedy", "sample"):
            d = policy.decide(s, mode, np.random.default_rng(seed))
            assert d.action in feasible


@settings(max_examples=60, deadline=None)
@given(contexts(max_n=12), st.integers(0, 2**32 - 1))
def test_decisions_rescore_exactly_from_their_record(s, seed):
    for policy in policies():
        for mode in ("greedy", "sample"):
            d = policy.decide(s, mode, np.random.default_rng(seed))
            assert d.kind == "compact" and d.memory_ids == [] and d.trainable
            assert d.logprob is not None and math.isfinite(d.logprob) and d.logprob <= 0.0
            assert len(d.action) == len(d.forced or []) == s.n_messages
            back = Decision.model_validate_json(d.model_dump_json())
            assert back == d
            rebuilt = policy.state_from_record(back)
            assert abs(policy.logprob(rebuilt, back.action) - d.logprob) <= 1e-9
            assert abs(policy.logprob(s, d.action) - d.logprob) <= 1e-9
            assert apply(s, d)[2] is (d.extra["is_valid"] and not d.extra["budget_unmet"])
            if not any(s.protected):  # only protected messages (and their calls) can overdraw the reserve
                assert not d.extra["budget_unmet"] and d.extra["kept_tokens"] <= s.budget


@pytest.mark.parametrize("which", ["heuristic", "mlp"])
def test_sampled_actions_follow_the_policy(which):
    uses = [[], ["c1"], [], []]
    results = [[], [], ["c1"], []]
    s = state([3, 2, 2, 3], budget=8, uses=uses, results=results)
    policy = HeuristicCompactPolicy(temperature=1.0) if which == "heuristic" else mlp()
    rng = np.random.default_rng(1234)
    n = 3000
    counts = Counter(tuple(policy.decide(s, "sample", rng).action) for _ in range(n))
    expected = {tuple(a): math.exp(policy.logprob(s, a)) for a in feasible_probability_mass(policy, s)[1]}
    assert set(counts) <= set(expected)
    tv = 0.5 * sum(abs(counts.get(a, 0) / n - p) for a, p in expected.items())
    assert tv < 0.04, (tv, counts, expected)


def test_bad_actions_raise():
    s = state([5, 5, 50], budget=20)
    for policy in policies():
        for bad in (["keep"], ["keep", "keep", "keep", "keep"], ["keep", "drop", "keep"], "keep", None):
            with pytest.raises(ValueError):
                policy.logprob(s, bad)
        with pytest.raises(ValueError, match="cannot be kept"):
            policy.logprob(s, ["compact", "compact", "keep"])  # 50 > 20
        with pytest.raises(ValueError):
            policy.decide(s, mode="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        HeuristicCompactPolicy(temperature=0.0)
    d = HeuristicCompactPolicy().decide(s)
    with pytest.raises(ValueError):
        apply(state([1], budget=3), d)


def test_heuristic_version_is_its_parameters_hash():
    a, b = HeuristicCompactPolicy(), HeuristicCompactPolicy(0.5)
    assert a.version != b.version and a.version == HeuristicCompactPolicy(0.1).version
    d = b.decide(state([1, 2], budget=2))
    assert HeuristicCompactPolicy(**d.extra["params"]).version == d.version


# --------------------------------------------------------------------------------------------------------------
# The learned gate
# --------------------------------------------------------------------------------------------------------------


def test_mlp_logprob_torch_matches_and_is_differentiable():
    import torch

    s = state([3, 2, 2, 3, 9], budget=12, uses=[[], ["c1"], [], [], []], results=[[], [], ["c1"], [], []])
    policy = MLPCompactPolicy(hidden=8, seed=5)
    d = policy.decide(s, "sample", np.random.default_rng(0))
    lp = policy.logprob_torch(s, d.action)
    assert lp.dtype == torch.float64 and abs(lp.item() - d.logprob) < 1e-9
    lp.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in policy.parameters())


@pytest.mark.parametrize("cls", [MLPCompactPolicy, RankedMLPCompactPolicy])
def test_logprob_torch_matches_on_every_compact_mlp(cls):
    import torch

    s = state([3, 2, 2, 3, 9, 4], budget=12, uses=[[], ["c1"], [], [], [], []], results=[[], [], ["c1"], [], [], []])
    policy = cls(hidden=8, seed=5)
    for seed in range(5):
        d = policy.decide(s, "sample", np.random.default_rng(seed))
        lp = policy.logprob_torch(s, d.action)
        assert lp.dtype == torch.float64 and abs(lp.item() - d.logprob) < 1e-9
    lp.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in policy.parameters())


def test_ranked_keeps_the_prefix_of_its_ranking_that_fits():
    import torch

    s = state([10, 10, 10, 10, 10, 10], budget=30)  # plain messages: any three fit
    policy = RankedMLPCompactPolicy(hidden=2, seed=0, rank_temperature=0.01, budget_temperature=0.01)
    s.features = np.zeros((6, len(COMPACT_FEATURES)), dtype=np.float32)
    s.features[:, 0] = [0.5, 0.1, 0.4, 0.0, 0.3, 0.2]  # the value the net reads: message 0 best, then 2, then 4
    with torch.no_grad():
        policy.net["hidden"].weight.zero_()
        policy.net["hidden"].weight[0, 0] = 1.0
        policy.net["hidden"].bias.zero_()
        policy.net["out"].weight.zero_()
        policy.net["out"].weight[0, 0] = 10.0
        policy.net["out"].bias.fill_(-8.0)  # values well below 0: log sigmoid(v) ~ v keeps them apart
    d = policy.decide(s)
    assert d.action == ["keep", "compact", "keep", "compact", "keep", "compact"]  # not the tail
    assert HeuristicCompactPolicy().decide(s).action == ["compact"] * 3 + ["keep"] * 3
    s.tokens, s.budget = [40, 10, 10, 10, 10, 10], 50  # the ranking's prefix that fits: messages 0 and 2
    assert policy.decide(s).action == ["keep", "compact", "keep", "compact", "compact", "compact"]


def test_ranked_checks_its_parameters_and_round_trips(tmp_path):
    from reme.envs.compaction import load_compact_policy

    for bad in ({"rank_temperature": 0.0}, {"budget_temperature": float("nan")}, {"token_exponent": -1.0}):
        with pytest.raises(ValueError):
            RankedMLPCompactPolicy(hidden=4, **bad)
    s = state([3, 2, 2, 3, 9], budget=8)
    policy = RankedMLPCompactPolicy(hidden=8, seed=11, token_exponent=0.5)
    d = policy.decide(s, "sample", np.random.default_rng(0))
    assert policy.save(tmp_path / "ck") == d.version
    loaded = load_compact_policy(str(tmp_path / "ck"))
    assert isinstance(loaded, RankedMLPCompactPolicy) and loaded.config["token_exponent"] == 0.5
    assert loaded.version == d.version and loaded.logprob(s, d.action) == d.logprob
    with pytest.raises(BadInputError):
        MLPCompactPolicy.load(tmp_path / "ck")  # a ranked checkpoint is not a plain gate


def test_mlp_uses_recorded_features_and_checks_their_width():
    s = state([3, 4, 5], budget=20)
    s.features = np.arange(3 * len(COMPACT_FEATURES), dtype=np.float32).reshape(3, -1) / 10
    policy = mlp()
    d = policy.decide(s)
    assert np.array_equal(policy.state_from_record(d).features, s.features)
    s.features = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError):
        policy.decide(s)


def test_mlp_save_load_round_trip(tmp_path):
    s = state([3, 2, 2, 3, 9], budget=12, uses=[[], ["c1"], [], [], []], results=[[], [], ["c1"], [], []])
    policy = MLPCompactPolicy(hidden=8, seed=11)
    fresh_version = policy.version
    d = policy.decide(s, "sample", np.random.default_rng(0))
    assert policy.save(tmp_path / "ck") == fresh_version
    loaded = MLPCompactPolicy.load(tmp_path / "ck")
    assert loaded.version == fresh_version == d.version
    assert loaded.logprob(loaded.state_from_record(d), d.action) == d.logprob
    for action in feasible_probability_mass(policy, s)[1]:
        assert loaded.logprob(s, action) == policy.logprob(s, action)
    assert MLPCompactPolicy(hidden=8, seed=12).version != fresh_version


def test_corrupted_or_foreign_checkpoints_raise(tmp_path):
    import torch

    policy = MLPCompactPolicy(hidden=4, seed=0)
    good = tmp_path / "good"
    policy.save(good)
    weights = bytearray((good / "policy.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (good / "policy.safetensors").write_bytes(bytes(weights))
    with pytest.raises(BadInputError):
        MLPCompactPolicy.load(good)

    missing = tmp_path / "missing"
    policy.save(missing)
    (missing / "policy.safetensors").unlink()
    with pytest.raises(BadInputError):
        MLPCompactPolicy.load(missing)

    foreign = tmp_path / "foreign"
    save_checkpoint(
        foreign, kind="rank", policy="mlp-rank", feature_spec=["a"], config={}, tensors={"w": torch.zeros(1)}
    )
    with pytest.raises(BadInputError):
        MLPCompactPolicy.load(foreign)

    misfit = tmp_path / "misfit"
    save_checkpoint(
        misfit,
        kind="compact",
        policy="mlp-compact",
        feature_spec=list(COMPACT_FEATURES),
        config={"hidden": 4, "n_features": len(COMPACT_FEATURES)},
        tensors={"hidden.weight": torch.zeros(4, 3)},
    )
    with pytest.raises(BadInputError):
        MLPCompactPolicy.load(misfit)
