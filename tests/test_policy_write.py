"""The write decision (store / discard / update): features, the ReMe heuristic, the MLP policy, records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reme.errors import BadInputError
from reme.policy.decision import Decision
from reme.policy.write import WRITE_ACTIONS, HeuristicWritePolicy, WriteState, default_allowed, make_write_state
from reme.policy.write_features import WRITE_FEATURES, write_features
from reme.policy.write_mlp import MLPWritePolicy

F = len(WRITE_FEATURES)
COL = {name: i for i, name in enumerate(WRITE_FEATURES)}

# Upper 0.999 quantiles of chi-square (df 1 and 2): a correct sampler fails one run in a thousand seeds.
CHI2_CRITICAL = {1: 10.828, 2: 13.816}


@pytest.fixture(scope="module")
def mlp() -> MLPWritePolicy:
    return MLPWritePolicy(seed=3)


def _policies(mlp: MLPWritePolicy):
    return [HeuristicWritePolicy(), HeuristicWritePolicy(temperature=2.0), mlp]


def _probs(policy, state: WriteState) -> dict[str, float]:
    return {a: math.exp(policy.logprob(state, a)) for a in state.allowed}


# ---------------------------------------------------------------------------------------------------------
# Features


def test_feature_columns():
    f = write_features("I met Alice in Berlin on 2023-05-08, right?", 0.25, "Alice lives in Berlin", speaker="Bob")
    assert f.dtype == np.float32 and f.shape == (F,)
    v = dict(zip(WRITE_FEATURES, f.tolist()))
    assert v["novelty"] == pytest.approx(0.75)
    assert v["nearest_cosine"] == pytest.approx(0.25)
    assert v["exact_duplicate"] == 0.0
    assert v["log_length"] == pytest.approx(math.log1p(43))
    assert v["token_overlap"] == pytest.approx(3 / 11)  # {alice, in, berlin} of 11 distinct words
    assert v["log_numbers"] == pytest.approx(math.log1p(1))  # the date 2023-05-08 is one digit run
    assert v["log_entities"] == pytest.approx(math.log1p(2))  # Alice, Berlin ("I" excluded)
    assert v["has_date"] == v["is_question"] == v["first_person"] == v["has_speaker"] == 1.0
    assert v["writer_signal"] == 0.5 and v["has_writer_signal"] == 0.0
    assert v["budget_left"] == 1.0


def test_features_empty_target_duplicates_signal_budget():
    empty = dict(zip(WRITE_FEATURES, write_features("the sky is blue", None, None).tolist()))
    assert empty["novelty"] == 1.0 and empty["nearest_cosine"] == 0.0 and empty["token_overlap"] == 0.0
    assert empty["exact_duplicate"] == 0.0 and empty["first_person"] == 0.0 and empty["has_date"] == 0.0
    same = write_features("the  sky is blue", 0.8, "the sky is blue")  # identical after collapsing whitespace
    assert same[COL["exact_duplicate"]] == 1.0
    assert write_features("a", 0.9995, "b")[COL["exact_duplicate"]] == 1.0
    assert write_features("a", 0.998, "b")[COL["exact_duplicate"]] == 0.0
    f = write_features("x", 3.0, "y", writer_signal=7.0, budget_left=-2.0)  # clipped
    assert f[COL["nearest_cosine"]] == 1.0 and f[COL["writer_signal"]] == 1.0 and f[COL["has_writer_signal"]] == 1.0
    assert f[COL["budget_left"]] == 0.0
    assert write_features("x", None, None, budget_left=0.25)[COL["budget_left"]] == 0.25
    with pytest.raises(BadInputError):
        write_features("x", float("nan"), "y")
    with pytest.raises(BadInputError):
        write_features("x", None, None, writer_signal=float("inf"))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n\t ",
        "?",
        "日本語のテキスト、東京で2023年5月8日に会った。",
        "Ünïcödé Straße — émojis 🎉🎉 and RTL שלום עולם",
        "\ud800 lone surrogate",
        "x" * 1_000_000,
        ("Alice met Bob on Monday 8/5/2023 at 10:30. I paid 3.5 euros? " * 20_000)[:1_000_000],
    ],
)
def test_features_finite_on_odd_text(text):
    for nearest in (None, "", text, "something else"):
        f = write_features(text, None if nearest is None else 0.5, nearest, speaker="S", writer_signal=0.2)
        assert f.shape == (F,) and f.dtype == np.float32 and np.all(np.isfinite(f))


# ---------------------------------------------------------------------------------------------------------
# The state and its record


def test_state_validation_and_default_allowed():
    assert default_allowed(None) == ("store", "discard")
    assert default_allowed("m1") == ("store", "discard", "update")
    assert default_allowed("m1", budget_left=0.0) == ("discard", "update")
    f = np.zeros(F, dtype=np.float32)
    with pytest.raises(BadInputError):
        WriteState(f, None, ("store", "update"))  # update without a nearest memory
    with pytest.raises(BadInputError):
        WriteState(f, None, ())
    with pytest.raises(BadInputError):
        WriteState(f, None, ("store", "delete"))
    with pytest.raises(BadInputError):
        WriteState(f, None, ("store", "store"))
    with pytest.raises(BadInputError):
        WriteState(np.zeros(F + 1), None, ("store",))
    with pytest.raises(BadInputError):
        WriteState(np.full(F, np.nan), None, ("store",))


def test_state_inputs_round_trip_through_json():
    state = make_write_state("I live in Paris", "m7", 0.4, "Paris is nice", writer_signal=0.9, budget_left=0.5)
    again = WriteState.from_inputs(json.loads(json.dumps(state.to_inputs())))
    assert again == state
    assert again.features.tobytes() == state.features.tobytes()
    bad = state.to_inputs()
    bad["features"]["names"] = list(reversed(WRITE_FEATURES))
    with pytest.raises(BadInputError):
        WriteState.from_inputs(bad)


# ---------------------------------------------------------------------------------------------------------
# The heuristic (ReMe's add_memory rule)


def test_heuristic_greedy_reproduces_reme_add_memory():
    policy = HeuristicWritePolicy()
    assert policy.name == "heuristic-reme-add" and policy.kind == "write"
    new = make_write_state("I adopted a cat named Luna", None, None, None)
    assert policy.decide(new).action == "store"
    related = make_write_state("I adopted a cat named Luna", "m1", 0.7, "I have a dog")
    d = policy.decide(related)
    assert d.action == "store" and d.memory_ids == []
    dup = make_write_state("I have a dog", "m1", 1.0, "I have a dog")
    d = policy.decide(dup)
    assert d.action == "update" and d.memory_ids == ["m1"]
    same_text = make_write_state("I have a dog", "m1", 0.95, "I have a dog")  # identical text, cosine under 0.999
    assert policy.decide(same_text).action == "update"
    # a near duplicate by cosine with no nearest memory allowed to update: never update
    no_nearest = WriteState(write_features("I have a dog", 1.0, "I have a dog"), None, ("store", "discard"))
    assert policy.decide(no_nearest).action == "store"
    assert policy.decide(no_nearest, "sample", np.random.default_rng(0)).action != "update"
    with pytest.raises(ValueError):
        policy.logprob(no_nearest, "update")
    # a lower duplicate threshold turns near duplicates into updates
    near = make_write_state("I have a dog", "m1", 0.97, "I own a dog")
    assert policy.decide(near).action == "store"
    assert HeuristicWritePolicy(duplicate_threshold=0.95).decide(near).action == "update"


def test_heuristic_logits_and_version():
    policy = HeuristicWritePolicy(temperature=0.5)
    state = make_write_state("new", "m1", 0.1, "old")
    lp = {a: policy.logprob(state, a) for a in WRITE_ACTIONS}
    z = math.log(math.exp(2) + 2 * math.exp(-2))
    assert lp["store"] == pytest.approx(2 - z, abs=1e-12)
    assert lp["discard"] == pytest.approx(-2 - z, abs=1e-12) and lp["update"] == lp["discard"]
    two = make_write_state("new", None, None, None)
    assert policy.logprob(two, "store") == pytest.approx(2 - math.log(math.exp(2) + math.exp(-2)), abs=1e-12)
    assert HeuristicWritePolicy().version == HeuristicWritePolicy().version
    assert HeuristicWritePolicy(0.2).version != HeuristicWritePolicy(0.1).version
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(BadInputError):
            HeuristicWritePolicy(temperature=bad)


def test_single_allowed_action_has_logprob_zero(mlp):
    state = WriteState(np.zeros(F, dtype=np.float32), None, ("discard",))
    for policy in _policies(mlp):
        for mode in ("greedy", "sample"):
            d = policy.decide(state, mode, np.random.default_rng(1))
            assert d.action == "discard" and d.logprob == 0.0


# ---------------------------------------------------------------------------------------------------------
# Properties over random states (both policies)

_allowed = st.sampled_from(
    [
        ("store",),
        ("discard",),
        ("update",),
        ("store", "discard"),
        ("store", "update"),
        ("discard", "update"),
        ("store", "discard", "update"),
        ("update", "discard", "store"),
    ]
)
_features = arrays(np.float32, F, elements=st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False))


@st.composite
def _states(draw) -> WriteState:
    allowed = draw(_allowed)
    nearest = "m-near" if "update" in allowed or draw(st.booleans()) else None
    budget = draw(st.none() | st.floats(0.0, 1.0))
    return WriteState(draw(_features), nearest, allowed, budget)


_SHARED_MLP = MLPWritePolicy(seed=11)


@settings(max_examples=150, deadline=None)
@given(state=_states(), temperature=st.floats(0.01, 100.0), seed=st.integers(0, 2**32 - 1))
def test_logprobs_are_a_distribution_over_allowed_actions(state, temperature, seed):
    for policy in (HeuristicWritePolicy(temperature=temperature), _SHARED_MLP):
        lps = {a: policy.logprob(state, a) for a in state.allowed}
        assert all(math.isfinite(v) and v <= 0.0 for v in lps.values())
        assert abs(sum(math.exp(v) for v in lps.values()) - 1.0) <= 1e-9
        for action in WRITE_ACTIONS:
            if action not in state.allowed:
                with pytest.raises(ValueError):
                    policy.logprob(state, action)
        with pytest.raises(ValueError):
            policy.logprob(state, "delete")
        for mode in ("greedy", "sample"):
            d = policy.decide(state, mode, np.random.default_rng(seed))
            assert d.action in state.allowed
            assert d.logprob is not None and math.isfinite(d.logprob) and d.logprob <= 0.0
            assert d.memory_ids == (["m-near"] if d.action == "update" else [])
        greedy = policy.decide(state).action
        assert lps[greedy] == max(lps.values())


@settings(max_examples=100, deadline=None)
@given(state=_states(), seed=st.integers(0, 2**32 - 1))
def test_rescoring_the_record_reproduces_the_logprob(state, seed):
    for policy in (HeuristicWritePolicy(), HeuristicWritePolicy(temperature=3.0), _SHARED_MLP):
        for mode in ("greedy", "sample"):
            d = policy.decide(state, mode, np.random.default_rng(seed))
            record = Decision.model_validate_json(d.model_dump_json())
            rebuilt = policy.state_from_record(record)
            assert rebuilt == state
            assert record.logprob is not None
            assert abs(policy.logprob(rebuilt, record.action) - record.logprob) <= 1e-9
            assert policy.logprob(rebuilt, record.action) == d.logprob  # exact, in fact


def test_decision_json_round_trip(mlp):
    state = make_write_state("I have a dog", "m1", 1.0, "I have a dog", speaker="Ann", writer_signal=0.8)
    for policy in _policies(mlp):
        d = policy.decide(state, "sample", np.random.default_rng(5))
        d.episode_id, d.step = "ep-1", 3
        again = Decision.model_validate_json(d.model_dump_json())
        assert again == d
        assert again.kind == "write" and again.policy == policy.name and again.version == policy.version


def test_state_from_record_rejects_other_kinds():
    d = HeuristicWritePolicy().decide(make_write_state("x", None, None, None))
    other = d.model_copy(update={"kind": "rank"})
    with pytest.raises(BadInputError):
        HeuristicWritePolicy().state_from_record(other)


def test_bad_mode_raises(mlp):
    state = make_write_state("x", None, None, None)
    for policy in _policies(mlp):
        with pytest.raises(BadInputError):
            policy.decide(state, "argmax")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# Sampling follows the policy's probabilities (chi-square, fixed seed)


def _chi_square(policy, state: WriteState, n: int, seed: int) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    probs = _probs(policy, state)
    counts = dict.fromkeys(state.allowed, 0)
    for _ in range(n):
        counts[policy.decide(state, "sample", rng).action] += 1
    stat = sum((counts[a] - n * p) ** 2 / (n * p) for a, p in probs.items())
    return stat, len(probs) - 1


@pytest.mark.parametrize("allowed", [("store", "discard", "update"), ("discard", "update")])
def test_sampled_frequencies_follow_the_policy(allowed, mlp):
    features = write_features("I moved to Lisbon in 2021", 0.6, "I live in Porto", writer_signal=0.3)
    state = WriteState(features, "m1", allowed)
    for policy in (HeuristicWritePolicy(temperature=1.5), mlp):
        probs = _probs(policy, state)
        assert min(probs.values()) > 0.05  # a meaningful test needs every cell well populated
        stat, df = _chi_square(policy, state, n=3000, seed=20240501)
        assert stat < CHI2_CRITICAL[df], (policy.name, probs, stat)


def test_chi_square_detects_a_wrong_distribution():
    """The statistic has power: samples of T=1.5 scored against the probabilities of T=0.7 are rejected."""
    state = WriteState(write_features("new fact", 0.2, "old fact"), "m1", WRITE_ACTIONS)
    sampler, other = HeuristicWritePolicy(temperature=1.5), HeuristicWritePolicy(temperature=0.7)
    rng = np.random.default_rng(7)
    n = 3000
    counts = dict.fromkeys(WRITE_ACTIONS, 0)
    for _ in range(n):
        counts[sampler.decide(state, "sample", rng).action] += 1
    stat = sum((counts[a] - n * p) ** 2 / (n * p) for a, p in _probs(other, state).items())
    assert stat > CHI2_CRITICAL[2]


# ---------------------------------------------------------------------------------------------------------
# The MLP policy: checkpoints and the trainer's path


def test_mlp_save_load_round_trip(tmp_path, mlp):
    states = [
        make_write_state("I have a dog", "m1", 1.0, "I have a dog"),
        make_write_state("Alice moved to Rome on 2023-02-01?", None, None, None, speaker="A", budget_left=0.3),
        WriteState(np.linspace(-5, 5, F).astype(np.float32), "m2", ("discard", "update")),
    ]
    version = mlp.save(tmp_path / "ckpt", training_data_hash="abc123")
    assert version == mlp.version
    spec = json.loads((tmp_path / "ckpt" / "policy.json").read_text())
    assert spec["kind"] == "write" and spec["policy"] == "mlp-write" and spec["feature_spec"] == list(WRITE_FEATURES)
    assert spec["version"] == version and spec["config"]["hidden"] == 32
    loaded = MLPWritePolicy.load(tmp_path / "ckpt")
    assert loaded.version == version and loaded.training_data_hash == "abc123"
    for state in states:
        for action in state.allowed:
            assert loaded.logprob(state, action) == mlp.logprob(state, action)
    # a fresh policy's version is the hash of its weights: same seed, same version; another seed, another
    assert MLPWritePolicy(seed=3).version == MLPWritePolicy(seed=3).version != MLPWritePolicy(seed=4).version
    fresh = MLPWritePolicy(seed=9)
    assert fresh.save(tmp_path / "fresh") == fresh.version


def test_mlp_version_follows_the_weights(tmp_path):
    policy = MLPWritePolicy(seed=1)
    before = policy.version
    with torch.no_grad():
        policy.module[2].bias.add_(0.5)
    assert policy.version != before
    assert policy.save(tmp_path / "c") == policy.version


@pytest.mark.parametrize("damage", ["weights", "spec", "missing", "kind"])
def test_corrupted_checkpoint_raises(tmp_path, mlp, damage):
    directory = tmp_path / "ckpt"
    mlp.save(directory)
    weights, spec_path = directory / "policy.safetensors", directory / "policy.json"
    if damage == "weights":
        raw = bytearray(weights.read_bytes())
        raw[-3] ^= 0xFF
        weights.write_bytes(bytes(raw))
    elif damage == "spec":
        spec = json.loads(spec_path.read_text())
        spec["config"]["hidden"] = 16
        spec_path.write_text(json.dumps(spec))
    elif damage == "missing":
        weights.unlink()
    else:  # a checkpoint of another kind, internally consistent
        from reme.policy.checkpoint import save_checkpoint

        save_checkpoint(
            directory,
            kind="rank",
            policy="mlp-rank",
            feature_spec=list(WRITE_FEATURES),
            config=mlp.config(),
            tensors=dict(mlp.module.state_dict()),
        )
    with pytest.raises(BadInputError):
        MLPWritePolicy.load(directory)


def test_logprob_torch_is_batched_and_differentiable(mlp):
    rng = np.random.default_rng(0)
    states = [
        WriteState(rng.normal(size=F).astype(np.float32), "m", allowed)
        for allowed in (WRITE_ACTIONS, ("store", "discard"), ("discard", "update"), ("update",))
    ]
    actions = ["update", "discard", "discard", "update"]
    lp = mlp.logprob_torch(states, actions)
    assert lp.shape == (4,) and lp.dtype == torch.float64
    for value, state, action in zip(lp.tolist(), states, actions):
        assert abs(value - mlp.logprob(state, action)) <= 1e-12
    assert lp[3].item() == 0.0
    mlp.module.zero_grad()
    (-lp.sum()).backward()
    grads = [p.grad for p in mlp.module.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    mlp.module.zero_grad()
    with pytest.raises(ValueError):
        mlp.logprob_torch(states[:2], ["store", "update"])  # update is not allowed in the second state
    with pytest.raises(ValueError):
        mlp.logprob_torch(states[:1], ["delete"])
    assert mlp.logprob_torch([], []).shape == (0,)


def test_a_live_stream_at_a_rate_paces_itself() -> None:
    from reme.policy.write import WriteStream

    stream = WriteStream.at_rate(0.3)
    assert stream.budget_left() is None and stream.budget_rate() == 0.3
    for _ in range(10):  # ten stored in a row: ahead of the rate, so the rate it offers falls
        stream.observe(10, 0.5)
        stream.record("store")
    stream.observe(10, 0.5)
    assert stream.budget_rate() == pytest.approx(0.3 + (0.3 * 10 - 10) / WriteStream.LIVE_HORIZON)
    for _ in range(60):  # then sixty discarded: behind it, so the rate rises
        stream.record("discard")
        stream.observe(10, 0.5)
    assert stream.budget_rate() > 0.3
    assert stream.copy().budget_rate() == stream.budget_rate()
    for bad in (0, 1.5, True, "0.3"):
        with pytest.raises(BadInputError):
            WriteStream.at_rate(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("budget", "low", "high"), [(None, 0.9, 1.0), (0.3, 0.2, 0.4)])
def test_the_live_write_budget_applies_what_a_paced_policy_learned(tmp_path, random_encoder, budget, low, high):
    """``policies.write_budget``: a budget-paced policy stores about that share of a target's candidates in use;
    without it, nearly everything (issue 24.3)."""
    import yaml

    from reme.memory import Memory
    from reme.policy.registry import activate
    from reme.policy.write_mlp import PacedMLPWritePolicy

    ws = tmp_path / "ws"
    Memory(ws, encoder=random_encoder).close()
    PacedMLPWritePolicy(seed=3).save(tmp_path / "paced")
    activate(ws, str(tmp_path / "paced"))
    settings = yaml.safe_load((ws / "reme.yaml").read_text())
    settings["policies"].update(write_budget=budget, exploration={"write": 0.0})
    (ws / "reme.yaml").write_text(yaml.safe_dump(settings))
    with Memory(ws, encoder=random_encoder) as mem:
        for i in range(200):
            mem.add(f"note {i}: " + "word " * (1 + i % 17) + f"{i * 7919 % 1000}", "user:pace")
        stored = mem.count("user:pace")
    assert low * 200 <= stored <= high * 200, stored


def test_a_superseding_update_keeps_the_older_text_as_history(tmp_path, minilm):
    """Issue 24.9: an ``update`` write decision replaces the memory it supersedes in place (a search returns the
    newer fact, once) and keeps the older text, its time and when it was written in ``metadata["history"]``."""
    from reme.memory import Memory

    writer = HeuristicWritePolicy(duplicate_threshold=0.5)  # near duplicates update their nearest memory
    with Memory(tmp_path / "ws", encoder=minilm, write_policy=writer) as mem:
        first = mem.add("Alice lives in Lisbon.", "user:alice", message_time="2024-05-08")
        newer = mem.add("Alice now lives in Berlin.", "user:alice", message_time="2025-02-01")
        assert newer is not None and newer.memory_id == first.memory_id
        assert newer.content == "Alice now lives in Berlin." and newer.message_time == "2025-02-01"
        (past,) = newer.metadata["history"]
        assert (past["content"], past["message_time"]) == ("Alice lives in Lisbon.", "2024-05-08")
        hits = mem.search("Where does Alice live?", target="user:alice", min_score=0.0)
        assert [h.memory.content for h in hits] == ["Alice now lives in Berlin."]
        again = mem.add("Alice now lives in Berlin.", "user:alice")  # the same text again: no new history entry
        assert len(again.metadata["history"]) == 1
        third = mem.add("Alice now lives in Berlin with Bob.", "user:alice")
        assert [h["content"] for h in third.metadata["history"]] == [
            "Alice lives in Lisbon.", "Alice now lives in Berlin."
        ]  # fmt: skip
