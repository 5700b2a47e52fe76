"""Drive CoPaw 1.0.2 on this project's ReMeLight, through CoPaw's own classes, and print what happened as JSON.

Run by ``tests/test_hosts.py`` inside CoPaw's own site (``PYTHONPATH=<site>:<repo>:<repo>/tests``). CoPaw's real
path is used end to end: its provider manager builds its streaming OpenAI chat model against a local scripted
OpenAI-compatible server; its ``ReMeLightMemoryManager`` wraps ``reme.reme_light.ReMeLight``; its ``AgentRunner`` runs
each turn (a fresh ``CoPawAgent``, the session loaded and saved with ``SafeJSONSession``) and its slash commands; its
``MemoryCompactionHook`` compacts before reasoning. The server routes each request: this project's compactor prompt
gets a summary, its writer (with native tools) gets a ``write_file`` call then a final answer, the agent gets a text
that says how many messages it was sent.

    python tests/hosts/copaw_driver.py SCRATCH_DIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(sys.argv[1]).resolve()
ROOT.mkdir(parents=True, exist_ok=True)
os.environ["COPAW_WORKING_DIR"] = str(ROOT / "copaw")  # read when copaw is imported
os.environ["COPAW_SECRET_DIR"] = str(ROOT / "copaw.secret")
os.environ["MEMORY_STORE_BACKEND"] = "local"
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
logging.basicConfig(level=logging.WARNING)

from scripted_openai_server import ScriptedOpenAIServer, request_text  # noqa: E402

TODAY = datetime.now().strftime("%Y-%m-%d")
FACT = "- 用户最喜欢的颜色是蓝色。\n"
SUMMARY = "## Goal\n- 记住用户最喜欢的颜色：蓝色\n## Progress\n### Done\n- 用户说最喜欢蓝色"
agent_requests: list[dict[str, Any]] = []


def route(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    if "## Critical Context" in system:  # this project's compactor
        return {"content": SUMMARY}
    if "长期记忆" in system or "long-term memory in Markdown" in system:  # this project's writer, native tools
        if not any(m.get("role") == "tool" for m in messages):
            arguments = json.dumps({"file_path": f"memory/{TODAY}.md", "content": FACT}, ensure_ascii=False)
            call = {"id": "call_w1", "type": "function", "function": {"name": "write_file", "arguments": arguments}}
            return {"content": None, "tool_calls": [call]}
        return {"content": "已记录用户最喜欢的颜色。"}
    agent_requests.append(body)
    return {"content": f"reply seeing {len(messages)} messages"}


async def main() -> dict[str, Any]:
    from agentscope.message import Msg
    from copaw.agents.memory import ReMeLightMemoryManager
    from copaw.app.runner.runner import AgentRunner
    from copaw.config.config import load_agent_config, save_agent_config
    from copaw.providers.provider import ModelInfo, ProviderInfo
    from copaw.providers.provider_manager import ProviderManager

    report: dict[str, Any] = {}
    server = ScriptedOpenAIServer(router=route).start()
    manager = ProviderManager.get_instance()
    info = await manager.add_custom_provider(
        ProviderInfo(id="local", name="Local", base_url=server.base_url, api_key="EMPTY",
                     chat_model="OpenAIChatModel", models=[ModelInfo(id="scripted", name="scripted")])
    )  # fmt: skip
    await manager.activate_model(info.id, "scripted")
    config = load_agent_config("default")
    ws = Path(config.workspace_dir)
    ws.mkdir(parents=True, exist_ok=True)
    mm = ReMeLightMemoryManager(working_dir=str(ws), agent_id="default")
    await mm.start()
    runner = AgentRunner(agent_id="default", workspace_dir=ws)
    await runner.init_handler()
    runner.memory_manager = mm
    request = SimpleNamespace(session_id="s1", user_id="u1", channel="console")

    async def turn(text: str) -> str:
        last = ""
        async for msg, is_last in runner.query_handler([Msg("user", text, "user")], request=request):
            if is_last:
                last = msg.get_text_content() or ""
        return last

    def session() -> dict[str, Any]:
        return json.loads((ws / "sessions" / "u1_s1.json").read_text(encoding="utf-8"))

    report["reme_light_module"] = type(mm._reme).__module__
    report["turn1"] = await turn("我最喜欢的颜色是蓝色。")
    report["turn2"] = await turn("我最喜欢什么颜色？")
    second = agent_requests[-1]
    report["turn2_messages"] = len(second["messages"])
    report["turn2_sees_turn1"] = "我最喜欢的颜色是蓝色" in request_text(second)
    report["session_memory_messages"] = len(session()["agent"].get("memory", {}).get("content", []))
    report["history"] = await turn("/history")
    report["long_term_memory"] = await turn("/long_term_memory")
    report["compact"] = await turn("/compact")
    report["summary_after_compact"] = session()["agent"]["memory"].get("_compressed_summary", "")
    report["await_summary"] = await turn("/await_summary")
    await mm.await_summary_tasks()
    memory_file = ws / "memory" / f"{TODAY}.md"
    report["memory_file"] = memory_file.read_text(encoding="utf-8") if memory_file.is_file() else None
    report["turn3"] = await turn("继续。")
    report["turn3_sees_summary"] = "记住用户最喜欢的颜色" in request_text(agent_requests[-1])

    # automatic compaction by CoPaw's hook: a small context and a long message
    system_tokens = len(str(agent_requests[-1]["messages"][0]["content"]).encode()) // 4
    config = load_agent_config("default")
    config.running.max_input_length = max(1000, int((system_tokens + 1200) / 0.75))
    config.running.memory_summary.force_memory_search = True
    config.running.memory_summary.force_min_score = 0.0
    save_agent_config("default", config)
    before = len(list((ws / "dialog").glob("*.jsonl")))
    report["turn4"] = await turn("请记下这段很长的说明：" + "蓝色的天空和大海。" * 400)
    report["dialog_files"] = len(list((ws / "dialog").glob("*.jsonl")))
    report["dialog_files_before"] = before
    report["summary_after_auto_compact"] = session()["agent"]["memory"].get("_compressed_summary", "")
    await mm.await_summary_tasks()
    report["turn5"] = await turn("我喜欢什么颜色？")
    report["turn5_recalled"] = "# Memories" in request_text(agent_requests[-1]) and "蓝色" in request_text(
        agent_requests[-1]
    )
    report["close"] = await mm.close()
    report["workspace"] = str(ws)
    server.stop()
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(asyncio.run(main()), ensure_ascii=False))
