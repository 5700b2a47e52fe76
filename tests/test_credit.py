"""The credit rules of ``reme.policy.rewards`` and the exploration rules of ``reme.policy.explore``, on hand-built logs
with known answers, and once end to end through ``Memory`` (add, search, feedback)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from reme.memory import Memory
from reme.policy.audit import verify
from reme.policy.compact import CompactState, HeuristicCompactPolicy
from reme.policy.decision import Decision, log_sigmoid
from reme.policy.explore import (
    GateExploration,
    behaviour_logprob,
    draw,
    exploration_of,
    explore_rank,
    explore_write,
)
from reme.policy.rank import HeuristicRankPolicy, RankState
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.rewards import join_rewards
from reme.policy.trajectory import MemoryEvent, RewardEvent, read_records
from reme.policy.write import HeuristicWritePolicy, RandomWritePolicy, make_write_state
from reme.policy.write_features import WRITE_COLUMN
from reme.retrieval.embedding import RandomEncoder
from reme.settings import CreditSettings, ExplorationSettings, PolicySettings, WorkspaceSettings

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def day(n: float) -> str:
    return (DAY0 + timedelta(days=n)).isoformat()


def decision(kind, action, mids=(), did="", at=0.0, **fields) -> Decision:
    d = Decision(kind=kind, policy="p", version="v", mode="sample", action=action, logprob=-0.5, memory_ids=list(mids))
    d.decision_id = did or d.decision_id
    d.time = day(at)
    for key, value in fields.items():
        if key in ("episode_id",):
            setattr(d, key, value)
        else:
            d.extra[key] = value
    return d


def reward(rid, value, at=0.0, **fields) -> RewardEvent:
    return RewardEvent(reward_id=rid, value=value, time=day(at), **fields)


def returns(records, **options) -> dict[str, float]:
    return {s.decision.decision_id: s.ret for s in join_rewards(records, **options).samples}


# --------------------------------------------------------------------------------------------- write credit
def test_worked_example_of_the_docstring():
    """rewards.py's worked example: gamma 0.5, 0.01 per memory-day."""
    records = [
        decision("write", "store", ["m1"], "w1", 0),
        decision("write", "store", ["m2"], "w2", 0),
        decision("rank", [0, 1], ["m1", "m2"], "r", 2, returned=[0]),
        reward("f", 1.0, 2, decision_id="r"),
        MemoryEvent(memory_ids=["m2"], time=day(4)),
        reward("late", 0.0, 10, decision_id="unknown-decision"),  # the log's last record: day 10
    ]
    assert returns(records, gamma=0.5, storage_cost_per_day=0.01) == pytest.approx(
        {"r": 1.0, "w1": 0.5 - 0.1, "w2": -0.04}
    )


def test_write_in_a_rewarded_searchs_top_k_is_credited_and_one_outside_is_not():
    records = [
        decision("write", "store", ["m1"], "w1"),
        decision("write", "store", ["m2"], "w2"),
        decision("write", "store", ["m3"], "w3"),
        # ranked m3, m1, m2; the score floor dropped m2: the search returned m3 and m1
        decision("rank", [2, 0, 1], ["m1", "m2", "m3"], "r", returned=[2, 0]),
        reward("f", 0.8, decision_id="r"),
    ]
    got = returns(records, gamma=0.5)
    # w1 is 2 writes back (0.5 ** 2), w3 is the last write (0.5 ** 0); w2 was not returned
    assert got == pytest.approx({"r": 0.8, "w1": 0.8 * 0.25, "w2": 0.0, "w3": 0.8})
    # a record without ``returned`` (an older log) is credited through its ranking ``action``
    records[3] = decision("rank", [1], ["m1", "m2", "m3"], "r")
    assert returns(records, gamma=0.5) == pytest.approx({"r": 0.8, "w1": 0.0, "w2": 0.8 * 0.5, "w3": 0.0})


def test_when_the_host_names_the_memory_it_used_only_that_write_shares_the_searchs_reward():
    """A search returned m1 and m2 and was rewarded; the host said it used m1 (before or after the search's reward,
    either order). m2 stood beside the answer without giving it: its write earns nothing from that search. A second
    search with no ``used`` reward credits its whole top k, as before."""
    for used_first in (False, True):
        used = reward("u", 1.0, source="used", memory_id="m1")
        search_reward = reward("f", 1.0, decision_id="r1")
        records = [
            decision("write", "store", ["m1"], "w1"),
            decision("write", "store", ["m2"], "w2"),
            decision("write", "store", ["m3"], "w3"),
            decision("rank", [0, 1], ["m1", "m2"], "r1", returned=[0, 1]),
            *([used, search_reward] if used_first else [search_reward, used]),
            decision("rank", [0, 1], ["m2", "m3"], "r2", returned=[0, 1]),
            reward("g", 0.5, decision_id="r2"),
        ]
        got = returns(records, gamma=1.0)
        # w1: 1 (feedback: the search's reward) + 1 (used: named); w2: only r2's 0.5; w3: r2's 0.5
        assert got == pytest.approx({"r1": 1.0, "r2": 0.5, "w1": 2.0, "w2": 0.5, "w3": 0.5}), used_first


def test_an_unrewarded_search_credits_nothing_and_the_writer_is_the_one_at_search_time():
    records = [
        decision("write", "store", ["m1"], "w1"),
        decision("rank", [0], ["m1"], "r1"),
        decision("write", "update", ["m1"], "w2"),  # takes m1 over after r1 returned w1's version
        decision("rank", [0], ["m1"], "r2"),  # never rewarded
        reward("f", 1.0, decision_id="r1"),
    ]
    assert returns(records, gamma=0.5) == pytest.approx({"r1": 1.0, "w1": 0.5, "w2": 0.0})


def test_a_reward_naming_a_memory_still_credits_its_writer():
    records = [
        decision("write", "store", ["m1"], "w1"),
        decision("write", "discard", [], "w2"),
        reward("u", 1.0, memory_id="m1", source="used"),
    ]
    assert returns(records, gamma=0.5) == pytest.approx({"w1": 0.5, "w2": 0.0})


def test_storage_cost_per_memory_day_deleted_alive_taken_over_and_bounded():
    records = [
        decision("write", "store", ["m1"], "w1", 0),
        decision("write", "store", ["m2"], "w2", 0),
        decision("write", "discard", [], "w3", 1),
        MemoryEvent(memory_ids=["m1"], time=day(3)),  # m1 lived 3 days
        decision("write", "update", ["m2"], "w4", 4),  # w2 paid days 0-4, w4 from day 4
        reward("end", 0.5, 10, decision_id="elsewhere"),  # the log ends on day 10 (unmatched)
    ]
    got = returns(records, gamma=1.0, storage_cost_per_day=0.01)
    assert got == pytest.approx({"w1": -0.03, "w2": -0.04, "w3": 0.0, "w4": -0.06})
    report = join_rewards(records, gamma=1.0, storage_cost_per_day=0.01, storage_horizon_days=5)
    costs = {s.decision.decision_id: s.storage_cost for s in report.samples}
    assert costs == pytest.approx({"w1": 0.03, "w2": 0.04, "w3": 0.0, "w4": 0.05})  # at most 5 days each
    assert report.unmatched_reward_ids == ["end"]
    # deterministic given the log: the same records join to the same returns
    assert returns(records, gamma=1.0, storage_cost_per_day=0.01) == got


def test_repeats_are_averaged_per_source_through_the_top_k():
    records = [decision("write", "store", ["m"], "w"), decision("rank", [0], ["m"], "r")]
    records += [reward(f"f{i}", 1.0, decision_id="r") for i in range(20)]  # twenty feedbacks: worth one
    records += [reward(f"a{v}", v, decision_id="r", source="answer") for v in (0.0, 1.0)]
    records += [reward("u", -1.0, memory_id="m", source="used")]
    got = returns(records, gamma=1.0)
    assert got == pytest.approx({"r": 1.0 + 0.5, "w": 1.0 + 0.5 - 1.0})


# ------------------------------------------------------------------------------------------ compaction credit
def test_compact_decision_is_credited_by_following_outcomes_discounted_by_decisions_between():
    records = [
        decision("compact", ["keep"], [], "c", episode_id="e"),
        decision("rank", [0], ["m"], "s", episode_id="e"),  # one decision between c and the rewards
        reward("t", 1.0, decision_id="s", source="task", episode_id="e"),
        decision("rank", [0], ["m"], "s2", episode_id="e"),
        decision("rank", [0], ["m"], "other", episode_id="f"),  # another episode: not counted
        reward("fb", -1.0, source="feedback", episode_id="e"),  # an outcome of the episode: 2 decisions between
    ]
    got = returns(records, gamma=0.5)
    assert got == pytest.approx({"c": 1.0 * 0.5 + -1.0 * 0.25, "s": 1.0})


def test_a_reward_after_the_next_compaction_goes_to_that_one_only():
    records = [
        decision("compact", ["keep"], [], "c1", target="user:a"),
        decision("rank", [0], ["m"], "s1", target="user:a"),
        reward("r1", 1.0, decision_id="s1", source="task"),  # in c1's window: one decision between
        decision("compact", ["compact"], [], "c2", target="user:a"),  # closes c1's window
        decision("rank", [0], ["m"], "s2", target="user:a"),
        reward("r2", -1.0, decision_id="s2", source="task"),
        decision("rank", [0], ["m"], "s3", target="user:b"),
        reward("r3", 1.0, decision_id="s3", source="task"),  # another target: neither window
        reward("r4", 0.5, decision_id="c2", source="feedback"),  # names c2: credited to c2 alone
    ]
    got = returns(records, gamma=0.5)
    assert got == pytest.approx({"c1": 0.5, "c2": -0.5 + 0.5, "s1": 1.0, "s2": -1.0, "s3": 1.0})


# ----------------------------------------------------------------------------------------------- exploration
def ids_by_draw(seed: int, epsilon: float, gate: int = 0) -> tuple[str, str]:
    """A decision id whose draw explores (below epsilon) and one whose draw does not."""
    below = next(f"id{i}" for i in range(1000) if draw(seed, f"id{i}", gate) < epsilon)
    above = next(f"id{i}" for i in range(1000) if draw(seed, f"id{i}", gate) >= epsilon)
    return below, above


def discarding_state():
    """A candidate that ``random-budget`` stores with probability 0.2 (so its greedy action is discard)."""
    state = make_write_state("Alice is allergic to peanuts.")
    state.features[WRITE_COLUMN["budget_rate"]] = 0.2
    return state


def test_draws_are_reproducible_and_uniform():
    assert draw(3, "abc", 1) == draw(3, "abc", 1) != draw(4, "abc", 1)
    values = [draw(0, f"d{i}") for i in range(4000)]
    assert min(values) >= 0 and max(values) < 1 and abs(np.mean(values) - 0.5) < 0.02


def test_write_exploration_stores_a_discard_with_the_mixture_propensity():
    policy, state, eps = RandomWritePolicy(), discarding_state(), 0.1
    p_store = 0.2
    explore_id, keep_id = ids_by_draw(7, eps)
    greedy = policy.decide(state, "greedy")
    assert greedy.action == "discard"
    greedy.decision_id = explore_id
    taken = explore_write(policy, state, greedy, eps, 7)
    assert taken.action == "store" and taken.extra["explored"] is True
    assert taken.logprob == pytest.approx(math.log(p_store))  # the policy's own log pi, which verify re-scores
    assert behaviour_logprob(taken) == pytest.approx(math.log(eps))  # greedy: discard -> store with eps
    sample = join_rewards([taken]).samples[0]
    assert sample.behaviour_logprob == pytest.approx(math.log(eps))
    other = policy.decide(state, "greedy")
    other.decision_id = keep_id
    kept = explore_write(policy, state, other, eps, 7)
    assert kept.action == "discard" and "explored" not in kept.extra
    assert behaviour_logprob(kept) == pytest.approx(math.log(1 - eps))
    # sample mode: b(store) = p + eps * (1 - p); b(discard) = (1 - eps) * (1 - p)
    sampled = Decision(
        kind="write", policy=policy.name, version=policy.version, mode="sample", action="discard",
        logprob=math.log(1 - p_store), decision_id=explore_id,
    )  # fmt: skip
    taken = explore_write(policy, state, sampled, eps, 7)
    assert taken.action == "store" and behaviour_logprob(taken) == pytest.approx(math.log(p_store + eps * 0.8))
    sampled.decision_id = keep_id
    kept = explore_write(policy, state, sampled.model_copy(deep=True), eps, 7)
    assert behaviour_logprob(kept) == pytest.approx(math.log((1 - eps) * 0.8))


def test_epsilon_zero_is_exactly_the_policy():
    policy, state = RandomWritePolicy(), discarding_state()
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    plain = [policy.decide(state, "sample", rng_a) for _ in range(30)]
    explored = [explore_write(policy, state, policy.decide(state, "sample", rng_b), 0.0, 0) for _ in range(30)]
    for a, b in zip(plain, explored):
        assert (a.action, a.logprob, a.extra) == (b.action, b.logprob, b.extra)
        assert exploration_of(b) is None and behaviour_logprob(b) == b.logprob
    assert rng_a.random() == rng_b.random()  # no draw taken from the decision's generator
    compact = HeuristicCompactPolicy()
    cstate = CompactState([10, 100, 10, 10], ["user"] * 4, [[]] * 4, [[]] * 4, [False] * 4, budget=30)
    zero = CompactState(**{**cstate.__dict__, "exploration": GateExploration(0.0, 0, "x")})
    assert compact.decide(zero).action == compact.decide(cstate).action
    assert "exploration" not in compact.decide(zero).extra


def test_compact_exploration_keeps_a_message_with_its_gate_propensity():
    policy, eps = HeuristicCompactPolicy(), 0.3
    # newest first: 10 and 10 kept, 100 forced out by the reserve, then 10 fits but the rule has stopped
    base = CompactState([10, 100, 10, 10], ["user"] * 4, [[]] * 4, [[]] * 4, [False] * 4, budget=30)
    assert policy.decide(base).action == ["compact", "compact", "keep", "keep"]
    explore_id, keep_id = ids_by_draw(0, eps, gate=0)
    state = CompactState(**{**base.__dict__, "exploration": GateExploration(eps, 0, explore_id)})
    taken = policy.decide(state)
    assert taken.decision_id == explore_id and taken.action == ["keep", "compact", "keep", "keep"]
    record = exploration_of(taken)
    assert record is not None and record.explored and record.gates == [0] and taken.extra["explored"] is True
    assert record.behaviour_logprob == pytest.approx(math.log(eps))  # greedy keeps 3, 2 with b = 1; gate 0 kept: eps
    assert taken.logprob == pytest.approx(policy.logprob(base, taken.action))  # re-scores under the policy
    assert taken.logprob == pytest.approx(2 * log_sigmoid(10.0) + log_sigmoid(-10.0))
    state = CompactState(**{**base.__dict__, "exploration": GateExploration(eps, 0, keep_id)})
    kept = policy.decide(state)
    assert kept.action == ["compact", "compact", "keep", "keep"] and "explored" not in kept.extra
    assert behaviour_logprob(kept) == pytest.approx(math.log(1 - eps))
    # sample mode: each unforced gate's b mixes the policy's sigmoid with the rule
    sampled = policy.decide(state, "sample", np.random.default_rng(1))
    p = [1 / (1 + math.exp(-z)) for z in (10.0, 10.0, -10.0)]  # gates 3, 2 (keep logits), gate 0 after the stop
    want = 0.0
    for gate, p_keep in zip((3, 2, 0), p):
        keep = sampled.action[gate] == "keep"
        want += math.log(p_keep + eps * (1 - p_keep) if keep else (1 - eps) * (1 - p_keep))
    assert behaviour_logprob(sampled) == pytest.approx(want)


def test_rank_exploration_samples_a_greedy_search_with_the_mixture_propensity():
    rng = np.random.default_rng(0)
    features = rng.random((6, len(RANK_FEATURES))).astype(np.float32)
    policy, eps = HeuristicRankPolicy(temperature=0.5), 0.2
    state = RankState(features, 3, [f"m{i}" for i in range(6)], RANK_FEATURES)
    explore_id, keep_id = ids_by_draw(0, eps)
    greedy = policy.decide(state, "greedy")
    greedy.decision_id = keep_id
    kept = explore_rank(policy, state, greedy, eps, 0)
    assert kept.action == greedy.action and "explored" not in kept.extra
    assert behaviour_logprob(kept) == pytest.approx(math.log(1 - eps + eps * math.exp(greedy.logprob)))
    greedy = policy.decide(state, "greedy")
    greedy.decision_id = explore_id
    taken = explore_rank(policy, state, greedy, eps, 0)
    assert taken.decision_id == explore_id and taken.mode == "sample" and taken.extra["explored"] is True
    assert taken.logprob == pytest.approx(policy.logprob(state, taken.action))
    same = float(list(taken.action) == list(greedy.action))
    assert behaviour_logprob(taken) == pytest.approx(math.log((1 - eps) * same + eps * math.exp(taken.logprob)))
    again = explore_rank(policy, state, greedy.model_copy(deep=True), eps, 0)
    assert again.action == taken.action  # the sampled ordering is reproducible from (seed, decision id)
    sampled = policy.decide(state, "sample", rng)  # sample mode already samples: the rule changes nothing
    assert explore_rank(policy, state, sampled, eps, 0) is sampled


# --------------------------------------------------------------------------------------------------- end to end
def test_memory_write_return_comes_from_the_searchs_feedback(tmp_path, minilm):
    settings = WorkspaceSettings(credit=CreditSettings(storage_cost_per_day=0.0))
    ws = tmp_path / "ws"
    with Memory(ws, encoder=minilm, write_policy=HeuristicWritePolicy(), settings=settings) as mem:
        alice = mem.add("Alice moved to Lisbon in May 2024.", target="user:alice")
        bob = mem.add("Bob adopted a beagle called Pixel.", target="user:alice")
        found, hits = mem.search_with_decision("Where does Alice live now?", limit=1, target="user:alice")
        assert [h.memory.memory_id for h in hits] == [alice.memory_id]
        assert found.extra["returned"] == [found.action[0]]
        mem.feedback(1.0, decision_id=found.decision_id)
        mem.delete(bob.memory_id)
    records = [e.record for e in read_records(ws / "trajectories") if e.record is not None]
    assert isinstance(records[-1], MemoryEvent) and records[-1].memory_ids == [bob.memory_id]
    writes = [r for r in records if isinstance(r, Decision) and r.kind == "write"]
    by_memory = {w.memory_ids[0]: w.decision_id for w in writes}
    got = returns(records, **settings.credit.model_dump())
    # alice's write is one write (bob's) back: gamma ** 1; bob's memory was not returned
    assert got[by_memory[alice.memory_id]] == pytest.approx(0.9)
    assert got[by_memory[bob.memory_id]] == 0.0 and got[found.decision_id] == 1.0
    assert verify(ws).ok


def test_memory_explores_discards_and_the_log_still_verifies(tmp_path):
    """epsilon 1 in sample mode: every candidate the policy samples a discard for is stored, marked explored; a store's
    behaviour probability is then p + 1 * (1 - p) = 1; each record still re-scores under its policy."""
    exploration = ExplorationSettings(write=1.0, seed=5)
    settings = WorkspaceSettings(mode="sample", policies=PolicySettings(exploration=exploration))
    ws = tmp_path / "ws"
    policy = HeuristicWritePolicy(temperature=1.0)  # p(discard) = 1 / (1 + e**2) for a new candidate
    texts = [f"fact number {i} about the garden" for i in range(30)]
    with Memory(ws, encoder=RandomEncoder(32), write_policy=policy, settings=settings, seed=0) as mem:
        assert len(mem.add_many(texts, target="user:t")) == 30
    decisions = [e.record for e in read_records(ws / "trajectories") if isinstance(e.record, Decision)]
    assert [d.action for d in decisions] == ["store"] * 30
    explored = [d for d in decisions if d.extra.get("explored")]
    assert explored  # the policy sampled some discards
    for d in decisions:
        record = exploration_of(d)
        assert record is not None and record.epsilon == 1.0 and record.seed == 5
        assert record.behaviour_logprob == pytest.approx(0.0)
    for d in explored:
        assert d.logprob == pytest.approx(policy.logprob(policy.state_from_record(d), "store"))
    assert verify(ws).ok


def test_a_simulated_clock_stamps_every_record_and_prices_storage_by_its_days(tmp_path) -> None:
    """``reme.schema.use_clock``: decisions, rewards and memories take the installed clock's time (a simulation
    replays days in seconds), so the storage cost per memory-day is charged for simulated days; blocks do not nest."""
    from reme.schema import use_clock, utc_now

    moment = {"now": DAY0}
    with use_clock(lambda: moment["now"]):
        assert utc_now() == DAY0.isoformat(timespec="seconds")
        with pytest.raises(RuntimeError, match="already installed"), use_clock(lambda: DAY0):
            pass
        settings = WorkspaceSettings(credit=CreditSettings(storage_cost_per_day=0.01, gamma=1.0))
        with Memory(tmp_path / "ws", encoder=RandomEncoder(), settings=settings) as mem:
            node = mem.add("My locker code is 4312", "user:a")
            assert node is not None and node.time_created == day(0)
            moment["now"] = DAY0 + timedelta(days=10)
            decision_taken, hits = mem.search_with_decision("locker code", 3, "user:a")
            assert [h.memory.memory_id for h in hits] == [node.memory_id]
            mem.feedback(1.0, decision_id=decision_taken.decision_id)
    assert utc_now() != day(10)  # the wall clock again
    records = [e.record for e in read_records(tmp_path / "ws" / "trajectories") if e.record is not None]
    assert [r.time for r in records] == [day(0), day(10), day(10)]
    (write,) = [s for s in join_rewards(records, gamma=1.0, storage_cost_per_day=0.01).samples
                if s.decision.kind == "write"]  # fmt: skip
    assert write.storage_cost == pytest.approx(0.1) and write.ret == pytest.approx(1.0 - 0.1)
