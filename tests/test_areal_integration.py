"""The AReaL integration without AReaL: the agent workflow against a loopback OpenAI-compatible endpoint (standing
in for AReaL's proxy), the trajectory sink the head trains from, and the experiment that ``--backend areal`` writes."""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime

import pytest
import yaml
from llm_server import LocalLLMServer, make_tiny_model

from reme.datasets import generate_synthetic, parse_locomo
from reme.eval import is_scored
from reme.integrations.areal import ReMeWriterAgent, episode_messages
from reme.policy.audit import verify
from reme.policy.trajectory import read_records
from reme.schema import Episode

TODAY = datetime.now().strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def episode() -> Episode:
    episodes, _ = parse_locomo(generate_synthetic(1, sessions=2, seed=2), "synthetic")
    return episodes[0]


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_run_rewards_the_episode_and_fills_the_sink(tmp_path, tiny_model, episode, random_encoder):
    sessions = episode_messages(episode)
    assert len(sessions) == 2 and all(m["role"] in ("user", "assistant") for m in sessions[0])
    facts = "\n".join(f"- {m['content']}" for m in sessions[0])  # the writer keeps session 1 verbatim
    path = f"memory/{TODAY}.md"
    agent = ReMeWriterAgent(sink_dir=str(tmp_path / "sink"), head_dir=str(tmp_path / "head"), k=5, memory_cost=0.1,
                            episode="react")  # fmt: skip
    agent.encoder = random_encoder
    data = {"episode": episode.model_dump(mode="json"), "group_id": "g1"}
    with LocalLLMServer(tiny_model) as server:
        server.reply(call("write_file", path=path, content=f"# {TODAY}\n{facts}\n"), "Recorded.", "[SILENT]")
        reward = asyncio.run(agent.run(data, base_url=server.base_url, api_key="session-key"))
        assert len(server.requests) == 3  # only the writer used the trained endpoint
        assert all(r.get("logprobs") for r in server.requests)
    assert isinstance(reward, float) and -1.0 <= reward <= 1.0
    records = [e.record for e in read_records(tmp_path / "sink" / "trajectories") if e.record is not None]
    writer = [r for r in records if r.type == "decision" and r.policy == "llm-writer"]
    ranks = [r for r in records if r.type == "decision" and r.kind == "rank"]
    rewards = [r for r in records if r.type == "reward"]
    scored = [q for q in episode.questions if is_scored(q, episode.format)]
    assert len(writer) == 3 and all(d.logprob is not None for d in writer)
    assert len(ranks) == len(scored) and all(d.mode == "sample" and d.group_id == "g1" for d in ranks)
    assert {r.decision_id for r in rewards} <= {d.decision_id for d in ranks} and len(rewards) == len(ranks)
    assert len({d.episode_id for d in ranks}) == 1
    assert verify(tmp_path / "sink").ok

    # the head trains from the sink (decoupled PPO from logs)
    from typer.testing import CliRunner

    from reme.cli import app

    out = CliRunner().invoke(
        app,
        ["train-policy", "--from-trajectories", str(tmp_path / "sink"), "--out", str(tmp_path / "head"),
         "--steps", "5", "--json", "-"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert (tmp_path / "head" / "policy.json").is_file()
    head = agent.head()  # hot reload: the next episode uses the published version
    version = json.loads((tmp_path / "head" / "policy.json").read_text())["version"]
    assert head.version == version and agent._head_version == version


def test_the_gate_episode_is_the_local_trainers_on_the_endpoint(tmp_path, tiny_model, episode, random_encoder):
    """``episode="gate"`` (the default): the shared writer episode (``reme.envs.writer_episode``) with the write gate
    on AReaL's endpoint; only the window's decisions call it; a reply that is neither STORE: nor SKIP is a logged
    ``malformed`` discard; the reward is the writer decisions' joined return."""
    from reme.envs.write import WriteEpisode

    agent = ReMeWriterAgent(sink_dir=str(tmp_path / "sink"), head_dir=str(tmp_path / "head"), k=5, memory_cost=0.1,
                            window=3)  # fmt: skip
    agent.encoder = random_encoder
    assert agent.episode == "gate"
    data = {"episode": episode.model_dump(mode="json"), "group_id": "g2", "start": 2}
    with LocalLLMServer(tiny_model) as server:
        server.reply("STORE: Caroline's support group, May 2023", "SKIP", "I think this is nice")
        reward = asyncio.run(agent.run(data, base_url=server.base_url, api_key="session-key"))
        assert len(server.requests) == 3 and all(r.get("logprobs") for r in server.requests)
    records = [e.record for e in read_records(tmp_path / "sink" / "trajectories") if e.record is not None]
    gate = [r for r in records if r.type == "decision" and r.policy == "llm-write-gate"]
    assert [d.action for d in gate] == ["store", "discard", "discard"]
    assert gate[0].extra["note"] == "Caroline's support group, May 2023" and gate[2].extra["malformed"]
    assert all(d.logprob is not None and d.group_id == "g2" for d in gate)
    ranks = [r for r in records if r.type == "decision" and r.kind == "rank"]
    built = WriteEpisode.build(episode, random_encoder)
    assert len(ranks) == len(built.questions) and all(d.mode == "sample" for d in ranks)
    assert isinstance(reward, float) and math.isfinite(reward)
    assert verify(tmp_path / "sink").ok
    with pytest.raises(ValueError, match="gate"):
        ReMeWriterAgent(episode="tools")


def test_dry_run_writes_a_complete_experiment(tmp_path, episode):
    from typer.testing import CliRunner

    from reme.cli import app

    data = tmp_path / "synthetic.json"
    data.write_text(json.dumps(generate_synthetic(2, sessions=2, seed=3)), encoding="utf-8")
    out = tmp_path / "exp"
    result = CliRunner().invoke(
        app,
        ["train-policy", "--backend", "areal", "--decision", "write", "--dataset", str(data), "--out", str(out),
         "--model", "/models/tiny", "--dry-run", "--json", "-"],  # --decision write: the name before writer
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["workflow"] == "reme.integrations.areal.agent.ReMeWriterAgent"
    assert config["actor"]["path"] == "/models/tiny" and config["gconfig"]["n_samples"] == 8
    assert config["actor"]["use_decoupled_loss"] is True and config["actor"]["reward_norm"] is None
    assert config["actor"]["adv_norm"] == {"mean_level": "batch", "std_level": "batch"}
    assert config["rollout"]["agent"]["mode"] == "inline" and config["scheduler"]["type"] == "local"
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 8 and Episode.model_validate(rows[0]["episode"]).turns  # 8 window starts each
    compile((out / "train.py").read_text(), "train.py", "exec")
    assert "load_expr_config" in (out / "train.py").read_text()
    # without --dry-run it refuses clearly here (areal is not installed in this environment)
    refused = CliRunner().invoke(
        app,
        ["train-policy", "--backend", "areal", "--decision", "write", "--dataset", str(data), "--out", str(out)],
    )
    assert refused.exit_code == 1 and "areal" in refused.output
    wrong = CliRunner().invoke(
        app, ["train-policy", "--backend", "areal", "--decision", "rank", "--dataset", str(data), "--out", str(out)]
    )
    assert wrong.exit_code == 2
