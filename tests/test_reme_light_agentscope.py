"""ReMeLight with what AgentScope 1.x hosts (CoPaw, QwenPaw 1.x) pass it: their chat model and formatter as
``as_llm`` / ``as_llm_formatter``, their async token counter, and its in-memory memory as the agent's memory across
turns (``state_dict`` / ``JSONSession``). Runs where AgentScope 1.x imports (``tests/test_agentscope_site.py`` runs
this file in AgentScope's own site); skipped elsewhere.

The chat model is a scripted ``ChatModelBase``: it answers each call with the next scripted reply (text, or
tool-use blocks), streaming or not, and records what it was sent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agentscope.memory", reason="the agentscope extra (agentscope>=1.0.17,<2) is not installed")

from agentscope.agent import ReActAgent
from agentscope.formatter import OpenAIChatFormatter
from agentscope.memory import InMemoryMemory, MemoryBase
from agentscope.message import Msg
from agentscope.model import ChatModelBase, ChatResponse
from agentscope.session import JSONSession

from reme.policy.trajectory import read_records
from reme.reme_light import ReMeLight
from reme.retrieval.embedding import RandomEncoder

TODAY = datetime.now().strftime("%Y-%m-%d")


class ScriptedModel(ChatModelBase):
    """Each call answers with the next reply: a string (one text block) or a list of content blocks."""

    def __init__(self, replies: list[Any], stream: bool = False) -> None:
        super().__init__("scripted-model", stream)
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, messages: list[dict], tools: list[dict] | None = None, **kwargs: Any) -> Any:
        self.calls.append({"messages": messages, "tools": tools})
        reply = self.replies.pop(0)
        blocks = [{"type": "text", "text": reply}] if isinstance(reply, str) else reply
        final = ChatResponse(content=blocks)
        if not self.stream:
            return final

        async def chunks() -> Any:
            yield ChatResponse(content=[{"type": "text", "text": ""}])
            yield final

        return chunks()


class DivisorCounter:
    """A host's async token counter (CoPaw's and QwenPaw's shape: only ``async count(messages, text=...)``)."""

    def __init__(self, divisor: float) -> None:
        self.divisor = divisor
        self.texts = 0

    async def count(self, messages: list | None = None, tools: Any = None, text: str | None = None) -> int:
        self.texts += 1
        return int(len((text or "").encode()) / self.divisor + 0.5)


def light(tmp_path: Path) -> ReMeLight:
    return ReMeLight(working_dir=str(tmp_path / "ws"), encoder=RandomEncoder(16))


def decisions(ws: Path, policy: str) -> list[Any]:
    return [
        e.record
        for e in read_records(ws / "trajectories")
        if e.record is not None and e.record.type == "decision" and e.record.policy == policy
    ]


def chat() -> list[Msg]:
    return [
        Msg("user", "I moved to Lisbon in May 2024 and I am allergic to peanuts.", "user"),
        Msg("Friday", "Noted: Lisbon since May 2024, and a peanut allergy.", "assistant"),
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_compact_memory_takes_an_agentscope_model(tmp_path, stream):
    model = ScriptedModel(["## Goal\n- remember Lisbon and the allergy"], stream=stream)

    async def scenario() -> Any:
        async with light(tmp_path) as reme:
            return await reme.compact_memory(
                chat(), as_llm=model, as_llm_formatter=OpenAIChatFormatter(), language="en", return_dict=True
            )

    out = asyncio.run(scenario())
    assert out["is_valid"] and out["history_compact"] == "## Goal\n- remember Lisbon and the allergy"
    sent = model.calls[0]["messages"]
    assert sent[0]["role"] == "system" and "Lisbon" in json.dumps(sent)
    (decision,) = decisions(tmp_path / "ws", "llm-compactor")
    assert decision.logprob is None and decision.trainable is False  # logged as such, never refused


def test_summary_memory_writes_through_native_tool_calls(tmp_path):
    path = f"memory/{TODAY}.md"
    model = ScriptedModel(
        [
            [{"type": "tool_use", "id": "c1", "name": "read_file", "input": {"file_path": path}}],
            [
                {
                    "type": "tool_use",
                    "id": "c2",
                    "name": "write_file",
                    "input": {"file_path": path, "content": "- Alice lives in Lisbon since May 2024.\n"},
                }
            ],
            "Recorded where Alice lives.",
        ],
        stream=True,
    )

    async def scenario() -> tuple[str, Any]:
        async with light(tmp_path) as reme:
            text = await reme.summary_memory(
                chat(), as_llm=model, as_llm_formatter=OpenAIChatFormatter(), toolkit=None, language="en",
                timezone="No/Such_Zone",
            )  # fmt: skip
            found = await reme.memory_search("Where does Alice live?", min_score=0.0)
            return text, found

    text, found = asyncio.run(scenario())
    assert text == "Recorded where Alice lives."
    assert (tmp_path / "ws" / path).read_text(encoding="utf-8") == "- Alice lives in Lisbon since May 2024.\n"
    assert "Lisbon" in found.content[0]["text"]
    names = [t["function"]["name"] for t in model.calls[0]["tools"]]
    assert names == ["read_file", "write_file", "edit_file"]
    assert any(m.get("role") == "tool" for m in model.calls[1]["messages"])  # the tool result went back
    steps = decisions(tmp_path / "ws", "llm-writer")
    assert [s.action if isinstance(s.action, str) else s.action["tool"] for s in steps] == [
        "read_file",
        "write_file",
        "done",
    ]
    assert all(s.logprob is None and not s.trainable for s in steps)


def test_in_memory_memory_is_the_agents_memory_across_turns(tmp_path):
    async def scenario() -> None:
        async with light(tmp_path) as reme:
            session = JSONSession(save_dir=str(tmp_path / "sessions"))
            for turn, text in enumerate(["My name is Alice.", "What is my name?"]):
                model = ScriptedModel([f"reply {turn}"])
                agent = ReActAgent(
                    name="Friday", sys_prompt="You help.", model=model, formatter=OpenAIChatFormatter(),
                    memory=InMemoryMemory(),
                )  # fmt: skip
                agent.set_console_output_enabled(False)
                agent.memory = reme.get_in_memory_memory(as_token_counter=DivisorCounter(4))
                assert isinstance(agent.memory, InMemoryMemory) and isinstance(agent.memory, MemoryBase)
                assert agent._module_dict["memory"] is agent.memory
                await session.load_session_state(session_id="s1", agent=agent)
                await agent(Msg("user", text, "user"))
                await session.save_session_state(session_id="s1", agent=agent)
                seen = json.dumps(model.calls[0]["messages"])
                assert ("My name is Alice." in seen) and (turn == 0 or "reply 0" in seen)
            saved = json.loads(next((tmp_path / "sessions").glob("*.json")).read_text())
            assert len(saved["agent"]["memory"]["content"]) == 4

            memory = reme.get_in_memory_memory()
            with pytest.raises(KeyError):
                memory.load_state_dict({"_compressed_summary": ""}, strict=True)
            await memory.add(Msg("user", "hi", "user"))
            memory._long_term_memory = "Alice lives in Lisbon."
            await memory.update_compressed_summary("## Goal\n- greet")
            head = (await memory.get_memory())[0]
            assert head.role == "user" and head.content.startswith("# Memories\n\nAlice lives in Lisbon.")
            assert "## Goal" in head.content
            assert "_long_term_memory" not in memory.state_dict()
            counted = []
            for divisor in (1, 100):  # the host's counter is the one used
                other = reme.get_in_memory_memory(as_token_counter=DivisorCounter(divisor))
                await other.add(Msg("user", "word " * 400, "user"))
                counted.append((await other.estimate_tokens(100_000))["messages_tokens"])
            assert counted[0] > counted[1] + 1000

    asyncio.run(scenario())


def test_check_context_counts_with_the_hosts_counter(tmp_path):
    long = [Msg("user" if i % 2 == 0 else "Friday", "word " * 200, "user" if i % 2 == 0 else "assistant")
            for i in range(10)]  # fmt: skip

    async def scenario() -> tuple[Any, Any, Any]:
        async with light(tmp_path) as reme:
            rule = await reme.check_context(long, 2000, 700)
            counter = DivisorCounter(2)  # twice the tokens of ReMe's rule: fewer messages fit the reserve
            hosts = await reme.check_context(long, 2000, 700, as_token_counter=counter)
            refused = await reme.check_context(long, 700, 700, as_token_counter=counter)
            return rule, (hosts, counter.texts), refused

    rule, (hosts, texts), refused = asyncio.run(scenario())
    assert rule[2] and hosts[2] and texts > 0
    assert len(hosts[1]) < len(rule[1])
    assert refused == ([], long, False)


def test_restart_and_close_answer_as_remes(tmp_path):
    async def scenario() -> tuple[Any, ...]:
        reme = ReMeLight(
            working_dir=str(tmp_path / "ws"),
            encoder=RandomEncoder(16),
            default_embedding_model_config={"backend": "openai", "base_url": "", "model_name": "", "dimensions": 1024,
                                            "use_dimensions": False},
        )  # fmt: skip
        before = reme.embedding.backend
        await reme.start()
        await reme.restart(
            restart_config={"embedding_models": {"default": {"base_url": "http://127.0.0.1:9/v1", "api_key": "k",
                                                              "model_name": "emb", "use_dimensions": False}}}
        )  # fmt: skip
        after = reme.embedding
        started = reme._started
        closed = await reme.close()
        again = await reme.close()
        return before, after, started, closed, again

    before, after, started, closed, again = asyncio.run(scenario())
    assert before == "sentence-transformers"
    assert (after.backend, after.base_url, after.model, after.dimensions) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "emb",
        None,
    )
    assert started and closed is False and again is True
