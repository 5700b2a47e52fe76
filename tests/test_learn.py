"""``reme learn``: promotion from a workspace's own log, the watcher's rollback, idempotence, the lock, failures
that leave the serving version alone, and the report (``reme.train.learn``)."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from reme.cli import app
from reme.errors import BadInputError, WorkspaceError
from reme.memory import Memory
from reme.policy.write_mlp import MLPWritePolicy, PacedMLPWritePolicy
from reme.settings import load_settings
from reme.train.learn import LearnConfig, learn, learner_lock, read_runs

runner = CliRunner()

_RNG = random.Random(0)
FACTS = [
    f"My {what} code is {_RNG.randint(1000, 9999)} and I keep it in the {where}"
    for what in ("locker", "door", "bike", "safe", "alarm", "gate", "garage", "wifi")
    for where in ("blue folder", "kitchen drawer", "car", "office")
]
CHATTER = ["haha ok", "lol", "sure thing", "ok cool", "nice", "yeah", "hmm", "thanks!"]


def use_for_a_day(ws: Path, n: int, seed: int) -> float:
    """``n`` messages through the serving writer in sample mode: a stored fact earns +1 when it is used later,
    stored chatter -1 (a memory that misled), a discard nothing. Returns the day's mean return per message."""
    rng = random.Random(seed)
    total = 0.0
    settings = load_settings(ws).model_copy(update={"mode": "sample"})
    with Memory(ws, settings=settings, seed=seed) as mem:
        for i in range(n):
            fact = rng.random() < 0.5
            node = mem.add(f"{rng.choice(FACTS)} ({i})" if fact else f"{rng.choice(CHATTER)} #{i}")
            if node is not None:
                value = 1.0 if fact else -1.0
                total += value
                mem.feedback(value, memory_id=node.memory_id)
    return total / n


def serving(ws: Path, kind: str) -> str:
    return str(yaml.safe_load((ws / "reme.yaml").read_text())["policies"][kind])


@pytest.fixture
def write_workspace(tmp_path: Path) -> Path:
    """A workspace serving a random write policy (a learned one that has learned nothing)."""
    from reme.policy.registry import activate

    ws = tmp_path / "ws"
    Memory(ws).close()
    MLPWritePolicy(seed=0).save(tmp_path / "start")
    activate(ws, str(tmp_path / "start"))
    return ws


def test_the_writer_learns_from_use_and_a_forced_bad_version_is_rolled_back(write_workspace: Path) -> None:
    ws = write_workspace
    start = serving(ws, "write")
    before = use_for_a_day(ws, 200, seed=1)
    config = LearnConfig(kinds=["write"], steps=150, write_maturity_days=0)  # its rewards arrive at once
    (row,) = learn(ws, config)
    assert row.outcome == "promoted", row.why
    assert row.train_samples == 140 and row.holdout_samples == 60
    # the serving version evaluated on its own decisions: the weights are 1 but for the 5% write exploration that
    # mixed into the behaviour (policies.exploration.write), so the effective sample size is nearly all of them
    assert 0.95 * 60 <= row.serving_estimate.ess <= 60 and row.serving_estimate.method == "dr"
    assert row.difference.low > 0 and row.difference.method == "paired dr"
    assert row.difference.value == pytest.approx(row.candidate_estimate.value - row.serving_estimate.value, abs=2e-4)
    learned = serving(ws, "write")
    assert learned == row.candidate and learned != start
    history = [json.loads(line) for line in (ws / "policies" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["version"] == learned and history[-1]["source_detail"] == "reme learn"
    # the promoted writer stores the facts and drops the chatter: the next day earns more
    after = use_for_a_day(ws, 200, seed=2)
    assert after > before + 0.3, (before, after)  # measured: 0.05 -> 0.50
    rows = learn(ws, config)
    assert rows[0].outcome == "watch_passed", rows[0].why
    # a deliberately bad version served by force (ReMe's store-everything rule): the watcher rolls it back
    assert runner.invoke(app, ["policy", "activate", "write:heuristic", "-w", str(ws)]).exit_code == 0
    bad_day = use_for_a_day(ws, 200, seed=3)
    assert bad_day < after - 0.2, (bad_day, after)
    rows = learn(ws, config)
    assert rows[0].outcome == "rolled_back", rows[0].why
    assert serving(ws, "write") == learned
    assert "fell below the replaced version's" in rows[0].why
    # every row is on disk, oldest first
    assert [r.outcome for r in read_runs(ws)][:2] == ["promoted", "watch_passed"]


def test_an_unchanged_log_is_skipped_and_the_report_is_a_table_and_a_png(write_workspace: Path, tmp_path: Path):
    ws = write_workspace
    use_for_a_day(ws, 120, seed=1)
    config = LearnConfig(kinds=["write", "compact"], steps=20, write_maturity_days=0)
    first = learn(ws, config)
    assert [r.kind for r in first] == ["write", "compact"]
    assert first[1].outcome == "skipped" and "0 usable decisions" in first[1].why
    again = learn(ws, config)
    assert [(r.outcome, r.why) for r in again] == [("skipped", "no new records since the last run")] * 2
    png = tmp_path / "reward.png"
    r = runner.invoke(app, ["learn", "-w", str(ws), "--report", "--plot", str(png), "--json", "-"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert len(rows) == 4 and rows[0]["kind"] == "write" and png.stat().st_size > 10_000
    r = runner.invoke(app, ["learn", "-w", str(ws), "--report"], env={"COLUMNS": "220"})
    assert r.exit_code == 0 and r.stdout.count("no new records since the last run") == 2, r.stdout
    bad = runner.invoke(app, ["learn", "-w", str(ws), "--decision", "answer"])
    assert bad.exit_code == 2 and "unknown decision" in bad.stderr


def test_a_second_learner_is_refused(write_workspace: Path) -> None:
    with learner_lock(write_workspace), pytest.raises(WorkspaceError, match="another `reme learn`"):
        learn(write_workspace, LearnConfig(kinds=["write"]))


def test_a_failing_decision_leaves_its_serving_version_alone_and_is_retried(write_workspace: Path) -> None:
    ws = write_workspace
    use_for_a_day(ws, 80, seed=1)
    version = serving(ws, "write")
    (ws / "policies" / version / "policy.safetensors").write_bytes(b"not a checkpoint")
    (row,) = learn(ws, LearnConfig(kinds=["write"], steps=10, write_maturity_days=0))
    assert row.outcome == "failed" and "does not match its version hash" in row.why, row.why
    assert serving(ws, "write") == version
    (again,) = learn(ws, LearnConfig(kinds=["write"], steps=10, write_maturity_days=0))
    assert again.outcome == "failed"  # not "skipped": a failure is retried on the next run


def test_rank_learns_from_its_own_sampled_rankings(tmp_path: Path, minilm) -> None:
    from reme.datasets import load_dataset
    from reme.datasets.synthetic import write_synthetic
    from reme.policy.rank import HeuristicRankPolicy
    from reme.train.logs import logged_rank_samples, record_rank_logs

    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=3, seed=5)
    episodes, _ = load_dataset(data)
    ws = tmp_path / "ws"
    record_rank_logs(episodes, ws, HeuristicRankPolicy(temperature=0.2), samples=4, k=10, encoder=minilm)
    total = len(logged_rank_samples(ws))
    (row,) = learn(ws, LearnConfig(kinds=["rank"], steps=40, min_samples=20, bootstrap=100))
    assert row.outcome in ("kept", "promoted") and row.why
    assert row.train_samples + row.holdout_samples == total
    assert row.holdout_samples == total - round(total * 0.7)
    cand, serv = row.candidate_estimate, row.serving_estimate
    assert cand.method == serv.method == "pseudoinverse"
    assert cand.low <= cand.value <= cand.high and serv.low <= serv.value <= serv.high
    # the rule, whichever way it went
    diff = row.difference
    assert diff.method == "paired pseudoinverse" and diff.low <= diff.value <= diff.high
    assert diff.value == pytest.approx(cand.value - serv.value, abs=2e-4)  # the same terms, subtracted
    assert (row.outcome == "promoted") == (diff.low > 0 and not any(t["loses"] for t in row.targets))
    assert np.isfinite([cand.value, serv.value]).all()
    if row.outcome == "kept":  # nothing was activated
        history = ws / "policies" / "history.jsonl"
        assert not history.is_file() or all(json.loads(line).get("kind") != "rank" for line in history.open())


def test_a_background_learner_promotes_and_the_running_service_serves_it(write_workspace: Path) -> None:
    """``reme serve --learn``: the learner thread promotes from the log, the service reloads, and the next write
    over HTTP is decided by the promoted version."""
    import threading

    from fastapi.testclient import TestClient

    from reme.service import create_app
    from reme.train.learn import learn_in_background

    ws = write_workspace
    start = serving(ws, "write")
    use_for_a_day(ws, 200, seed=1)
    app_ = create_app(ws, extra_hosts=["testserver"], rate_limit=None)
    assert app_.state.memory.write_policy.version == start
    done = threading.Event()
    seen: list[str] = []

    def reload(rows: list) -> None:
        seen.extend(f"{r.kind} {r.outcome}" for r in rows)
        app_.state.memory.reload_policies()
        done.set()

    _, stop = learn_in_background(ws, 0.1, reload, LearnConfig(kinds=["write"], steps=150, write_maturity_days=0))
    try:
        assert done.wait(60), "the background learner promoted nothing"
    finally:
        stop.set()
    assert seen == ["write promoted"]
    promoted = serving(ws, "write")
    assert promoted != start and app_.state.memory.write_policy.version == promoted
    with TestClient(app_) as client:
        r = client.post("/v1/memories", json={"content": "My bike code is 4821 and I keep it in the car"})
        assert r.status_code == 200, r.text
    records = [json.loads(line) for p in sorted((ws / "trajectories").glob("*.jsonl")) for line in p.open()]
    writes = [d for d in records if d.get("type") == "decision" and d.get("kind") == "write"]
    assert writes[-1]["version"] == promoted
    with pytest.raises(BadInputError, match="positive"):
        learn_in_background(ws, 0, reload)


def test_the_watcher_compares_returns_at_the_same_age(tmp_path: Path) -> None:
    """A write version as good as the one it replaced, whose memories are used three days after they are written:
    four days after the activation its own decisions have had at most four days to earn. Against the replaced
    version's returns at the same age (a window as long, just before the activation, as the log stood then) it
    passes; against that version's matured returns it would be rolled back."""
    from datetime import UTC, datetime, timedelta

    from reme.policy.registry import activate
    from reme.retrieval.embedding import RandomEncoder
    from reme.schema import use_clock

    ws = tmp_path / "ws"
    start = datetime(2025, 3, 3, 9, tzinfo=UTC)
    clock = {"now": start}
    for name, data_hash in (("a", "first"), ("b", "second")):  # the same weights: the same behaviour
        PacedMLPWritePolicy(seed=0).save(tmp_path / name, training_data_hash=data_hash)
    pending: list[tuple[datetime, str]] = []
    with use_clock(lambda: clock["now"]):
        activate(ws, str(tmp_path / "a"))
        encoder = RandomEncoder()
        for day in range(14):
            if day == 10:
                activate(ws, str(tmp_path / "b"), note={"forced": True})
            with Memory(ws, encoder=encoder, seed=day) as mem:
                for i in range(12):
                    clock["now"] = start + timedelta(days=day, minutes=10 * i)
                    for when, memory_id in [p for p in pending if p[0] <= clock["now"]]:
                        mem.feedback(1.0, memory_id=memory_id, source="used")
                        pending.remove((when, memory_id))
                    node = mem.add(f"fact {day}-{i}: my code number {1000 * day + i} is in drawer {i}", "user:x")
                    if node is not None:
                        pending.append((clock["now"] + timedelta(days=3), node.memory_id))
        clock["now"] = start + timedelta(days=14)
        row = learn(ws, LearnConfig(kinds=["write"], watch_decisions=20, min_samples=10_000, gamma=1.0))[0]
    assert row.outcome == "watch_passed", row.why
    assert "at the same age" in row.why


def test_an_llms_own_decisions_are_not_this_learners_samples() -> None:
    """The ReAct writer's and the LLM compactor's decisions (token log-probabilities, kind write / compact) belong to
    the LLM trainer; ``reme learn`` would otherwise try to read them as a write gate's states and fail."""
    from reme.llm.decisions import llm_decision
    from reme.llm.types import ChatResult
    from reme.policy.decision import Decision
    from reme.policy.rewards import Sample
    from reme.train.learn import usable_samples

    said = llm_decision("write", "react-writer", "silent", ChatResult(text="[SILENT]", tokens=["[SILENT]"],
                                                                       token_logprobs=[-0.1]))  # fmt: skip
    gate = Decision(kind="write", policy="mlp-write", version="v", mode="sample", action="store", logprob=-0.2)
    rows = [Sample(decision=d, behaviour_logprob=-0.2, ret=0.0, rewards=0) for d in (said, gate)]
    assert [s.decision.policy for s in usable_samples(rows, "write")] == ["mlp-write"]


def test_a_paired_difference_cancels_the_noise_two_versions_share() -> None:
    """Known answer: both versions' terms carry the same large noise and the candidate earns 0.2 more on a quarter
    of the decisions. Each value alone is known to about +-0.14; their paired difference is 0.05 and clears 0."""
    from reme.train.learn import Estimate, LearnConfig, paired_difference

    shared = np.random.default_rng(0).normal(0.5, 1.0, 200)
    gain = np.where(np.arange(200) % 4 == 0, 0.2, 0.0)

    def estimate(terms: np.ndarray) -> Estimate:
        return Estimate(method="dr", value=float(terms.mean()), low=0.0, high=0.0, n=len(terms),
                        units=[[float(t)] for t in terms])  # fmt: skip

    config = LearnConfig(bootstrap=500)
    diff = paired_difference(estimate(shared + gain), estimate(shared), config)
    assert diff.value == pytest.approx(0.05, abs=1e-4) and diff.method == "paired dr"
    assert 0 < diff.low < 0.05 < diff.high < 0.1
    assert paired_difference(estimate(shared), estimate(shared), config).model_dump(
        include={"value", "low", "high"}
    ) == {"value": 0.0, "low": 0.0, "high": 0.0}
    # the units are not written with the runs
    assert "units" not in estimate(shared).model_dump()
    with pytest.raises(ValueError, match="same decisions"):
        paired_difference(estimate(shared[:10]), estimate(shared), config)
