import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from reme.cli import app
from reme.datasets import load_dataset
from reme.datasets.synthetic import write_synthetic
from reme.train.episodes import split_episodes
from reme.train.rank_data import RankExample
from reme.train.rank_grpo import GRPOConfig, grpo_loss, orderings_reward, plackett_luce_logprob, train_grpo

runner = CliRunner()


def test_grpo_loss_on_a_two_candidate_toy_matches_a_hand_computation():
    # two candidates, k = 1, G = 2: the orderings [0] and [1] with rewards 1 and 0
    old_scores = torch.tensor([[0.0, 0.0]])  # p = (0.5, 0.5)
    new_scores = torch.tensor([[math.log(0.6), math.log(0.4)]])  # p = (0.6, 0.4)
    orderings = torch.tensor([[[0], [1]]])
    logp_old = plackett_luce_logprob(old_scores, orderings)
    logp_new = plackett_luce_logprob(new_scores, orderings)
    assert torch.allclose(logp_old, torch.log(torch.tensor([[0.5, 0.5]])))
    assert torch.allclose(logp_new, torch.log(torch.tensor([[0.6, 0.4]])))
    rewards = orderings_reward(orderings, torch.tensor([[1.0, 0.0]]), torch.tensor([1.0]), "recall")
    assert rewards.tolist() == [[1.0, 0.0]]
    adv = (rewards - rewards.mean(1, keepdim=True)) / rewards.std(1, keepdim=True)  # (+0.7071, -0.7071)
    a = 1 / math.sqrt(2)
    # ratios 1.2 and 0.8. epsilon 0.2: nothing clipped; -mean(1.2 a, -0.8 a) = -0.2 a
    loss, parts = grpo_loss(logp_new[0], logp_old[0], adv[0], epsilon=0.2)
    assert loss.item() == pytest.approx(-(1.2 * a - 0.8 * a) / 2, abs=1e-6)
    # epsilon 0.1: min(1.2 a, 1.1 a) = 1.1 a and min(-0.8 a, -0.9 a) = -0.9 a -> -(1.1 a - 0.9 a) / 2
    loss, parts = grpo_loss(logp_new[0], logp_old[0], adv[0], epsilon=0.1)
    assert loss.item() == pytest.approx(-(1.1 * a - 0.9 * a) / 2, abs=1e-6)
    assert parts["clip_frac"] == 1.0
    # the gradient moves probability towards the rewarded candidate
    s = new_scores.clone().requires_grad_(True)
    loss, _ = grpo_loss(plackett_luce_logprob(s, orderings)[0], logp_old[0], adv[0], epsilon=0.2)
    loss.backward()
    assert s.grad[0, 0] < 0 < s.grad[0, 1]


def test_plackett_luce_batch_matches_the_numpy_reference():
    from reme.policy import plackett_luce as pl

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3, 7))
    orderings = np.stack([[rng.permutation(7)[:4] for _ in range(5)] for _ in range(3)])
    batch = plackett_luce_logprob(torch.from_numpy(scores), torch.from_numpy(orderings))
    for b in range(3):
        for g in range(5):
            assert batch[b, g].item() == pytest.approx(pl.logprob(scores[b], orderings[b, g]), abs=1e-9)


def _toy_examples(n: int, seed: int) -> list[RankExample]:
    """Questions whose evidence candidate is marked (noisily) by one feature the heuristic ignores."""
    from reme.policy.rank_features import RANK_FEATURES

    rng = np.random.default_rng(seed)
    col = RANK_FEATURES.index("word_overlap")
    out = []
    for q in range(n):
        x = rng.random((30, len(RANK_FEATURES))).astype(np.float32)
        rel = np.zeros(30, dtype=bool)
        rel[rng.integers(30)] = True
        x[:, col] = rng.random(30) * 0.5
        x[rel, col] += 0.5
        out.append(RankExample("e", f"q{q}", x, rel, 1))
    return out


def test_a_few_grpo_steps_raise_the_reward():
    config = GRPOConfig(steps=100, group_size=8, k=5, lr=0.01, seed=0, eval_every=1000)
    result = train_grpo(_toy_examples(64, 0), config)
    rewards = [s["reward"] for s in result.steps]
    assert np.mean(rewards[-10:]) > np.mean(rewards[:10]) + 0.1


def test_grpo_trains_on_extra_feature_columns_and_learns_from_them():
    """``GRPOConfig.feature_names`` (benchmarks/rank_query_features.py): a column beside ``RANK_FEATURES`` that
    alone marks the evidence is learned, and the head is scored with the same columns."""
    from reme.policy.rank_features import RANK_FEATURES
    from reme.train.rank_data import evaluate_scores
    from reme.train.rank_grpo import policy_scores

    rng = np.random.default_rng(1)
    examples = []
    for q in range(64):
        x = rng.random((30, len(RANK_FEATURES) + 1)).astype(np.float32)
        rel = np.zeros(30, dtype=bool)
        rel[rng.integers(30)] = True
        x[:, -1] = rel  # the extra column is the answer
        examples.append(RankExample("e", f"q{q}", x, rel, 1))
    names = (*RANK_FEATURES, "oracle")
    config = GRPOConfig(steps=60, group_size=8, k=5, lr=0.02, seed=0, eval_every=1000, feature_names=names)
    result = train_grpo(examples, config)
    assert result.policy.feature_names == names
    scores = policy_scores(result.policy, examples)
    assert all(s.shape == (30,) for s in scores)
    assert evaluate_scores(examples, scores)["recall@1"] > 0.5  # chance is 1/30


def test_train_policy_cli_round_trip_on_synthetic_data(tmp_path, monkeypatch):
    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=3, sessions=3, seed=4)
    out = tmp_path / "ckpt"
    r = runner.invoke(
        app,
        ["train-policy", "--decision", "rank", "--dataset", str(data), "--val-fraction", "0.34", "--out", str(out),
         "--steps", "20", "--group-size", "4", "--device", "cpu", "--seed", "1", "--json", "-"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert set(summary["final"]) == {"grpo", "heuristic"}
    for name in ("policy.safetensors", "policy.json", "metrics.json", "curves.png"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["steps"]) == 20 and set(metrics["steps"][0]) == {"step", "reward", "loss", "kl", "entropy"}
    kept = next(v for v in metrics["validation"] if v["step"] == metrics["best_step"])
    final = kept["results"]
    assert set(final) == {"grpo", "heuristic"} and all(0.0 <= final[n]["recall@10"] <= 1.0 for n in final)
    assert final == summary["final"]  # the summary reports the kept step's validation, not another number
    assert metrics["device"] == "cpu" and 0 < metrics["seconds"] < 600
    episodes, _ = load_dataset(data)
    _, held_out = split_episodes(episodes, 0.34, 1)
    r = runner.invoke(
        app,
        ["eval", "retrieval", "--dataset", str(data), "--conversations", ",".join(e.episode_id for e in held_out),
         "--policy", "heuristic", "--policy", str(out), "--json", "-"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    evaluated = json.loads(r.stdout)["results"]
    assert evaluated["ckpt"] == pytest.approx(summary["final"]["grpo"])  # the same candidates, features and order
    assert evaluated["heuristic"] == pytest.approx(summary["final"]["heuristic"])


def test_rank_training_keeps_the_step_with_the_best_worst_style_margin(tmp_path):
    """Each --val-dataset is a style; the kept head is the validated step whose smallest recall@10 margin over the
    heuristic across the styles is largest, so a step that wins on one style by losing another is not kept."""
    train, chat, assistant = tmp_path / "train.json", tmp_path / "chat.json", tmp_path / "assistant.json"
    write_synthetic(train, n_conversations=2, sessions=3, seed=4)
    write_synthetic(chat, n_conversations=1, sessions=3, seed=5)
    write_synthetic(assistant, n_conversations=1, sessions=3, seed=6, style="assistant")
    out = tmp_path / "ckpt"
    r = runner.invoke(
        app,
        ["train-policy", "--decision", "rank", "--dataset", str(train), "--val-dataset", str(chat),
         "--val-dataset", str(assistant), "--out", str(out), "--steps", "40", "--group-size", "4", "--device", "cpu",
         "--json", "-"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selection"].startswith("worst-style")
    history = metrics["validation_styles"]
    assert [h["step"] for h in history] == [v["step"] for v in metrics["validation"]] == [25, 40]
    assert all(set(h["styles"]) == {"chat", "assistant"} for h in history)
    worst = {h["step"]: min(s["margin"] for s in h["styles"].values()) for h in history}
    assert metrics["best_step"] in worst and worst[metrics["best_step"]] == max(worst.values())
    kept = next(h["styles"] for h in history if h["step"] == metrics["best_step"])
    assert metrics["val_styles"] == kept  # the written head is the kept step's, re-scored


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dataset", "/no/such.json", "--out", "{tmp}/o"], "not found"),
        (["--dataset", "{data}"], "--out"),
        (["--out", "{tmp}/o"], "--dataset"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--algo", "dqn"], "available are"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--decision", "forget"], "use rank, write, compact or writer"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--decision", "write", "--algo", "supervised"], "GRPO"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--budget", "0.3"], "--budget is for"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--decision", "write", "--budget", "1.5"], "budget"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--val-fraction", "1.5"], "--val-fraction"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--group-size", "1", "--steps", "2"], "group-size"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--device", "tpu"], "--device"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--conversations", "nope"], "unknown conversation"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--exclude-conversations", "nope"], "unknown conversation"),
        (["--dataset", "{data}", "--out", "{tmp}/o", "--exclude-val-conversations", "x"], "need --val-dataset"),
    ],
)
def test_train_policy_bad_flags(tmp_path, args, needle):
    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=2, seed=0)
    argv = [a.replace("{data}", str(data)).replace("{tmp}", str(tmp_path)) for a in args]
    r = runner.invoke(app, ["train-policy", *argv])
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and "Traceback" not in r.output


def test_off_policy_path_record_train_evaluate(tmp_path, minilm):
    from reme.policy.rank import HeuristicRankPolicy
    from reme.train.logs import logged_rank_samples, record_rank_logs
    from reme.train.ope import evaluate_offpolicy
    from reme.train.rank_ppo import PPOConfig, advantages, train_ppo

    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=3, seed=5)
    episodes, _ = load_dataset(data)
    ws = tmp_path / "ws"
    counts = record_rank_logs(episodes, ws, HeuristicRankPolicy(temperature=0.2), samples=3, k=5, encoder=minilm)
    assert counts["decisions"] == 3 * counts["questions"] > 0 and counts["rewards"] == counts["decisions"]
    samples = logged_rank_samples(ws)
    assert len(samples) == counts["decisions"]
    assert all(s.behaviour_logprob <= 0 and 0 <= s.ret <= 1 and len(s.ordering) == 5 for s in samples)
    adv = advantages(samples)
    assert np.isfinite(adv).all()
    # the log replays: verify re-scores every sampled decision
    assert runner.invoke(app, ["trajectories", "verify", "-w", str(ws)]).exit_code == 0
    result = train_ppo(samples, PPOConfig(steps=15, batch_samples=16, seed=0, eval_every=100))
    assert len(result.steps) == 15 and all(np.isfinite(s["loss"]) for s in result.steps)
    # off-policy evaluation of the behaviour policy itself: SNIS weights are all 1 (the logged mean, full ESS),
    # and the pseudoinverse estimate is the logged mean up to its Monte Carlo error
    same = evaluate_offpolicy(samples, HeuristicRankPolicy(temperature=0.2), workspace=ws, bootstrap=50)
    assert same["snis"]["estimate"] == pytest.approx(same["behaviour_return"], abs=1e-4)
    assert same["snis"]["ess"] == pytest.approx(len(samples), rel=1e-6)
    assert same["method"] == "pseudoinverse" and same["estimate"] == pytest.approx(same["behaviour_return"], abs=0.03)
    other = evaluate_offpolicy(samples, result.policy, workspace=ws, bootstrap=50)
    assert 1 <= other["snis"]["ess"] <= len(samples) and other["ci_low"] <= other["estimate"] <= other["ci_high"]
    # the CLI trains from the same log and evaluates the result
    out = tmp_path / "ppo"
    r = runner.invoke(
        app,
        ["train-policy", "--from-trajectories", str(ws), "--out", str(out), "--steps", "10", "--device", "cpu"],
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["algo"] == "ppo" and metrics["threads"] >= 1  # the count its figures hold for
    r = runner.invoke(app, ["policy", "evaluate", "-w", str(ws), "--candidate", str(out), "--json", "-"])
    assert r.exit_code == 0 and set(json.loads(r.stdout)) >= {"estimate", "ess", "ci_low", "ci_high", "n"}
    assert runner.invoke(app, ["train-policy", "--from-trajectories", str(tmp_path), "--out", str(out)]).exit_code == 2
    assert (
        runner.invoke(app, ["train-policy", "--algo", "ppo", "--dataset", str(data), "--out", str(out)]).exit_code == 2
    )


def test_off_policy_estimate_of_a_greedy_ranker_under_exploration_is_its_logged_mean(tmp_path, minilm):
    """Searches served greedily with rank exploration (20% sampled from the policy): the pseudoinverse estimator
    takes that mixture as the logging distribution and values a policy as it would serve (greedy, exploring the
    same share), so the logger's own estimate is its logged mean."""
    from reme.memory import Memory
    from reme.policy.rank import HeuristicRankPolicy
    from reme.settings import ExplorationSettings, PolicySettings, WorkspaceSettings
    from reme.train.logs import logged_rank_samples
    from reme.train.ope import evaluate_offpolicy

    data = tmp_path / "synth.json"
    write_synthetic(data, n_conversations=2, sessions=4, seed=7)
    episodes, _ = load_dataset(data)
    settings = WorkspaceSettings(policies=PolicySettings(rank="heuristic", exploration=ExplorationSettings(rank=0.2)))
    ws = tmp_path / "ws"
    with Memory(ws, encoder=minilm, settings=settings) as mem:
        for episode in episodes:
            target = f"user:{episode.episode_id}"
            nodes = mem.add_many([{"content": t.text, "metadata": {"turn": t.turn_id}} for t in episode.turns], target)
            turn_of = {n.memory_id: n.metadata["turn"] for n in nodes}
            for q in [q for q in episode.questions if q.evidence] * 3:
                decision, hits = mem.search_with_decision(q.question, 5, target)
                found = any(turn_of.get(h.memory.memory_id) in q.evidence for h in hits)
                mem.feedback(1.0 if found else 0.0, decision_id=decision.decision_id)
    samples = logged_rank_samples(ws)
    assert len(samples) > 60 and {s.epsilon for s in samples} == {0.2}
    same = evaluate_offpolicy(samples, HeuristicRankPolicy(), workspace=ws, bootstrap=50)
    assert same["estimate"] == pytest.approx(same["behaviour_return"], abs=0.05), same


def test_follow_publishes_a_new_version_per_round_of_new_records(tmp_path):
    from reme.train.follow import follow
    from reme.train.logs import LoggedRankSample
    from reme.train.rank_ppo import PPOConfig

    rng = np.random.default_rng(0)
    pool = []
    for q in range(40):
        x = _toy_examples(1, q)[0].features
        for g in range(4):
            order = [int(i) for i in rng.permutation(len(x))[:5]]
            pool.append(LoggedRankSample(f"d{q}-{g}", f"q{q}", x, order, -8.0, float(rng.random())))
    growth = iter([20, 20, 60, 60, 60, 160])  # how many records the log holds at each look
    sleeps = []
    rounds = follow(
        "unused",
        tmp_path / "out",
        PPOConfig(steps=3, batch_samples=8, eval_every=100),
        poll_seconds=5,
        max_rounds=3,
        load=lambda _: pool[: next(growth)],
        sleep=sleeps.append,
    )
    assert [r["samples"] for r in rounds] == [20, 60, 160] and sleeps == [5, 5, 5]  # three looks found nothing new
    assert len({r["version"] for r in rounds}) == 3  # each round publishes a new version
    lines = (tmp_path / "out" / "versions.jsonl").read_text().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [r["version"] for r in rounds]
    from reme.policy.rank import MLPRankPolicy

    assert MLPRankPolicy.load(tmp_path / "out").version == rounds[-1]["version"]


def test_one_seed_gives_one_checkpoint(tmp_path):
    examples = _toy_examples(32, 3)
    config = GRPOConfig(steps=15, group_size=8, k=5, seed=7, eval_every=100)
    a = train_grpo(examples, config).policy.save(tmp_path / "a")
    b = train_grpo(examples, config).policy.save(tmp_path / "b")
    assert a == b
    assert (tmp_path / "a" / "policy.safetensors").read_bytes() == (tmp_path / "b" / "policy.safetensors").read_bytes()
    c = train_grpo(examples, GRPOConfig(steps=15, group_size=8, k=5, seed=8, eval_every=100)).policy.save(
        tmp_path / "c"
    )
    assert c != a


def test_feedback_under_the_defaults_says_why_it_cannot_be_trained_on(tmp_path, random_encoder):
    """Issue 24.1: greedy searches with rank exploration off give a learner nothing: `trajectories stats` counts
    what is learnable and why not, and `train-policy --from-trajectories` says how to make the log trainable."""
    from reme.memory import Memory

    ws = tmp_path / "ws"
    with Memory(ws, encoder=random_encoder) as mem:
        mem.add("Alice lives in Lisbon", "user:alice")
        decision, _ = mem.search_with_decision("Where does Alice live?", 3, "user:alice")
        mem.feedback(1.0, decision_id=decision.decision_id)
        mem.search_with_decision("Alice's city", 3, "user:alice")
    r = runner.invoke(app, ["trajectories", "stats", "-w", str(ws), "--json", "-"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["learnable"]["rank"] == {"greedy, exploration off": 2}
    out = tmp_path / "ppo"
    r = runner.invoke(app, ["train-policy", "--from-trajectories", str(ws), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 2
    assert "2 greedy, exploration off" in r.stderr and "policies.exploration.rank" in r.stderr, r.stderr
