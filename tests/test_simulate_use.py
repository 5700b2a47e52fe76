"""``benchmarks/simulate_use.py`` at small scale: a simulated user's days through ReMeLight's hook and ``Memory``, the
three arms, ``reme learn`` after every day of the learned arm, and the rollback of a deliberately bad version. The
full-scale figures (30 days, 3 seeds) are in docs/training.md; here the machinery is checked, not who wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reme.policy.audit import verify

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, style_suite: Path) -> tuple[dict, Path]:
    work = tmp_path_factory.mktemp("simulate")
    out = work / "report.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "simulate_use.py"), "--scale", "small", "--seeds", "0",
               "--work", str(work / "ws"), "--json", str(out), "--plot", str(work / "figure.png"),
               "--style-cache", str(style_suite)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["benchmark"] == "simulate_use"  # stdout is the JSON summary
    return json.loads(out.read_text()), work


def test_every_arm_lives_every_day_through_the_faces(report: tuple[dict, Path]) -> None:
    data, work = report
    assert data["arms"] == ["heuristic", "shipped", "learned"] and data["scale"]["days"] == 6
    arms = data["results"]["0"]
    for arm, result in arms.items():
        days = result["days"]
        assert [d["day"] for d in days] == list(range(6)), arm
        assert sum(d["questions"] for d in days) > 10 and sum(d["compactions"] for d in days) > 5, arm
        for d in days:
            assert set(d["rewards"]) == {"write", "rank", "rank_heuristic", "compact", "compact_heuristic"}
            assert d["rank_hits"] <= d["rank_reachable"] <= d["questions"]
    # ReMe's rule stores every new text (a turn said twice is one memory); the shipped writer at the live budget
    # stores about 30% of them
    last = {arm: result["days"][-1] for arm, result in arms.items()}
    assert (
        0.98 * last["heuristic"]["messages_seen"] <= last["heuristic"]["memories"] <= last["heuristic"]["messages_seen"]
    )
    assert 0.15 <= last["shipped"]["memories"] / last["shipped"]["messages_seen"] <= 0.45
    # in the arms that do not learn, the paired heuristic columns are the served ones
    for arm in ("heuristic", "shipped"):
        for d in arms[arm]["days"]:
            assert d["rewards"]["rank"] == d["rewards"]["rank_heuristic"]
            assert d["rewards"]["compact"] == d["rewards"]["compact_heuristic"]
    assert (work / "figure.png").stat().st_size > 20_000
    assert set(data["verdict"]) == {"write", "rank", "compact"}


def test_the_learned_arm_learns_every_day_and_its_log_replays(report: tuple[dict, Path]) -> None:
    data, work = report
    days = data["results"]["0"]["learned"]["days"]
    for d in days:
        assert {row["kind"] for row in d["learn"]} == {"rank", "write", "compact"}, d["learn"]
        assert not [row for row in d["learn"] if row["outcome"] == "failed"], d["learn"]
    # decisions and rewards joined: the compact decisions of ReMeLight's hook carry their rewards
    rows = [
        json.loads(line) for line in (work / "ws" / "seed0-learned" / "learn" / "runs.jsonl").read_text().splitlines()
    ]
    assert any(r["kind"] == "compact" and r["train_samples"] > 0 for r in rows)
    assert any(r["kind"] == "rank" and r["train_samples"] > 0 for r in rows)
    assert verify(work / "ws" / "seed0-learned").ok


def test_a_bad_version_served_by_force_is_rolled_back_by_the_watcher(report: tuple[dict, Path]) -> None:
    data, _ = report
    rollback = data["results"]["0"]["learned"]["rollback"]
    assert rollback["rolled_back_on_day"] is not None, rollback
    assert rollback["serving_after"] == rollback["served_before"] != rollback["bad_version"]
    judged = [r for d in rollback["days"] for r in d["learn"] if r["outcome"] == "rolled_back"]
    assert len(judged) == 1 and "fell below the replaced version's" in judged[0]["why"]


def test_the_rank_estimate_is_checked_against_the_truth_of_the_simulated_searches(
    report: tuple[dict, Path], style_suite: Path
) -> None:
    """benchmarks/rank_ope_truth.py matches every logged search of the learned arm to its question: the truth it
    rebuilds gives back the rewards the log holds, and the estimate of the logging policy itself is its return."""
    _, work = report
    out = work / "truth.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "rank_ope_truth.py"), "--workspace",
               str(work / "ws" / "seed0-learned"), "--seed", "0", "--scale", "small", "--steps", "20",
               "--temperatures", "0.05", "--style-cache", str(style_suite), "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["held_searches"] >= 5 and data["train_searches"] > data["held_searches"]
    assert data["truth"]["agrees_with_the_log"] >= 0.95
    assert abs(data["as_logged"]["heuristic"]["value"] - data["as_logged"]["logged_return"]) < 0.05
    truth = data["truth"]
    assert truth["difference"] == pytest.approx(truth["candidate"] - truth["heuristic"], abs=1e-3)
    assert truth["heuristic"] <= truth["ceiling"] and truth["head_from_true_labels"] <= truth["ceiling"]
    heads = data["used_label_heads"]  # the canary's candidates at each residual bound, with the style gate's verdict
    assert [h["bound"] for h in heads] == [2.0, 1.0, 0.5, 0.25]
    assert all(isinstance(h["style_gate_passes"], bool) and h["train_searches"] > 0 for h in heads)
    assert [row["temperature"] for row in data["relogged"]] == [0.05]
    # a wrong seed rebuilds other questions: the benchmark refuses instead of scoring against a wrong truth
    wrong = subprocess.run([*command[:5], "1", *command[6:]], capture_output=True, text=True, env=env, timeout=600,
                           cwd=ROOT)  # fmt: skip
    assert wrong.returncode != 0 and "seed" in wrong.stderr
