"""``evaluate_qa`` / ``reme eval qa``: answers from retrieved memories, graded by an LLM judge (LoCoMo's J), token
F1, per category; the verdicts become rewards on the searches that fed the answers."""

from __future__ import annotations

import json

import pytest
from llm_server import LocalLLMServer, make_tiny_model

from reme.datasets import generate_synthetic, parse_locomo
from reme.eval import is_scored
from reme.eval.qa import evaluate_qa, f1_score, normalize_answer, parse_verdict
from reme.llm import LLMConfig, build_llm
from reme.policy.audit import verify
from reme.policy.trajectory import read_records


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def episode():
    episodes, _ = parse_locomo(generate_synthetic(1, sessions=2, seed=1), "synthetic")
    return episodes[0]


def test_f1_and_verdicts():
    assert normalize_answer("The Lisbon, Portugal!") == "lisbon portugal"
    assert f1_score("Lisbon", "lisbon") == 1.0
    assert f1_score("in Lisbon city", "Lisbon") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert f1_score("", "x") == 0.0 and f1_score("Porto", "Lisbon") == 0.0
    assert parse_verdict("CORRECT.") and parse_verdict("correct") and not parse_verdict("WRONG")
    assert not parse_verdict("") and not parse_verdict("The answer is CORRECT")


def test_answers_are_judged_and_become_rewards(tmp_path, tiny_model, episode, random_encoder):
    scored = [q for q in episode.questions if is_scored(q, episode.format)][:3]
    assert len(scored) == 3
    with LocalLLMServer(tiny_model) as server:
        # per question: the answer, then the judge's verdict (one endpoint serves both here)
        server.reply(scored[0].answer, "CORRECT", "not mentioned", "WRONG", scored[2].answer, "CORRECT")
        llm = build_llm(LLMConfig(model="tiny", base_url=server.base_url, api_key="x", max_retries=0))
        result = evaluate_qa(
            [episode], llm, rank_policy=None, encoder=random_encoder, k=5, max_questions=3, keep_dir=tmp_path / "ws"
        )
    overall = result["results"]["overall"]
    assert result["queries"] == 3 and result["failed"] == 0 and overall["questions"] == 3
    assert overall["J"] == pytest.approx(2 / 3, abs=1e-4)
    assert overall["F1"] == pytest.approx((1.0 + 0.0 + 1.0) / 3, abs=1e-4)
    per_category = {k: v for k, v in result["results"].items() if k != "overall"}
    assert sum(v["questions"] for v in per_category.values()) == 3
    ws = tmp_path / "ws" / episode.episode_id
    records = [e.record for e in read_records(ws / "trajectories") if e.record is not None]
    rewards = [r for r in records if r.type == "reward"]
    decided = [r for r in records if r.type == "decision"]
    searches = {r.decision_id for r in decided if r.kind == "rank" and r.policy != "llm-answer"}
    answers = [r for r in records if r.type == "decision" and r.policy == "llm-answer"]
    assert sorted(r.value for r in rewards) == [0.0, 1.0, 1.0]
    assert {r.decision_id for r in rewards} <= searches  # the verdict rewards the search that fed the answer
    assert len(answers) == 3 and all(a.logprob is not None for a in answers)
    assert verify(ws).ok
    json.dumps(result)


def test_failed_calls_count_as_wrong_and_the_run_goes_on(tiny_model, episode, random_encoder):
    with LocalLLMServer(tiny_model) as server:
        server.fail_next(1, status=500)
        server.reply("x", "CORRECT")
        llm = build_llm(LLMConfig(model="tiny", base_url=server.base_url, api_key="x", max_retries=0))
        result = evaluate_qa([episode], llm, encoder=random_encoder, k=3, max_questions=2)
    assert result["failed"] == 1 and result["results"]["overall"]["questions"] == 2
    assert result["results"]["overall"]["J"] == 0.5


def test_cli_eval_qa(tmp_path, tiny_model, monkeypatch):
    from typer.testing import CliRunner

    from reme.cli import app

    data = tmp_path / "synthetic.json"
    data.write_text(json.dumps(generate_synthetic(1, sessions=2, seed=1)), encoding="utf-8")
    monkeypatch.setenv("LLM_API_KEY", "x")
    with LocalLLMServer(tiny_model) as server:
        server.reply("an answer", "WRONG", "another", "CORRECT")
        out = CliRunner().invoke(
            app,
            ["eval", "qa", "--dataset", str(data), "--llm-base-url", server.base_url, "--llm-model", "tiny",
             "--limit", "2", "--k", "5", "--json", "-"],
        )  # fmt: skip
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output[out.output.index("{") :])
    assert payload["results"]["overall"]["J"] == 0.5 and payload["queries"] == 2
