"""The ReMe 0.3.1.x compatibility walk for ``ReMeLight``: construct with ReMe's keywords, start, compact tool results,
check the context, summarise and compact with an LLM, search; return types, shapes and files written.

The LLM is an OpenAI-compatible server on loopback (``tests/llm_server.py``) whose replies are scripted to drive the
ReAct writer, and whose token log-probabilities come from a real tiny transformers model built in the test.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pytest
from llm_server import LocalLLMServer, make_tiny_model

from reme.errors import ReMeError
from reme.policy.audit import verify
from reme.policy.trajectory import read_records
from reme.reme_light import ReMeLight
from reme.reme_light.messages import Msg

TODAY = datetime.now().strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def server(tiny_model):
    with LocalLLMServer(tiny_model) as srv:
        yield srv


def light(tmp_path: Path, server: LocalLLMServer, encoder, **kw) -> ReMeLight:
    return ReMeLight(
        working_dir=str(tmp_path / "ws"),
        llm_api_key="EMPTY",
        llm_base_url=server.base_url,
        default_as_llm_config={"model_name": "tiny-test-lm"},
        default_file_store_config={"fts_enabled": True, "vector_enabled": True},
        default_file_watcher_config={"rebuild_index_on_start": True},
        vector_weight=0.7,
        candidate_multiplier=3.0,
        encoder=encoder,
        **kw,
    )


def run(coro):
    return asyncio.run(coro)


def decisions(ws: Path, policy: str | None = None) -> list:
    out = [e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type == "decision"]
    return [d for d in out if policy is None or d.policy == policy]


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def conversation() -> list[Msg]:
    return [
        Msg(name="user", role="user", content="I moved to Lisbon in May 2024, and I am allergic to peanuts."),
        Msg(name="assistant", role="assistant", content="Noted: Lisbon since May 2024, and a peanut allergy."),
    ]


# --------------------------------------------------------------------------------------------------------------
# construct, start, layout
# --------------------------------------------------------------------------------------------------------------


def test_construct_start_and_layout(tmp_path, server, random_encoder):
    reme = light(tmp_path, server, random_encoder)
    ws = tmp_path / "ws"
    for sub in ("memory", "tool_result", "dialog"):
        assert (ws / sub).is_dir()
    assert ReMeLight.calculate_memory_compact_threshold(128 * 1024, 0.7) == 87162
    with pytest.raises(ReMeError):
        run(reme.memory_search("anything"))
    assert run(reme.start()) is reme
    memory = reme.get_in_memory_memory()
    assert Path(memory.dialog_dir) == ws / "dialog"
    assert run(reme.close()) is False  # ReMe's close returns False after closing a started instance
    assert run(reme.close()) is True  # ... and True when it was not started


# --------------------------------------------------------------------------------------------------------------
# tool results and the context split
# --------------------------------------------------------------------------------------------------------------


def test_compact_tool_result_and_check_context(tmp_path, server, random_encoder):
    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            big = "\n".join(f"line {i}: " + "x" * 60 for i in range(400))
            msgs = [
                {"role": "user", "content": "list the files"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": big},
                {"role": "assistant", "content": "done"},
            ]  # fmt: skip
            out = await reme.compact_tool_result(msgs, old_max_bytes=3000, recent_max_bytes=3000)
            assert out is msgs and "<<<TRUNCATED>>>" in msgs[2]["content"]
            saved = list((tmp_path / "ws" / "tool_result").glob("*.txt"))
            assert len(saved) == 1 and saved[0].read_text(encoding="utf-8") == big

            small = [{"role": "user", "content": "hi"}]
            assert await reme.check_context(small, 1000, memory_compact_reserve=100) == ([], small, True)
            # as in ReMe, a threshold that does not exceed the reserve compacts nothing and says so
            assert await reme.check_context(small, memory_compact_threshold=1000) == ([], small, False)
            long = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 40} for i in range(30)]
            to_compact, to_keep, valid = await reme.check_context(
                long, memory_compact_threshold=500, memory_compact_reserve=400
            )
            assert valid and to_compact + to_keep == long and to_keep == long[len(to_compact) :]
            # the split is the decision a host can reward by id, scoped to the file memory's target
            taken = reme.last_compact_decision
            assert taken is not None and taken.extra["target"] == "file:memory"
            assert reme.memory.decision(taken.decision_id).kind == "compact"
            assert sum(len(m["content"].encode()) / 3.75 for m in to_keep) <= 400 + len(to_keep)
            assert await reme.check_context("not a list", memory_compact_threshold=10) == ([], "not a list", False)

    run(scenario())
    compact = decisions(tmp_path / "ws", "heuristic-tail-reserve")
    assert len(compact) == 1 and compact[0].logprob is not None  # the split is a logged decision
    assert verify(tmp_path / "ws").ok


# --------------------------------------------------------------------------------------------------------------
# the ReAct writer
# --------------------------------------------------------------------------------------------------------------


def test_summary_memory_writes_the_daily_file_and_logs_every_llm_decision(tmp_path, server, minilm):
    path = f"memory/{TODAY}.md"
    server.reply(
        call("read_file", path=path),
        call("write_file", path=path, content=f"# {TODAY}\n- Alice moved to Lisbon in May 2024.\n- Alice is allergic to peanuts.\n"),  # noqa: E501
        "Recorded Alice's move and allergy.",
    )  # fmt: skip

    async def scenario():
        async with light(tmp_path, server, minilm) as reme:
            text = await reme.summary_memory(conversation(), language="en")
            assert text == "Recorded Alice's move and allergy."
            response = await reme.memory_search("Where does Alice live now?", max_results=5, min_score=0.1)
            return response

    response = run(scenario())
    ws = tmp_path / "ws"
    assert "Lisbon" in (ws / path).read_text(encoding="utf-8")
    block = response.content[0]
    assert block["type"] == "text"
    hits = json.loads(block["text"])
    assert hits and {"path", "start_line", "end_line", "score", "snippet", "source"} <= set(hits[0])
    assert hits[0]["path"] == path and "Lisbon" in hits[0]["snippet"]
    writer = decisions(ws, "llm-writer")
    assert [d.action if isinstance(d.action, str) else d.action["tool"] for d in writer] == [
        "read_file", "write_file", "done"]  # fmt: skip
    for d in writer:
        assert d.trainable and d.logprob is not None and d.logprob < 0
        assert abs(sum(d.extra["token_logprobs"]) - d.logprob) < 1e-6
    report = verify(ws)
    assert report.ok and report.checked >= 3 and report.untrainable == 0
    assert len(server.requests) == 3


def test_writer_cannot_leave_the_workspace(tmp_path, server, random_encoder):
    server.reply(
        call("write_file", path="../escaped.md", content="- pwned"),
        call("write_file", path=str(tmp_path / "abs.md"), content="- pwned"),
        call("write_file", path="reme.db", content="- pwned"),
        "[SILENT]",
    )

    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            return await reme.summary_memory(conversation(), language="en")

    db_before = None
    assert run(scenario()) == "[SILENT]"
    assert not (tmp_path / "escaped.md").exists() and not (tmp_path / "abs.md").exists()
    ws = tmp_path / "ws"
    writer = decisions(ws, "llm-writer")
    assert [d.extra["tool_status"] for d in writer[:3]] == ["refused"] * 3
    assert writer[-1].action == "silent"
    assert list((ws / "memory").iterdir()) == []
    del db_before


def test_endpoint_failures_lose_nothing(tmp_path, server, random_encoder):
    server.garbage_next()
    server.delay_next(3.0)

    async def scenario():
        from reme.llm import LLMConfig, build_llm

        llm = build_llm(LLMConfig(model="tiny", base_url=server.base_url, api_key="x", timeout=0.5, max_retries=0))
        async with light(tmp_path, server, random_encoder, llm=llm) as reme:
            assert await reme.summary_memory(conversation(), language="en") == ""  # garbage: reported, nothing written
            assert await reme.compact_memory(conversation(), language="en") == ""  # timeout: reported
            msgs = [{"role": "user", "content": f"turn {i} " * 50} for i in range(20)]
            kept, summary = await reme.pre_reasoning_hook(msgs, compressed_summary="old", max_input_length=400)
            assert kept is msgs and summary == "old"  # the model failed: every message stays

    server.reply("not a summary")  # the hook's summary (after the two faults) is invalid
    run(scenario())
    assert list((tmp_path / "ws" / "memory").iterdir()) == []


def test_no_logprobs_records_untrainable_decisions(tmp_path, server, random_encoder):
    server.logprobs_enabled = False
    server.reply("[SILENT]")

    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            return await reme.summary_memory(conversation(), language="en")

    assert run(scenario()) == "[SILENT]"
    (d,) = decisions(tmp_path / "ws", "llm-writer")
    assert d.logprob is None and not d.trainable and d.extra["token_logprobs"] is None
    report = verify(tmp_path / "ws")
    assert report.ok and report.untrainable == 1


# --------------------------------------------------------------------------------------------------------------
# the compactor and the hook
# --------------------------------------------------------------------------------------------------------------

SUMMARY = "## Goal\nMove to Lisbon.\n## Progress\n### Done\n- moved\n## Critical Context\nPeanut allergy."


def test_compact_memory_shapes_and_validity(tmp_path, server, random_encoder):
    server.reply(SUMMARY, SUMMARY, "no headings here")

    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            text = await reme.compact_memory(conversation(), language="en")
            assert text == SUMMARY
            d = await reme.compact_memory(
                conversation(), language="en", previous_summary="## Goal\nold", return_dict=True
            )
            assert set(d) == {"user_message", "history_compact", "is_valid"} and d["is_valid"] is True
            assert "old" in d["user_message"]
            assert await reme.compact_memory(conversation(), language="en") == ""  # invalid: ReMe returns ""

    run(scenario())
    compactor = decisions(tmp_path / "ws", "llm-compactor")
    assert [d.action for d in compactor] == ["summary", "summary", "invalid"]
    assert verify(tmp_path / "ws").ok


def test_pre_reasoning_hook_splits_summarises_and_writes_in_background(tmp_path, server, random_encoder):
    server.reply(SUMMARY, "[SILENT]")

    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " * 50} for i in range(20)]
            kept, summary = await reme.pre_reasoning_hook(
                msgs, system_prompt="be brief", max_input_length=1000, memory_compact_reserve=300, language="en"
            )
            assert summary == SUMMARY and 0 < len(kept) < len(msgs) and kept == msgs[len(msgs) - len(kept) :]
            status = await reme.await_summary_tasks()
            assert "done" in status

    run(scenario())
    ws = tmp_path / "ws"
    assert len(decisions(ws, "heuristic-tail-reserve")) == 1
    assert [d.action for d in decisions(ws, "llm-writer")] == ["silent"]


# --------------------------------------------------------------------------------------------------------------
# the write gate, bad input, the in-process backend
# --------------------------------------------------------------------------------------------------------------


class DiscardShortFacts:
    """A stand-in learned write policy: discards a fact when it is short (few tokens), stores the others. It reads
    only the state's features, as a learned gate does."""

    kind = "write"
    name = "test-gate"
    version = "test-gate-1"
    params: ClassVar[dict] = {}

    def decide(self, state, mode="greedy", rng=None):
        from reme.policy.decision import Decision
        from reme.policy.write_features import WRITE_FEATURES

        length = float(state.features[WRITE_FEATURES.index("log_length")])
        action = "discard" if length < 3.5 else "store"  # log(1 + chars) < 3.5: under ~32 characters
        return Decision(kind="write", policy=self.name, version=self.version, mode=mode, action=action, logprob=0.0)


def test_write_gate_filters_facts_before_the_file_is_written(tmp_path, server, random_encoder):
    path = f"memory/{TODAY}.md"
    long_fact = "- Alice moved to Lisbon in May 2024 after a new job offer."
    server.reply(call("write_file", path=path, content=f"# {TODAY}\n{long_fact}\n- Peanuts: no.\n"), "Recorded.")

    async def scenario():
        async with light(tmp_path, server, random_encoder, write_policy=DiscardShortFacts(), write_gate=True) as reme:
            return await reme.summary_memory(conversation(), language="en")

    assert run(scenario()) == "Recorded."
    text = (tmp_path / "ws" / path).read_text(encoding="utf-8")
    assert long_fact in text and "Peanuts" not in text and text.startswith(f"# {TODAY}")
    gated = [d for d in decisions(tmp_path / "ws", "test-gate") if d.extra.get("gate") == "memory_writer"]
    assert sorted(d.action for d in gated) == ["discard", "store"]


def test_malformed_messages_are_clear_errors_and_change_nothing(tmp_path, server, random_encoder):
    from reme.errors import BadInputError

    async def scenario():
        async with light(tmp_path, server, random_encoder) as reme:
            bad = [{"role": "user", "content": "fine"}, {"content": "no role"}]
            with pytest.raises(BadInputError, match="1"):
                await reme.summary_memory(bad, language="en")
            with pytest.raises(BadInputError):
                await reme.compact_memory([42], language="en")
            assert await reme.check_context(bad, memory_compact_threshold=1) == ([], bad, False)

    run(scenario())
    assert server.requests == [] and list((tmp_path / "ws" / "memory").iterdir()) == []


def test_in_process_backend_records_its_own_logprobs(tmp_path, tiny_model, random_encoder):
    from reme.llm.hf_client import HFChatClient

    llm = HFChatClient(tiny_model, device="cpu", max_new_tokens=12)

    async def scenario():
        reme = ReMeLight(working_dir=str(tmp_path / "ws"), encoder=random_encoder, llm=llm)
        async with reme:
            return await reme.compact_memory(conversation(), language="en", return_dict=True)

    out = run(scenario())
    assert set(out) == {"user_message", "history_compact", "is_valid"}
    (d,) = decisions(tmp_path / "ws", "llm-compactor")
    assert d.logprob is not None and d.extra["backend"] == "hf"
    assert abs(sum(d.extra["token_logprobs"]) - d.logprob) < 1e-9
    assert verify(tmp_path / "ws").ok


def test_reload_policies_serves_what_reme_yaml_names_now_for_compaction_too(tmp_path, random_encoder):
    """After ``reme learn`` or ``reme policy activate`` changed ``reme.yaml``, a running ReMeLight serves the new
    compact policy (and rank and write, through ``Memory.reload_policies``) without a restart."""
    from reme.policy.compact_mlp import RankedMLPCompactPolicy
    from reme.policy.registry import activate

    async def scenario():
        async with ReMeLight(working_dir=str(tmp_path / "ws"), encoder=random_encoder) as reme:
            assert reme._compact_policy.name == "heuristic-tail-reserve"
            RankedMLPCompactPolicy(seed=0).save(tmp_path / "compact")
            _, version = activate(tmp_path / "ws", str(tmp_path / "compact"))
            served = reme.reload_policies()
            assert served["compact"] == version and reme._compact_policy.version == version
            long = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} " * 40} for i in range(30)]
            await reme.check_context(long, memory_compact_threshold=500, memory_compact_reserve=400)
            assert reme.last_compact_decision.version == version

    run(scenario())


def test_a_summary_cut_at_the_token_cap_keeps_the_messages(tmp_path, random_encoder):
    """A small model that loops (or runs long) stops at the token cap with a summary whose end is lost: it is an
    invalid summary, logged as such, and compaction keeps every message (it never replaces them with a torn
    summary). The same summary ended by the model itself is taken."""
    from reme.llm.types import ChatResult

    class Capped:
        model = "looping-model"

        def __init__(self, finish: str) -> None:
            self.finish = finish

        async def achat(self, messages, **kw):
            text = "## Summary\n- Alice lives in Lisbon\n- Alice lives in Lisbon\n- Alice lives in"
            return ChatResult(text=text, model=self.model, backend="test", finish_reason=self.finish)

    async def scenario(finish: str):
        reme = ReMeLight(working_dir=str(tmp_path / finish), encoder=random_encoder, llm=Capped(finish))
        async with reme:
            return await reme.compact_memory(conversation(), language="en", return_dict=True)

    cut = run(scenario("length"))
    assert cut["is_valid"] is False and cut["history_compact"] == ""
    (d,) = decisions(tmp_path / "length", "llm-compactor")
    assert d.action == "invalid" and d.extra["cut_at_cap"] is True
    whole = run(scenario("stop"))
    assert whole["is_valid"] is True and whole["history_compact"].startswith("## Summary")
