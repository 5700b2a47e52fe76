"""``reme mcp``: real MCP SDK clients against the server. Over stdio (the ``reme mcp`` command spawned by
``stdio_client``): the tool list and schemas, add / search / feedback / get / update / delete, tool errors, and
the trajectory export. Over streamable HTTP (``run_mcp`` in a subprocess on a free loopback port): list and call.
And the refusal of a non-loopback host."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import anyio
import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from typer.testing import CliRunner

from reme.cli import app
from reme.errors import BadInputError
from reme.service.mcp_server import is_loopback, run_mcp

TOOLS = {
    "add_memory": ["content"],
    "search_memory": ["query"],
    "get_memory": ["memory_id"],
    "list_memories": [],
    "update_memory": ["memory_id"],
    "delete_memory": ["memory_id"],
    "feedback": ["value"],
    "export_trajectories": [],
    "compact_messages": ["messages"],
    "retrieve_task_memory": ["workspace_id"],
    "summary_task_memory": ["workspace_id", "trajectories"],
    "add_task_memory": ["workspace_id", "memory_list"],
    "record_task_memory": ["workspace_id", "memory_list"],
    "delete_task_memory": ["workspace_id"],
    "load_memory": ["workspace_id"],
    "dump_memory": ["workspace_id"],
    "retrieve_personal_memory": ["workspace_id", "query"],
    "summary_personal_memory": ["workspace_id", "trajectories"],
    "add_tool_call_result": ["workspace_id", "tool_call_results"],
    "summary_tool_memory": ["workspace_id", "tool_names"],
    "retrieve_tool_memory": ["workspace_id", "tool_names"],
    "vector_store": ["workspace_id", "action"],
}
"""Every tool and the parameters its input schema requires."""


def _env() -> dict[str, str]:
    """The server process's environment: ours (the installed model, the cache folder), offline."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def _result(result: Any) -> dict[str, Any]:
    """The JSON object a successful tool call returned (structured content, else the JSON text)."""
    data = result.model_dump(by_alias=True)
    assert not data["isError"], data["content"]
    if data.get("structuredContent") is not None:
        return dict(data["structuredContent"])
    return dict(json.loads(data["content"][0]["text"]))


def _error(result: Any) -> str:
    """The message of a failed tool call."""
    data = result.model_dump(by_alias=True)
    assert data["isError"], data
    return " ".join(str(c.get("text", "")) for c in data["content"])


async def _call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    return await session.call_tool(tool, arguments)


def test_stdio_tools_end_to_end(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "reme.cli", "mcp", "--workspace", str(workspace)],
        env=_env(),
    )

    async def scenario() -> None:
        with anyio.fail_after(120):
            await _stdio_scenario(params)

    anyio.run(scenario)


async def _stdio_scenario(params: StdioServerParameters) -> None:
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        tools = {t.name: t.model_dump(by_alias=True) for t in (await session.list_tools()).tools}
        assert set(tools) == set(TOOLS)
        for name, required in TOOLS.items():
            schema = tools[name]["inputSchema"]
            assert sorted(schema.get("required", [])) == sorted(required), name
            assert tools[name]["description"], name
        assert set(tools["search_memory"]["inputSchema"]["properties"]) >= {"query", "limit", "target"}
        assert set(tools["feedback"]["inputSchema"]["properties"]) == {"value", "decision_id", "memory_id"}

        lisbon = _result(
            await _call(session, "add_memory", content="Alice moved to Lisbon in May 2024.", target="user:alice")
        )
        assert lisbon["stored"] and lisbon["memory"]["memory_target"] == "user:alice"
        lisbon_id = lisbon["memory"]["memory_id"]
        await _call(session, "add_memory", content="Alice is allergic to peanuts.", target="user:alice")
        berlin = _result(
            await _call(
                session, "add_memory", content="Bob lives in Berlin.", target="user:bob", time="2024-05-08",
                metadata={"source": "chat"},
            )
        )  # fmt: skip
        assert berlin["memory"]["message_time"] == "2024-05-08"
        assert berlin["memory"]["metadata"] == {"source": "chat"}
        assert "invalid target" in _error(await _call(session, "add_memory", content="x", target="nobody"))

        found = _result(await _call(session, "search_memory", query="Where does Alice live now?", target="user:alice"))
        decision_id = found["decision_id"]
        assert decision_id and found["target"] == "user:alice"
        assert found["results"][0]["memory_id"] == lisbon_id
        assert found["results"][0]["content"] == "Alice moved to Lisbon in May 2024."
        assert {"score", "rank", "memory"} <= set(found["results"][0])
        assert all(r["memory"]["memory_target"] == "user:alice" for r in found["results"])

        reward = _result(await _call(session, "feedback", value=1.0, decision_id=decision_id))
        assert reward["decision_id"] == decision_id and reward["value"] == 1.0
        assert "exactly one" in _error(await _call(session, "feedback", value=1.0))

        listed = _result(await _call(session, "list_memories", target="user:bob"))
        assert listed["count"] == 1 and listed["memories"][0]["content"] == "Bob lives in Berlin."

        got = _result(await _call(session, "get_memory", memory_id=lisbon_id))
        assert got["content"] == "Alice moved to Lisbon in May 2024."
        updated = _result(
            await _call(session, "update_memory", memory_id=lisbon_id, content="Alice moved to Porto in 2025.")
        )
        assert updated["memory_id"] == lisbon_id and updated["content"] == "Alice moved to Porto in 2025."
        assert _result(await _call(session, "delete_memory", memory_id=lisbon_id)) == {"deleted": lisbon_id}
        message = _error(await _call(session, "get_memory", memory_id=lisbon_id))
        assert "not found" in message and lisbon_id in message

        exported = _result(await _call(session, "export_trajectories"))
        records = exported["records"]
        assert exported["unreadable"] == 0
        decisions = [r for r in records if r["type"] == "decision" and r["decision_id"] == decision_id]
        assert len(decisions) == 1 and decisions[0]["kind"] == "rank"
        rewards = [r for r in records if r["type"] == "reward"]
        assert [r["decision_id"] for r in rewards] == [decision_id]
        recent = _result(await _call(session, "export_trajectories", limit=1))["records"]
        assert recent == records[-1:]

        # compaction and ReMe's task-memory flows (this server has no LLM)
        chat = [{"role": "user", "content": "plan " * 300}, {"role": "assistant", "content": "ok " * 300}] * 3
        compacted = _result(
            await _call(session, "compact_messages", messages=chat, memory_compact_threshold=10,
                        memory_compact_reserve=300)
        )  # fmt: skip
        assert compacted["decision_id"] and compacted["compacted"] and compacted["kept"][-1] == chat[-1]
        assert compacted["summary"] is None and "no LLM" in compacted["summary_error"]
        added = _result(
            await _call(session, "add_task_memory", workspace_id="appworld",
                        memory_list=[{"content": "Log in to Venmo before send_money.", "when_to_use": "paying"}])
        )  # fmt: skip
        venmo = added["metadata"]["memory_list"][0]["memory_id"]
        task = _result(await _call(session, "retrieve_task_memory", workspace_id="appworld", query="pay on Venmo"))
        assert task["metadata"]["memory_list"][0]["memory_id"] == venmo and "Venmo" in task["answer"]
        recorded = _result(
            await _call(session, "record_task_memory", workspace_id="appworld", memory_list=[venmo],
                        update_utility=True, decision_id=task["metadata"]["decision_id"])
        )  # fmt: skip
        assert recorded["metadata"]["memory_list"][0]["metadata"] == {"freq": 1, "utility": 1.0}
        dumped = _result(await _call(session, "dump_memory", workspace_id="appworld"))
        assert dumped["metadata"] == {"dumped": 1, "path": "appworld.jsonl"}
        hostile = _error(await _call(session, "load_memory", workspace_id="appworld", load_file_path="../x.jsonl"))
        assert "bad input" in hostile
        trajectories = [{"messages": [{"role": "user", "content": "hi"}], "score": 1.0}]
        assert "LLM" in _error(await _call(session, "summary_task_memory", workspace_id="appworld",
                                           trajectories=trajectories))  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    """A session over the SDK's streamable HTTP client (``streamable_http_client``; mcp 1.x also spelled it
    ``streamablehttp_client``, yielding a third item)."""
    module = importlib.import_module("mcp.client.streamable_http")
    connect = getattr(module, "streamable_http_client", None) or module.streamablehttp_client
    async with connect(url) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        yield session


@contextmanager
def _spawned(tmp_path: Path, transport: str) -> Iterator[int]:
    """``run_mcp`` over ``transport`` in a subprocess on a free loopback port, until the block ends; yields the port."""
    port = _free_port()
    workspace = str(tmp_path / "ws")
    code = f"from reme.service.mcp_server import run_mcp; run_mcp({workspace!r}, {transport!r}, '127.0.0.1', {port})"
    log = tmp_path / "server.log"
    with log.open("w") as errors:
        proc = subprocess.Popen([sys.executable, "-c", code], env=_env(), stdout=errors, stderr=errors)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"the MCP {transport} server did not start"
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_streamable_http_on_loopback(tmp_path: Path) -> None:
    with _spawned(tmp_path, "http") as port:

        async def scenario() -> None:
            with anyio.fail_after(60):
                await _http_scenario(f"http://127.0.0.1:{port}/mcp")

        anyio.run(scenario)
        # DNS-rebinding protection: a request naming another host (a web page's, through the browser) is refused
        rebound = httpx.post(
            f"http://127.0.0.1:{port}/mcp",
            headers={"Host": "evil.example", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert rebound.status_code == 421


async def _http_scenario(url: str) -> None:
    async with _http_session(url) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert names == set(TOOLS)
        listed = _result(await _call(session, "list_memories", target="user:alice"))
        assert listed == {"target": "user:alice", "count": 0, "memories": []}
        assert "not found" in _error(await _call(session, "delete_memory", memory_id="missing"))


def test_refuses_non_loopback_host(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(BadInputError, match="loopback"):
            run_mcp(workspace, "http", host, 8001)
    for transport in ("http", "sse"):
        with pytest.raises(BadInputError, match="loopback"):
            run_mcp(workspace, transport, "0.0.0.0", 8001)
    with pytest.raises(BadInputError, match="transport"):
        run_mcp(workspace, "websocket")
    assert not workspace.exists()  # refused before the workspace is opened
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))

    out = CliRunner().invoke(app, ["mcp", "--transport", "http", "--host", "0.0.0.0", "--workspace", str(workspace)])
    assert out.exit_code == 2
    assert "loopback" in out.output


def test_sse_on_loopback_serves_the_personal_and_tool_tools(tmp_path: Path) -> None:
    """ReMe 0.3.x served MCP over SSE: the same tools, the personal and tool memory flows among them."""
    from mcp.client.sse import sse_client

    with _spawned(tmp_path, "sse") as port:

        async def scenario() -> None:
            with anyio.fail_after(60):
                async with sse_client(f"http://127.0.0.1:{port}/sse") as streams, ClientSession(*streams) as session:
                    await session.initialize()
                    assert {t.name for t in (await session.list_tools()).tools} == set(TOOLS)
                    calls = [{"tool_name": "search", "input": {"q": "x"}, "output": "3 hits", "success": True}]
                    added = _result(await _call(session, "add_tool_call_result", workspace_id="w",
                                                tool_call_results=calls))  # fmt: skip
                    assert "search" in added["answer"]
                    found = _result(await _call(session, "retrieve_tool_memory", workspace_id="w", tool_names="search"))
                    assert found["metadata"]["memory_list"][0]["when_to_use"] == "search"

        anyio.run(scenario)
