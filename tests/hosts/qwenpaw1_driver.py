"""Drive QwenPaw 1.1.12 on this project's ReMeLight, through QwenPaw's own classes, and print what happened as JSON.

Run by ``tests/test_hosts.py`` inside QwenPaw's own site. QwenPaw 1.1.x keeps its own working memory, context check
and compactor; it uses ReMe for long-term memory only: ``ReMeLight`` (start, close, ``_started``),
``memory_search`` (the agent's tool) and ``summary_memory`` (with its own AgentScope chat model, formatter, token
counter and toolkit). Each turn builds a fresh ``QwenPawAgent`` and loads / saves the session with
``SafeJSONSession``, as QwenPaw's runner does; slash commands go through the agent. The model is QwenPaw's streaming
OpenAI chat model against a local scripted server that routes each request: QwenPaw's compactor gets a summary, this
project's writer a ``write_file`` call then a final answer, the agent a ``memory_search`` call on its second turn.

    python tests/hosts/qwenpaw1_driver.py SCRATCH_DIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]).resolve()
ROOT.mkdir(parents=True, exist_ok=True)
os.environ["QWENPAW_WORKING_DIR"] = str(ROOT / "qwenpaw")  # read when qwenpaw is imported
os.environ["QWENPAW_SECRET_DIR"] = str(ROOT / "qwenpaw.secret")
os.environ["MEMORY_STORE_BACKEND"] = "local"
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
logging.basicConfig(level=logging.WARNING)

from scripted_openai_server import ScriptedOpenAIServer, request_text  # noqa: E402

TODAY = datetime.now().strftime("%Y-%m-%d")
FACT = "- Alice 住在里斯本。\n"
agent_requests: list[dict[str, Any]] = []
writer_requests: list[dict[str, Any]] = []
state = {"search_turn": False}


def route(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    tool_results = [m for m in messages if m.get("role") == "tool"]
    if "长期记忆" in system or "long-term memory in Markdown" in system:  # this project's writer, native tools
        writer_requests.append(body)
        if not tool_results:
            arguments = json.dumps({"file_path": f"memory/{TODAY}.md", "content": FACT}, ensure_ascii=False)
            call = {"id": "call_w1", "type": "function", "function": {"name": "write_file", "arguments": arguments}}
            return {"content": None, "tool_calls": [call]}
        return {"content": "已记录 Alice 住在里斯本。"}
    if "# conversation" in request_text(body) or "## Goal" in system:  # QwenPaw's own compactor
        return {"content": "## Goal\n- 与 Alice 聊天\n## Progress\n### Done\n- Alice 说她住在里斯本"}
    agent_requests.append(body)
    if state["search_turn"] and not tool_results:
        arguments = json.dumps({"query": "Alice 住在 里斯本", "max_results": 3, "min_score": 0.0}, ensure_ascii=False)
        call = {"id": "call_s1", "type": "function", "function": {"name": "memory_search", "arguments": arguments}}
        return {"content": None, "tool_calls": [call]}
    return {"content": f"reply seeing {len(messages)} messages"}


async def main() -> dict[str, Any]:
    from agentscope.message import Msg
    from qwenpaw.agents.context import LightContextManager
    from qwenpaw.agents.memory import ReMeLightMemoryManager
    from qwenpaw.agents.react_agent import QwenPawAgent
    from qwenpaw.app.runner.session import SafeJSONSession
    from qwenpaw.config.config import load_agent_config
    from qwenpaw.providers.provider import ModelInfo, ProviderInfo
    from qwenpaw.providers.provider_manager import ProviderManager

    report: dict[str, Any] = {}
    server = ScriptedOpenAIServer(router=route).start()
    manager = ProviderManager.get_instance()
    info = await manager.add_custom_provider(
        ProviderInfo(id="local", name="Local", base_url=server.base_url, api_key="EMPTY", require_api_key=False,
                     models=[ModelInfo(id="scripted", name="scripted", max_input_length=32768)])
    )  # fmt: skip
    await manager.activate_model(info.id, "scripted")
    config = load_agent_config("default")
    ws = Path(config.workspace_dir).expanduser()
    ws.mkdir(parents=True, exist_ok=True)
    mm = ReMeLightMemoryManager(working_dir=str(ws), agent_id="default")
    cm = LightContextManager(working_dir=str(ws), agent_id="default")
    await mm.start()
    await cm.start()
    report["reme_light_module"] = type(mm._reme).__module__
    report["started"] = bool(getattr(mm._reme, "_started", False))
    context = {"session_id": "s1", "user_id": "u1", "channel": "console", "agent_id": "default"}
    session = SafeJSONSession(save_dir=str(ws / "sessions"))

    async def turn(text: str) -> str:
        agent = QwenPawAgent(agent_config=load_agent_config("default"), memory_manager=mm, context_manager=cm,
                             request_context=context, workspace_dir=ws)  # fmt: skip
        agent.set_console_output_enabled(False)
        await session.load_session_state(session_id="s1", user_id="u1", channel="console", agent=agent)
        reply = await agent.reply(Msg("user", text, "user"))
        await session.save_session_state(session_id="s1", user_id="u1", channel="console", agent=agent)
        report.setdefault("_last_memory", [])
        report["_last_memory"] = [m for m, _ in agent.memory.content]
        return reply.get_text_content() or ""

    report["turn1"] = await turn("我叫 Alice，我住在里斯本。")
    messages = report.pop("_last_memory")
    report["summarize"] = await mm.summarize(messages=messages)
    memory_file = ws / "memory" / f"{TODAY}.md"
    report["memory_file"] = memory_file.read_text(encoding="utf-8") if memory_file.is_file() else None
    report["writer_tools"] = (
        [t["function"]["name"] for t in (writer_requests[0].get("tools") or [])] if writer_requests else []
    )

    state["search_turn"] = True
    report["turn2"] = await turn("我住在哪里？")
    state["search_turn"] = False
    followup = agent_requests[-1]
    results = [m for m in followup["messages"] if m.get("role") == "tool"]
    report["search_result"] = str(results[-1].get("content", "")) if results else None
    report["turn2_sees_turn1"] = "我住在里斯本" in request_text(agent_requests[-2])

    before = len(writer_requests)
    report["compact"] = await turn("/compact")
    for _ in range(120):
        tasks = mm.list_summarize_status()
        if tasks and all(t["status"] in ("completed", "failed", "cancelled") for t in tasks):
            break
        await asyncio.sleep(0.25)
    report["summarize_tasks"] = [(t["status"], (t.get("result") or "")[:80], t.get("error")) for t in tasks]
    report["writer_calls_after_compact"] = len(writer_requests) - before
    report["summarize_status"] = await turn("/summarize_status")
    report.pop("_last_memory", None)
    report["close"] = await mm.close()
    await cm.close()
    report["workspace"] = str(ws)
    server.stop()
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(asyncio.run(main()), ensure_ascii=False, default=str))
