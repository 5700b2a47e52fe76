"""Drive an AgentScope 2.x agent on this project, and print what happened as JSON.

Run by ``tests/test_hosts.py`` inside QwenPaw 2's site (AgentScope 2.0.10). The agent has AgentScope's own
``ReMeMiddleware`` (which embeds ``reme.ReMe``, ReMe 0.4's application: here this project's) for long-term memory,
and ``reme.integrations.agentscope2.ReMeCompactMiddleware`` deciding what stays verbatim when the agent compresses
its context. The model is AgentScope's OpenAI chat model against a local scripted server that routes each request:
the memory writer gets a ``daily_write`` call then a final answer, the compressor a structured summary, the agent
plain replies.

    python tests/hosts/agentscope2_driver.py SCRATCH_DIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]).resolve()
ROOT.mkdir(parents=True, exist_ok=True)
os.chdir(ROOT)
logging.basicConfig(level=logging.WARNING)

from scripted_openai_server import ScriptedOpenAIServer, request_text  # noqa: E402

seen: dict[str, int] = {"writer": 0, "summary": 0, "agent": 0}
agent_requests: list[dict[str, Any]] = []
SUMMARY = {"task_overview": "Chat about drinks.", "current_state": "The user said they like green tea.",
           "important_discoveries": "Prefers green tea.", "next_steps": "None.",
           "context_to_preserve": "Green tea."}  # fmt: skip


def route(body: dict[str, Any]) -> dict[str, Any]:
    tools = {t.get("function", {}).get("name") for t in body.get("tools", [])}
    messages = body.get("messages", [])
    if tools & {"daily_write", "edit"}:
        seen["writer"] += 1
        if "daily_write" in tools and not any(m.get("role") == "tool" for m in messages):
            arguments = {"name": "drinks", "description": "Drink preferences", "content": "- Likes green tea."}
            call = {"id": f"w{seen['writer']}", "type": "function",
                    "function": {"name": "daily_write", "arguments": json.dumps(arguments)}}  # fmt: skip
            return {"content": None, "tool_calls": [call]}
        return {"content": "Saved." if "daily_write" in tools else "Nothing new to add."}
    if "generate_structured_output" in tools:
        seen["summary"] += 1
        call = {"id": f"s{seen['summary']}", "type": "function",
                "function": {"name": "generate_structured_output", "arguments": json.dumps(SUMMARY)}}  # fmt: skip
        return {"content": None, "tool_calls": [call]}
    seen["agent"] += 1
    agent_requests.append(body)
    if "memory_search" in tools and "What do I drink" in request_text(body) and messages[-1].get("role") != "tool":
        call = {"id": f"q{seen['agent']}", "type": "function",
                "function": {"name": "memory_search", "arguments": json.dumps({"query": "green tea"})}}  # fmt: skip
        return {"content": None, "tool_calls": [call]}
    return {"content": f"Reply {seen['agent']}: " + "noted. " * 40}


async def main() -> dict[str, Any]:
    from agentscope.agent import Agent, ContextConfig
    from agentscope.credential import OpenAICredential
    from agentscope.message import UserMsg
    from agentscope.middleware import ReMeMiddleware
    from agentscope.model import OpenAIChatModel
    from agentscope.state import AgentState
    from agentscope.tool import Toolkit

    from reme.integrations.agentscope2 import ReMeCompactMiddleware

    report: dict[str, Any] = {}
    with ScriptedOpenAIServer(router=route) as server:
        credential = OpenAICredential(api_key="sk-local", base_url=server.base_url)
        model = OpenAIChatModel(credential=credential, model=server.model_name, stream=False, max_retries=0,
                                context_size=1200)  # fmt: skip
        memory = ReMeMiddleware(workspace_dir=str(ROOT / "notes"),
                                parameters=ReMeMiddleware.Parameters(mode="both", chat_model=model))  # fmt: skip
        compact = ReMeCompactMiddleware(ROOT / "policy-ws")
        agent = Agent(name="Friday", system_prompt="You are helpful.", model=model, middlewares=[memory, compact],
                      toolkit=Toolkit(tools=await memory.list_tools()),
                      state=AgentState(session_id="session-1"),
                      context_config=ContextConfig(trigger_ratio=0.5, reserve_ratio=0.2))  # fmt: skip
        await agent.reply(UserMsg(name="user", content="I like green tea. " * 5))
        report["notes"] = sorted(p.relative_to(ROOT / "notes").as_posix() for p in (ROOT / "notes").rglob("*.md"))
        for turn in range(2, 7):
            await agent.reply(UserMsg(name="user", content=f"Turn {turn}: " + "tell me more about tea. " * 12))
        await agent.reply(UserMsg(name="user", content="What do I drink?"))
        report["seen"] = dict(seen)
        report["summary"] = agent.state.summary
        report["context_len"] = len(agent.state.context)
        tool_results = [m for b in agent_requests for m in b["messages"] if m.get("role") == "tool"]
        report["recalled"] = any("Likes green tea" in json.dumps(m) for m in tool_results)
        report["pending"] = list(compact.pending)
        report["applied"] = list(compact.applied)
        report["rewards"] = len(compact.reward(1.0))
        compact.close()
        await memory.close()
    report["policy_ws"] = str(ROOT / "policy-ws")
    report["notes_index"] = str(ROOT / "notes" / "metadata" / "reme-rl")
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(asyncio.run(main()), ensure_ascii=False, default=str))
