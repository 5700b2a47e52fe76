"""Drive QwenPaw 2.2.2's own ReMe memory manager on this project's ReMe 0.4 face, and print what happened as JSON.

Run by ``tests/test_hosts.py`` inside QwenPaw 2's own site (AgentScope 2.0.10). QwenPaw 2.x builds ``reme.ReMe``
from its config dict (plugins ``auto-fin`` and ``daily-paper`` named, its own jobs and components), checks
``reme.__version__ == "0.4.1.11"`` and the job API on the classes, injects its AgentScope 2 chat model with
``update_component`` and drives ``run_job``. This script uses QwenPaw's ``ReMeLightMemoryManager`` as QwenPaw's
workspace does (``start``, ``auto_memory`` with AgentScope 2 ``Msg`` objects, ``memory_search`` the agent's tool,
``list_actions`` / ``run_action`` as ``/reme`` and the web app call them, ``close``), with the model factory pointed
at a local scripted OpenAI-compatible server (QwenPaw's provider store needs a keyring) and its inbox silenced.

    python tests/hosts/qwenpaw2_driver.py SCRATCH_DIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]).resolve()
ROOT.mkdir(parents=True, exist_ok=True)
os.chdir(ROOT)
os.environ["QWENPAW_WORKING_DIR"] = str(ROOT / "qwenpaw")  # read when qwenpaw is imported
os.environ["QWENPAW_SECRET_DIR"] = str(ROOT / "qwenpaw.secret")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
logging.basicConfig(level=logging.WARNING)

from scripted_openai_server import ScriptedOpenAIServer, request_text  # noqa: E402

memory_requests: list[dict[str, Any]] = []
dream_requests: list[dict[str, Any]] = []
UNITS = {
    "units": [{"name": "Tea preference", "bucket": "personal", "summary": "The user prefers green tea over coffee.",
               "paths": []}],
    "topics": [{"title": "Tea brewing", "reason": "The user likes green tea.", "keywords": ["tea"]}],
}  # fmt: skip


def route(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    tools = {t.get("function", {}).get("name") for t in body.get("tools", [])}
    if tools & {"daily_write", "edit"}:  # this project's auto_memory agent, offered ReMe's jobs as native tools
        memory_requests.append(body)
        if "edit" in tools and not any(m.get("role") == "tool" for m in messages):  # update today's note
            path = re.search(r"today's note (\S+)\. ", request_text(body)).group(1)  # type: ignore[union-attr]
            arguments = {"path": path, "old": "over coffee.", "new": "over coffee, without sugar."}
            call = {"id": "call_m2", "type": "function",
                    "function": {"name": "edit", "arguments": json.dumps(arguments)}}  # fmt: skip
            return {"content": None, "tool_calls": [call]}
        if not any(m.get("role") == "tool" for m in messages):
            arguments = {"name": "tea-preference", "description": "The user prefers green tea",
                         "content": "- The user prefers green tea over coffee."}  # fmt: skip
            call = {"id": "call_m1", "type": "function",
                    "function": {"name": "daily_write", "arguments": json.dumps(arguments)}}  # fmt: skip
            return {"content": None, "tool_calls": [call]}
        return {"content": "Saved: the user prefers green tea."}
    dream_requests.append(body)
    return {"content": "```json\n" + json.dumps(UNITS) + "\n```"}


async def main() -> dict[str, Any]:
    from agentscope.credential import OpenAICredential
    from agentscope.message import AssistantMsg, UserMsg
    from agentscope.model import OpenAIChatModel
    from qwenpaw.agents.memory import reme_light_memory_manager as rlmm

    import reme

    report: dict[str, Any] = {"reme_module": reme.__file__, "reme_version": reme.__version__}
    with ScriptedOpenAIServer(router=route) as server:

        async def factory(agent_id: Any = None, **_: Any) -> tuple[Any, None]:
            credential = OpenAICredential(api_key="sk-local", base_url=server.base_url)
            return OpenAIChatModel(credential=credential, model=server.model_name, stream=True, max_retries=1), None

        async def no_inbox(**kwargs: Any) -> dict[str, Any]:
            return {"id": "inbox", "status": kwargs.get("status")}

        rlmm.create_model_and_formatter_async = factory
        rlmm.append_inbox_event = no_inbox
        workspace = ROOT / "qwenpaw" / "workspaces" / "default"
        manager = rlmm.ReMeLightMemoryManager(working_dir=str(workspace), agent_id="default")
        report["constructed"] = manager._reme is not None
        report["app_type"] = type(manager._reme).__module__ + "." + type(manager._reme).__name__
        await manager.start()
        report["started"] = bool(getattr(manager._reme, "is_started", False))
        report["injected_model"] = type(manager._reme.component("as_llm", "default").model).__name__

        messages = [
            UserMsg(
                name="user",
                content="Please remember: I prefer green tea over coffee.",
                metadata={"qwenpaw_tag": "external_user_query"},
            ),
            AssistantMsg(name="assistant", content="Noted, green tea it is."),
        ]
        report["auto_memory"] = await manager.auto_memory(messages, session_id="chat-42")
        report["memory_requests"] = len(memory_requests)
        report["tools_offered"] = sorted(t["function"]["name"] for t in memory_requests[0].get("tools", []))
        daily = workspace / "memory"
        report["notes"] = sorted(p.relative_to(workspace).as_posix() for p in daily.rglob("*.md"))
        note = next((p for p in daily.rglob("tea-preference.md")), None)
        report["note"] = note.read_text(encoding="utf-8") if note else ""
        transcripts = list((workspace / "mem_session" / "dialog").glob("*.jsonl"))
        report["transcripts"] = [p.name for p in transcripts]
        report["transcript_lines"] = len(transcripts[0].read_text().splitlines()) if transcripts else 0

        # QwenPaw's own trigger path: its serial auto-memory worker, a later turn of the same session
        later = [*messages, UserMsg(name="user", content="And no sugar, please.",
                                    metadata={"qwenpaw_tag": "external_user_query"})]  # fmt: skip
        task_id = manager.submit_auto_memory(later, trigger="periodic", session_id="chat-42")
        for _ in range(200):
            if manager._auto_memory_task_info[task_id]["status"] not in ("pending", "running"):
                break
            await asyncio.sleep(0.05)
        report["worker_task"] = {k: str(v) for k, v in manager._auto_memory_task_info[task_id].items()
                                 if k in ("status", "trigger", "error")}  # fmt: skip
        report["note_after_update"] = note.read_text(encoding="utf-8") if note else ""
        report["update_tools"] = sorted(t["function"]["name"] for t in memory_requests[-1].get("tools", []))
        report["transcript_lines_after"] = len(transcripts[0].read_text().splitlines()) if transcripts else 0
        chunk = await manager.memory_search("green tea", max_results=3)
        report["search_state"] = str(getattr(chunk, "state", ""))
        report["search_text"] = "\n".join(str(getattr(b, "text", "")) for b in chunk.content)
        actions = await manager.list_actions()
        report["actions"] = sorted(actions)
        status = await manager.run_action("status")
        report["status_success"] = status.success
        report["status_memory_keys"] = sorted(status.metadata["status"]["memory"])
        version = await manager.run_action("version")
        report["version_answer"] = version.answer
        reindex = await manager.run_action("reindex", scope="bm25")
        report["reindex"] = {"success": reindex.success, "answer": reindex.answer}
        snapshot = await manager.run_action("graph_snapshot")
        report["graph_nodes"] = len(snapshot.answer["nodes"])
        search = await manager._reme.run_job("search", query="green tea", limit=3, min_score=0.0)
        report["search_decision_id"] = search.metadata.get("decision_id")
        report["search_policy"] = search.metadata.get("policy")
        first = search.metadata["results"][0]["path"]
        read = await manager._reme.run_job("read", path=first)
        report["read_rewarded"] = read.metadata.get("rewarded")
        dream = await manager.run_action("auto_dream", date="", hint="")
        report["dream_success"] = dream.success
        report["dream_answer"] = str(dream.answer)
        report["digest"] = sorted(p.relative_to(workspace).as_posix() for p in (workspace / "digest").rglob("*.md"))
        proactive = await manager.run_action("proactive")
        report["proactive"] = proactive.answer
        fin = await manager._reme.run_job("daily_paper", date="", force=False)
        report["plugin_job"] = {"success": fin.success, "answer": fin.answer}
        report["closed"] = await manager.close()
        report["index_dir"] = str(workspace / "mem_metadata" / "reme-rl")
    return report


if __name__ == "__main__":
    print("REPORT " + json.dumps(asyncio.run(main()), ensure_ascii=False, default=str))
