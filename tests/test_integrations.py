"""Agent-framework integrations (``reme.integrations.agentscope`` / ``openai_agents`` / ``langchain``).

The AgentScope and OpenAI Agents tests run a real agent turn against ``ScriptedOpenAIServer``: the model first calls
the memory tool, then answers. They check that the tool searched the workspace (a ranking decision in its trajectory
log, the memory's text in the tool result the model saw next) and that the reward given afterwards joins that decision
(``reme.policy.rewards.join_rewards``). Each framework is skipped when it is not installed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from scripted_openai_server import ScriptedOpenAIServer

from reme.memory import Memory
from reme.policy.decision import Decision
from reme.policy.rewards import join_rewards
from reme.policy.trajectory import RewardEvent, read_records

TARGET = "user:alice"
FACTS = ["Alice moved to Lisbon in May 2024.", "Alice is allergic to peanuts.", "Alice plays the cello on Sundays."]
SUMMARY = "## Goal\nHelp Alice.\n## Progress\nTalked about her week.\n## Next\nAnswer her question."


@pytest.fixture
def server():
    with ScriptedOpenAIServer() as srv:
        yield srv


@pytest.fixture
def encoder():
    """Hash-seeded random vectors of 384 dimensions: their cosines are near 0, so BM25 decides the ranking."""
    from reme.retrieval.embedding import RandomEncoder

    return RandomEncoder(384)


@pytest.fixture
def mem(tmp_path: Path, encoder):
    memory = Memory(tmp_path / "ws", encoder=encoder)
    memory.add_many(FACTS, target=TARGET)
    yield memory
    memory.close()


def log_records(memory: Memory) -> list[Decision | RewardEvent]:
    lines = list(read_records(memory.workspace.trajectory_dir))
    assert all(line.error is None for line in lines)
    return [line.record for line in lines if line.record is not None]


def rank_decisions(memory: Memory) -> list[Decision]:
    return [r for r in log_records(memory) if isinstance(r, Decision) and r.kind == "rank"]


def assert_reward_joined(memory: Memory, decision_ids: list[str], value: float) -> None:
    """Every reward of the log is joined, and each of ``decision_ids`` earned ``value``."""
    report = join_rewards(log_records(memory))
    assert report.unmatched_reward_ids == [] and report.rewards_joined == report.rewards >= len(decision_ids)
    returns = {s.decision.decision_id: s.ret for s in report.samples}
    for decision_id in decision_ids:
        assert returns[decision_id] == pytest.approx(value)


def tool_messages(request: dict[str, Any]) -> list[str]:
    """Contents of the ``role: tool`` messages of a chat request, as text."""
    out = []
    for message in request["messages"]:
        if message.get("role") == "tool":
            content = message.get("content")
            out.append(content if isinstance(content, str) else json.dumps(content))
    return out


# ---------------------------------------------------------------------------------------------------- AgentScope
def agentscope_agent(server: ScriptedOpenAIServer, **kwargs: Any) -> Any:
    from agentscope.agent import ReActAgent
    from agentscope.formatter import OpenAIChatFormatter
    from agentscope.model import OpenAIChatModel

    model = OpenAIChatModel(
        "scripted-model", api_key="test", stream=False, client_kwargs={"base_url": server.base_url, "max_retries": 0}
    )
    agent = ReActAgent(
        name="Friday", sys_prompt="You are a helpful assistant.", model=model, formatter=OpenAIChatFormatter(), **kwargs
    )
    agent.set_console_output_enabled(False)
    return agent


def test_agentscope_agent_retrieves_then_reward_joins(server, mem):
    pytest.importorskip("agentscope.memory", reason="the agentscope extra (agentscope>=1.0.17,<2) is not installed")
    from agentscope.message import Msg

    from reme.integrations.agentscope import ReMeLongTermMemory

    ltm = ReMeLongTermMemory(mem, target=TARGET)
    agent = agentscope_agent(server, long_term_memory=ltm, long_term_memory_mode="agent_control")
    server.call_tool("retrieve_from_memory", {"keywords": ["Lisbon"]})
    server.say("You live in Lisbon.")

    reply = asyncio.run(agent(Msg("user", "Where do I live now?", "user")))

    assert reply.get_text_content() == "You live in Lisbon." and server.pending == 0
    offered = {tool["function"]["name"] for tool in server.requests[0]["tools"]}
    assert {"retrieve_from_memory", "record_to_memory"} <= offered
    assert any("Lisbon" in text for text in tool_messages(server.requests[1]))  # the tool's hits reached the model
    ranks = rank_decisions(mem)
    assert [d.decision_id for d in ranks] == ltm.pending_decisions and len(ranks) == 1
    assert ranks[0].extra["target"] == TARGET
    assert ltm.last_hits and ltm.last_hits[0].memory.content == FACTS[0]

    events = ltm.reward(1.0)  # the task succeeded
    assert [e.decision_id for e in events] == [ranks[0].decision_id] and events[0].source == "task"
    assert ltm.pending_decisions == []
    assert_reward_joined(mem, [ranks[0].decision_id], 1.0)


def test_agentscope_static_control_records_and_retrieves(server, mem):
    pytest.importorskip("agentscope.memory", reason="the agentscope extra (agentscope>=1.0.17,<2) is not installed")
    from agentscope.message import Msg

    from reme.integrations.agentscope import ReMeLongTermMemory

    ltm = ReMeLongTermMemory(mem, target=TARGET)
    agent = agentscope_agent(server, long_term_memory=ltm, long_term_memory_mode="static_control")
    server.say("Noted, enjoy Porto!")

    asyncio.run(agent(Msg("user", "Next week I am visiting Porto with my sister Inês.", "user")))

    # retrieval before the reply: a logged decision, its hits injected into the prompt as a user message
    assert len(rank_decisions(mem)) == 1 and len(ltm.pending_decisions) == 1
    assert "tools" not in server.requests[0] or not server.requests[0]["tools"]
    # recording after the reply: the user's message and the answer went through the write policy
    stored = {node.content for node in mem.list(TARGET)}
    assert {"Next week I am visiting Porto with my sister Inês.", "Noted, enjoy Porto!"} <= stored
    assert not any("long_term_memory" in text for text in stored)
    writes = [r for r in log_records(mem) if isinstance(r, Decision) and r.kind == "write"]
    assert len(writes) == len(FACTS) + 2
    # a second reply records nothing twice
    server.say("Have a good trip.")
    asyncio.run(agent(Msg("user", "Thanks!", "user")))
    assert len([n for n in mem.list(TARGET) if n.content.startswith("Next week")]) == 1
    ltm.reward(-1.0, source="feedback")
    assert_reward_joined(mem, [d.decision_id for d in rank_decisions(mem)], -1.0)


def test_agentscope_record_to_memory_tool(mem):
    pytest.importorskip("agentscope.memory", reason="the agentscope extra (agentscope>=1.0.17,<2) is not installed")
    from reme.integrations.agentscope import ReMeLongTermMemory, memory_search_decisions

    ltm = ReMeLongTermMemory(mem, target="user:bob")
    response = asyncio.run(ltm.record_to_memory("facts about Bob", ["Bob adopted a beagle called Pixel.", " "]))
    assert "Remembered 1 fact(s)" in response.content[0]["text"] and len(response.metadata["memory_ids"]) == 1
    assert [n.content for n in mem.list("user:bob")] == ["Bob adopted a beagle called Pixel."]
    found = asyncio.run(ltm.retrieve_from_memory(["beagle", "Pixel"], limit=3))
    assert "Pixel" in found.content[0]["text"] and len(found.metadata["decision_ids"]) == 2
    assert memory_search_decisions(found) == []  # not a memory_search answer (no JSON)


@pytest.mark.parametrize("working_memory", ["agentscope", "reme"])
def test_agentscope_pre_reasoning_hook_compacts_the_agent_memory(tmp_path, server, encoder, working_memory):
    pytest.importorskip("agentscope.memory", reason="the agentscope extra (agentscope>=1.0.17,<2) is not installed")
    from agentscope.message import Msg

    from reme.integrations.agentscope import register_pre_reasoning_hook
    from reme.reme_light import ReMeLight

    async def scenario() -> None:
        with ScriptedOpenAIServer() as light_server:  # ReMeLight's own endpoint: the compactor, then the writer
            light_server.say(SUMMARY)
            light_server.say("[SILENT]")
            light = ReMeLight(
                working_dir=str(tmp_path / "light"), llm_api_key="EMPTY", llm_base_url=light_server.base_url,
                default_as_llm_config={"model_name": "scripted-model"}, encoder=encoder,
            )  # fmt: skip
            async with light:
                # AgentScope's InMemoryMemory, or ReMeLight's (which saves compacted messages under dialog/)
                memory = light.get_in_memory_memory() if working_memory == "reme" else None
                agent = agentscope_agent(server, memory=memory)
                for i in range(20):
                    role = "user" if i % 2 == 0 else "assistant"
                    await agent.memory.add(Msg(role, f"old turn {i} " * 50, role))
                register_pre_reasoning_hook(
                    agent, light, max_input_length=1000, memory_compact_reserve=300, language="en"
                )
                server.say("Here is my answer.")
                await agent(Msg("user", "What next?", "user"))
                assert "done" in await light.await_summary_tasks()
                assert await agent.memory.size() < 22
                assert agent.memory._compressed_summary == SUMMARY
                if working_memory == "reme":
                    assert "old turn 0 " in "".join(p.read_text() for p in (tmp_path / "light" / "dialog").iterdir())
                sent = json.dumps(server.requests[0]["messages"])
                assert "old turn 0 " not in sent and "Help Alice." in sent and "What next?" in sent
                compacts = [
                    line.record
                    for line in read_records(tmp_path / "light" / "trajectories")
                    if isinstance(line.record, Decision) and line.record.kind == "compact"
                ]
                assert {d.policy for d in compacts} >= {"heuristic-tail-reserve", "llm-compactor"}

    asyncio.run(scenario())


# --------------------------------------------------------------------------------------------- OpenAI Agents SDK
def test_openai_agents_recall_then_run_outcome_is_rewarded(server, mem):
    agents = pytest.importorskip("agents", reason="the openai-agents extra is not installed")
    from openai import AsyncOpenAI

    from reme.integrations.openai_agents import MemoryTools, run_with_memory

    agents.set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    model = agents.OpenAIChatCompletionsModel(model="scripted-model", openai_client=client)
    tools = MemoryTools(mem, target=TARGET)
    agent = agents.Agent(name="assistant", instructions="Recall before answering.", tools=tools.tools, model=model)
    server.call_tool("recall", {"query": "Where does Alice live?"})
    server.say("You live in Lisbon.")

    def outcome(output: Any) -> float:
        return 1.0 if "Lisbon" in str(output) else 0.0

    result, hooks = asyncio.run(run_with_memory(agent, "Where do I live now?", tools, outcome=outcome))

    assert result.final_output == "You live in Lisbon." and server.pending == 0
    assert {tool["function"]["name"] for tool in server.requests[0]["tools"]} == {"remember", "recall"}
    seen = tool_messages(server.requests[1])
    assert len(seen) == 1 and any(hit["content"] == FACTS[0] for hit in json.loads(seen[0]))
    ranks = rank_decisions(mem)
    assert len(ranks) == 1 and hooks.decision_ids == [ranks[0].decision_id]
    assert [(e.decision_id, e.source, e.value) for e in hooks.rewards] == [(ranks[0].decision_id, "task", 1.0)]
    assert_reward_joined(mem, [ranks[0].decision_id], 1.0)

    hooks.reward(0.5)  # the user's verdict arrives later: same decisions, source "feedback"
    assert hooks.rewards[-1].source == "feedback"
    assert_reward_joined(mem, [ranks[0].decision_id], 1.5)


def test_openai_agents_remember_tool(server, mem):
    agents = pytest.importorskip("agents", reason="the openai-agents extra is not installed")
    from openai import AsyncOpenAI

    from reme.integrations.openai_agents import MemoryTools

    agents.set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    model = agents.OpenAIChatCompletionsModel(model="scripted-model", openai_client=client)
    tools = MemoryTools(mem, target="user:bob")
    agent = agents.Agent(name="assistant", instructions="Remember facts.", tools=tools.tools, model=model)
    server.call_tool("remember", {"fact": "Bob adopted a beagle called Pixel."})
    server.say("I will remember that.")

    result = asyncio.run(agents.Runner.run(agent, "I adopted a beagle called Pixel."))  # no hooks: plain Runner

    assert result.final_output == "I will remember that."
    node = mem.list("user:bob")[0]
    assert node.content == "Bob adopted a beagle called Pixel." and node.metadata["source"] == "openai-agents"
    assert "Remembered" in tool_messages(server.requests[1])[0]


# ------------------------------------------------------------------------------------------------------ LangChain
def test_langchain_retriever_documents_and_feedback(mem):
    pytest.importorskip("langchain_core", reason="the langchain extra is not installed")
    from reme.integrations.langchain import ReMeRetriever

    retriever = ReMeRetriever(memory=mem, target=TARGET, k=2)
    docs = retriever.invoke("Lisbon")
    assert docs and docs[0].page_content == FACTS[0] and len(docs) <= 2
    meta = docs[0].metadata
    assert meta["memory_id"] == docs[0].id and meta["target"] == TARGET and meta["rank"] == 0
    assert isinstance(meta["score"], float) and meta["keyword_score"] is not None
    ranks = rank_decisions(mem)
    assert meta["decision_id"] == ranks[-1].decision_id and retriever.pending_decisions == [meta["decision_id"]]

    more = asyncio.run(retriever.ainvoke("peanuts"))
    assert more[0].page_content == FACTS[1]
    one = retriever.feedback(-1.0, document=more[0])  # only the search that returned this document
    assert [e.decision_id for e in one] == [more[0].metadata["decision_id"]]
    rest = retriever.feedback(1.0)  # everything still pending
    assert [e.decision_id for e in rest] == [meta["decision_id"]] and retriever.pending_decisions == []
    assert_reward_joined(mem, [meta["decision_id"]], 1.0)
    assert_reward_joined(mem, [more[0].metadata["decision_id"]], -1.0)


def test_scripted_server_streams_tool_calls(server):
    from openai import OpenAI

    server.call_tool("recall", {"query": "Alice"}, call_id="call_1")
    client = OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
        )
    )
    call = chunks[0].choices[0].delta.tool_calls[0]
    assert (call.id, call.function.name) == ("call_1", "recall")
    assert json.loads(call.function.arguments) == {"query": "Alice"}
    assert chunks[1].choices[0].finish_reason == "tool_calls" and chunks[2].usage is not None
    with pytest.raises(Exception, match="script exhausted"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])


def test_integrations_do_not_load_at_import_reme():
    import subprocess
    import sys

    code = (
        "import sys, reme, reme.memory; "
        "bad = [m for m in ('agentscope', 'agents', 'langchain_core') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
