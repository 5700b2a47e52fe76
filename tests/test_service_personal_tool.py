"""ReMe 0.3.x's personal-memory and tool-memory flows and its ``vector_store`` actions at ReMe's paths
(``reme.service.personal_tool_flows``), over a real loopback server: bodies and responses as ReMe's, the three
targets of a workspace, the rewards a tool call's outcome gives, the scope of a token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")

from loopback import serve

from reme.llm.types import ChatResult
from reme.memory import Memory
from reme.policy.trajectory import RewardEvent, read_records
from reme.retrieval.embedding import RandomEncoder
from reme.service import create_app

TOKENS = {"w-token-0123456789abcdef": ["user:w", "task:w", "tool:w"], "task-only-0123456789ab": ["task:w"],
          "admin-token-0123456789ab": ["*"]}  # fmt: skip


class GuidanceLLM:
    """Answers every prompt with one line of tool guidance, with made-up but valid token log-probabilities."""

    model = "guidance-llm"
    text = "Call search with short queries; it fails on empty ones."

    def chat(self, messages: list[dict[str, Any]], **_: Any) -> ChatResult:
        return ChatResult(text=self.text, tokens=[self.text], token_logprobs=[-0.2], model=self.model, backend="test")

    async def achat(self, messages: list[dict[str, Any]], **kw: Any) -> ChatResult:
        return self.chat(messages, **kw)


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def test_personal_and_tool_flows_and_vector_store(tmp_path):
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    try:
        with serve(create_app(tmp_path / "ws", TOKENS, memory=memory, llm=GuidanceLLM(), rate_limit=None)) as url:
            w, admin = client(url, "w-token-0123456789abcdef"), client(url, "admin-token-0123456789ab")
            # personal: summary (the write policy decides), then retrieval (a logged ranking decision)
            talk = [{"role": "user", "content": "I am vegetarian."}, {"role": "assistant", "content": "Noted."}]
            memory.add("W is vegetarian.", "user:w")
            summary = w.post(
                "/summary_personal_memory", json={"workspace_id": "w", "trajectories": [{"messages": talk}]}
            )
            assert summary.status_code == 200 and set(summary.json()) == {"answer", "success", "messages", "metadata"}
            query = {"workspace_id": "w", "query": "vegetarian", "top_k": 3}
            found = w.post("/retrieve_personal_memory", json=query).json()
            assert found["success"] and "vegetarian" in found["answer"] and found["metadata"]["decision_id"]

            # tool: calls recorded in the tool's memory, their outcome a reward, then summarised by the LLM
            calls = [
                {
                    "tool_name": "search",
                    "input": {"q": "lisbon"},
                    "output": "3 hits",
                    "success": True,
                    "time_cost": 0.5,
                },
                {"tool_name": "search", "input": {"q": ""}, "output": "error: empty query", "success": False},
                {"tool_name": "fetch", "input": "https://example.com", "output": "<html>", "success": True},
            ]
            added = w.post("/add_tool_call_result", json={"workspace_id": "w", "tool_call_results": calls}).json()
            assert added["success"] and [m["when_to_use"] for m in added["metadata"]["memory_list"]] == [
                "search",
                "fetch",
            ]
            assert "2 recorded calls, 1 succeeded" in added["answer"]
            tool_ids = {m["when_to_use"]: m["memory_id"] for m in added["metadata"]["memory_list"]}
            rewards = [e.record for e in read_records(tmp_path / "ws" / "trajectories")
                       if isinstance(e.record, RewardEvent)]  # fmt: skip
            assert sorted((r.memory_id == tool_ids["search"], r.value) for r in rewards if r.source == "task") == [
                (False, 1.0), (True, 0.0), (True, 1.0)
            ]  # fmt: skip
            got = w.post("/retrieve_tool_memory", json={"workspace_id": "w", "tool_names": "search, nope"}).json()
            assert [m["when_to_use"] for m in got["metadata"]["memory_list"]] == ["search"]
            summarised = w.post("/summary_tool_memory", json={"workspace_id": "w", "tool_names": "search"}).json()
            assert summarised["success"] and GuidanceLLM.text in summarised["answer"]
            assert memory.get(tool_ids["search"]).content == GuidanceLLM.text
            more = w.post("/add_tool_call_result", json={"workspace_id": "w", "tool_call_results": calls[:1]}).json()
            assert more["metadata"]["memory_list"][0]["content"] == GuidanceLLM.text  # the summary is kept
            assert len(memory.get(tool_ids["search"]).metadata["tool_call_results"]) == 3
            assert (
                w.post("/retrieve_tool_memory", json={"workspace_id": "w", "tool_names": "nope"}).json()["success"]
                is False
            )

            # vector_store: list, dump, delete, load, delete_ids, copy
            memory.add("Run the tests before merging.", "task:w")
            listed = w.post("/vector_store", json={"workspace_id": "w", "action": "list"}).json()
            assert (
                "Run the tests" in listed["metadata"]["action_result"]
                and "vegetarian" in listed["metadata"]["action_result"]
            )
            count = memory.count("user:w") + memory.count("task:w") + memory.count("tool:w")
            dumped = w.post("/vector_store", json={"workspace_id": "w", "action": "dump", "path": "all.jsonl"}).json()
            assert f"'dumped': {count}" in dumped["metadata"]["action_result"]
            w.post("/vector_store", json={"workspace_id": "w", "action": "delete"})
            assert memory.count("user:w") + memory.count("task:w") + memory.count("tool:w") == 0
            loaded = w.post("/vector_store", json={"workspace_id": "w", "action": "load", "path": "all.jsonl"}).json()
            assert f"'loaded': {count}" in loaded["metadata"]["action_result"]
            assert memory.count("user:w") >= 1 and memory.count("task:w") == 1 and memory.count("tool:w") == 2
            other = memory.add("Other workspace's secret.", "user:other")
            refused = w.post("/vector_store", json={"workspace_id": "w", "action": "delete_ids",
                                                    "memory_ids": [other.memory_id]})  # fmt: skip
            assert refused.status_code == 404 and memory.get(other.memory_id).content == "Other workspace's secret."
            copied = admin.post("/vector_store", json={"workspace_id": "w2", "action": "copy", "src_workspace_id": "w"})
            assert copied.status_code == 200 and memory.count("task:w2") == 1 and memory.count("tool:w2") == 2
            # a token for the task target alone reaches neither the personal nor the tool memory, nor vector_store
            task_only = client(url, "task-only-0123456789ab")
            for path, body in (("/retrieve_personal_memory", {"query": "diet"}), ("/retrieve_tool_memory",
                               {"tool_names": "search"}), ("/vector_store", {"action": "list"})):  # fmt: skip
                assert task_only.post(path, json={"workspace_id": "w", **body}).status_code == 403, path
            assert w.post("/vector_store", json={"workspace_id": "w2", "action": "copy",
                                                 "src_workspace_id": "w"}).status_code == 403  # fmt: skip
            schema = httpx.get(f"{url}/openapi.json").json()["paths"]
            assert {"/retrieve_personal_memory", "/summary_personal_memory", "/add_tool_call_result",
                    "/summary_tool_memory", "/retrieve_tool_memory", "/vector_store"} <= set(schema)  # fmt: skip
    finally:
        memory.close()


def test_summary_tool_memory_without_an_llm_is_503(tmp_path):
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    try:
        with serve(create_app(tmp_path / "ws", None, memory=memory)) as url:
            httpx.post(f"{url}/add_tool_call_result",
                       json={"workspace_id": "w", "tool_call_results": [{"tool_name": "t"}]})  # fmt: skip
            r = httpx.post(f"{url}/summary_tool_memory", json={"workspace_id": "w", "tool_names": "t"})
            assert r.status_code == 503 and "LLM" in r.json()["detail"]
    finally:
        memory.close()
