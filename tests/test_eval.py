import json
import math

import pytest
from fusion_ranker import FusionRanker, save_ranker
from typer.testing import CliRunner

from reme.cli import app
from reme.datasets import load_dataset
from reme.datasets.synthetic import write_synthetic
from reme.errors import BadInputError
from reme.eval import evaluate_retrieval, ndcg_at, parse_ks, recall_at, sessions_in_order
from reme.policy.rank import HeuristicRankPolicy

runner = CliRunner()


def test_metric_definitions_by_hand():
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"b", "z"}, 1) == 0.0
    assert recall_at(ranked, {"b", "z"}, 2) == 0.5
    # one relevant of two at rank 2: DCG = 1/log2(3); ideal = 1 + 1/log2(3)
    assert ndcg_at(ranked, {"b", "z"}, 10) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at(ranked, {"a"}, 10) == 1.0
    assert sessions_in_order(["t1", "t2", "t3", "t4"], {"t1": "s2", "t2": "s1", "t3": "s2", "t4": "s3"}) == [
        "s2",
        "s1",
        "s3",
    ]
    assert parse_ks("20, 1,5") == [1, 5, 20]
    for bad in ("", "a,b", "0", "5,-1"):
        with pytest.raises(BadInputError):
            parse_ks(bad)


def _longmemeval_file(path):
    def session(*turns):
        return [{"role": r, "content": c, **({"has_answer": True} if a else {})} for r, c, a in turns]

    items = [
        {
            "question_id": "q1",
            "question_type": "single-session-user",
            "question": "What breed is my dog?",
            "answer": "a beagle",
            "question_date": "2023/05/30 (Tue) 10:00",
            "haystack_session_ids": ["s_a", "s_b", "s_c"],
            "haystack_dates": ["2023/05/01 (Mon) 09:00", "2023/05/10 (Wed) 09:00", "2023/05/20 (Sat) 09:00"],
            "haystack_sessions": [
                session(("user", "Can you suggest a pasta recipe?", False), ("assistant", "Try carbonara.", False)),
                session(("user", "My beagle Pixel keeps chewing shoes.", True), ("assistant", "Use chew toys.", False)),
                session(("user", "How do I fix a flat bike tire?", False), ("assistant", "Patch the tube.", False)),
            ],
            "answer_session_ids": ["s_b"],
        },
        {
            "question_id": "q2_abs",
            "question_type": "single-session-user",
            "question": "What is my cat's name?",
            "answer": "You never mentioned a cat.",
            "question_date": "2023/05/30 (Tue) 10:00",
            "haystack_session_ids": ["s_x"],
            "haystack_dates": ["2023/05/01 (Mon) 09:00"],
            "haystack_sessions": [session(("user", "I love hiking.", False), ("assistant", "Nice!", False))],
            "answer_session_ids": [],
        },
    ]
    path.write_text(json.dumps(items))
    return path


def test_longmemeval_session_recall(tmp_path, minilm):
    episodes, _ = load_dataset(_longmemeval_file(tmp_path / "lme.json"))
    result = evaluate_retrieval(
        episodes, {"heuristic": HeuristicRankPolicy()}, ks=[1, 5], encoder=minilm, cache_path=tmp_path / "c.db"
    )
    assert result["format"] == "longmemeval" and result["queries"] == 1  # the _abs question is left out
    metrics = result["results"]["heuristic"]
    assert metrics["recall@1"] == 1.0 and metrics["session_recall@5"] == 1.0
    assert set(metrics) == {"recall@1", "recall@5", "ndcg@10", "session_recall@5", "session_recall@10"}


def test_eval_cli_on_synthetic_with_two_policies(tmp_path):
    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=3, seed=3)
    ckpt = save_ranker(FusionRanker(vector_weight=1.0), tmp_path / "dense-only")
    r = runner.invoke(
        app,
        ["eval", "retrieval", "--dataset", str(data), "--policy", "heuristic", "--policy", str(ckpt), "--json", "-"],
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["dataset"] == str(data) and payload["format"] == "locomo" and payload["queries"] > 0
    assert set(payload["results"]) == {"heuristic", "dense-only"}
    for metrics in payload["results"].values():
        assert set(metrics) == {"recall@1", "recall@5", "recall@10", "recall@20", "ndcg@10"}
        assert 0.0 <= metrics["recall@1"] <= metrics["recall@5"] <= metrics["recall@10"] <= metrics["recall@20"] <= 1
    episodes, _ = load_dataset(data)
    first = episodes[0].episode_id
    r = runner.invoke(
        app,
        [
            "eval",
            "retrieval",
            "--dataset",
            str(data),
            "--conversations",
            first,
            "--text-format",
            "plain",
            "--json",
            "-",
        ],
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["queries"] < payload["queries"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dataset", "/no/such/file.json"], ""),
        (["--dataset", "{data}", "--format", "parquet"], "format"),
        (["--dataset", "{data}", "--conversations", "nope"], "unknown conversation"),
        (["--dataset", "{data}", "--policy", "/no/such/ckpt"], "policy.json"),
        (["--dataset", "{data}", "--k", "x"], "--k"),
        (["--dataset", "{data}", "--text-format", "fancy"], "text format"),
    ],
)
def test_eval_bad_input(tmp_path, args, needle):
    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=1, sessions=2, seed=1)
    r = runner.invoke(app, ["eval", "retrieval", *[a.replace("{data}", str(data)) for a in args]])
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and "Traceback" not in r.output


def test_corrupt_dataset_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"conversation": ')
    r = runner.invoke(app, ["eval", "retrieval", "--dataset", str(bad)])
    assert r.exit_code == 2 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1


def test_locomo_fusion_reproduces_the_reference_figures(locomo_path, minilm, tmp_path):
    """shared/data/README.md: ReMe fusion over plain turns, R@5 0.528, R@10 0.608, R@20 0.695 (within 0.02)."""
    episodes, _report = load_dataset(locomo_path)
    result = evaluate_retrieval(
        episodes,
        {"heuristic": HeuristicRankPolicy()},
        text_format="plain",
        encoder=minilm,
        cache_path=tmp_path / "c.db",
    )
    assert result["queries"] == 883
    metrics = result["results"]["heuristic"]
    for k, reference in ((5, 0.528), (10, 0.608), (20, 0.695)):
        assert abs(metrics[f"recall@{k}"] - reference) <= 0.02, (k, metrics)


def test_eval_cli_on_longmemeval_reports_session_recall(tmp_path):
    path = _longmemeval_file(tmp_path / "lme.json")
    r = runner.invoke(app, ["eval", "retrieval", "--dataset", str(path), "--format", "longmemeval", "--json", "-"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["format"] == "longmemeval" and payload["queries"] == 1
    assert payload["results"]["heuristic"]["session_recall@5"] == 1.0
    r = runner.invoke(app, ["eval", "retrieval", "--dataset", str(path), "--format", "locomo"])
    assert r.exit_code == 2 and "Traceback" not in r.output
