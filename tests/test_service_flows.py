"""``reme serve`` beyond CRUD: ``/v1/compact`` and ReMe 0.3.x's task-memory flows at ReMe's paths, driven by httpx
against a real loopback server whose LLM is a loopback OpenAI-compatible endpoint (a tiny real GPT-2)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from llm_server import LocalLLMServer, make_tiny_model  # noqa: E402
from loopback import serve  # noqa: E402

from reme.llm import LLMConfig, build_llm  # noqa: E402
from reme.memory import Memory  # noqa: E402
from reme.policy.trajectory import read_records  # noqa: E402
from reme.service import create_app  # noqa: E402

SUMMARY = "## Goal\nPlan the trip.\n## Progress\nBooked the flight to Lisbon on 3 May."


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture
def served(tmp_path, random_encoder, tiny_model):
    """A server with an LLM, tokens for task:appworld only and for everything."""
    with LocalLLMServer(tiny_model) as llm_server:
        memory = Memory(tmp_path / "ws", encoder=random_encoder)
        llm = build_llm(LLMConfig(model="tiny-test-lm", base_url=llm_server.base_url, api_key="EMPTY"))
        tokens = {"task-token": ["task:appworld"], "admin-token": ["*"]}
        app = create_app(tmp_path / "ws", tokens, memory=memory, llm=llm)
        with serve(app) as url:
            yield url, llm_server, tmp_path / "ws"
        memory.close()


def decisions(ws: Path) -> list:
    return [e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type == "decision"]


def rewards(ws: Path) -> list:
    return [e.record for e in read_records(ws / "trajectories") if e.record is not None and e.record.type == "reward"]


def test_compact_keeps_the_policy_split_and_returns_the_summary(served):
    url, llm_server, ws = served
    admin = httpx.Client(base_url=url, headers={"Authorization": "Bearer admin-token"}, timeout=60)
    messages = [{"role": "system", "content": "You are a travel agent."}]
    for i in range(12):
        messages.append({"role": "user", "content": f"Request {i}: " + "details " * 40})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "done " * 40})

    below = admin.post("/v1/compact", json={"messages": messages, "memory_compact_threshold": 10**6}).json()
    assert below["decision_id"] is None and below["compacted"] == [] and below["kept"] == messages

    llm_server.reply(SUMMARY)
    body = {"messages": messages, "memory_compact_threshold": 100, "memory_compact_reserve": 200}
    out = admin.post("/v1/compact", json=body).json()
    assert out["valid"] and out["decision_id"] and out["summary"] == SUMMARY and out["summary_error"] is None
    assert out["compacted"] and 0 not in out["compacted"]  # the system prompt is protected
    kept_positions = sorted(set(range(len(messages))) - set(out["compacted"]))
    assert out["kept"] == [messages[i] for i in kept_positions]
    assert messages[-1] in out["kept"]  # the newest message stays verbatim
    logged = {d.decision_id: d for d in decisions(ws)}
    assert logged[out["decision_id"]].kind == "compact"
    assert any(d.policy == "llm-compactor" for d in logged.values())

    llm_server.reply("no headings here")  # an invalid summary: nothing is compacted, nothing lost
    failed = admin.post("/v1/compact", json=body).json()
    assert failed["summary"] is None and failed["summary_error"] and failed["compacted"] == []
    assert failed["kept"] == messages

    bad = admin.post("/v1/compact", json={"messages": [{"content": "no role"}], "memory_compact_threshold": 0})
    assert bad.status_code == 422
    assert httpx.post(f"{url}/v1/compact", json=body).status_code == 401


def test_task_memory_flows_at_remes_paths(served):
    url, _llm_server, ws = served
    task = httpx.Client(base_url=url, headers={"Authorization": "Bearer task-token"}, timeout=60)
    added = task.post(
        "/add_task_memory",
        json={
            "workspace_id": "appworld",
            "memory_list": [
                {"when_to_use": "paying a Venmo friend", "content": "Log in to Venmo before calling send_money."},
                {"when_to_use": "finding a Spotify song", "content": "Search the library, then filter by artist."},
            ],
        },
    ).json()
    assert added["success"] and len(added["metadata"]["memory_list"]) == 2
    ids = [m["memory_id"] for m in added["metadata"]["memory_list"]]
    assert all(m["memory_target"] == "task:appworld" for m in added["metadata"]["memory_list"])

    found = task.post(
        "/retrieve_task_memory", json={"workspace_id": "appworld", "query": "send money on Venmo", "top_k": 1}
    ).json()
    assert found["success"] and found["metadata"]["decision_id"]
    assert [m["memory_id"] for m in found["metadata"]["memory_list"]] == [ids[0]]
    assert "Venmo" in found["answer"]
    by_messages = task.post(
        "/retrieve_task_memory",
        json={"workspace_id": "appworld", "messages": [{"role": "user", "content": "a Spotify song by an artist"}]},
    ).json()
    assert by_messages["metadata"]["memory_list"][0]["memory_id"] == ids[1]

    # the task used the Venmo memory and succeeded: freq and utility go up, and a reward reaches the memory and
    # the retrieval decision
    recorded = task.post(
        "/record_task_memory",
        json={
            "workspace_id": "appworld",
            "memory_list": [ids[0]],
            "update_utility": True,
            "decision_id": found["metadata"]["decision_id"],
        },
    ).json()
    assert recorded["metadata"]["memory_list"][0]["metadata"] == {"freq": 1, "utility": 1.0}
    got = {(r.memory_id, r.decision_id, r.value) for r in rewards(ws)}
    assert (ids[0], None, 1.0) in got and (None, found["metadata"]["decision_id"], 1.0) in got
    for _ in range(2):  # the Spotify memory is used twice by failed tasks: utility / freq = 0 < 0.5
        task.post("/record_task_memory", json={"workspace_id": "appworld", "memory_list": [{"memory_id": ids[1]}]})
    swept = task.post(
        "/delete_task_memory", json={"workspace_id": "appworld", "freq_threshold": 2, "utility_threshold": 0.5}
    ).json()
    assert swept["metadata"]["deleted_ids"] == [ids[1]]

    # dump and load round trip, confined to the task workspace's own folder of the dump directory
    dumped = task.post("/dump_memory", json={"workspace_id": "appworld", "dump_file_path": "backup"}).json()
    assert dumped["metadata"] == {"dumped": 1, "path": "backup/appworld.jsonl"}
    assert (ws / "dumps" / "appworld" / "backup" / "appworld.jsonl").is_file()
    loaded = task.post(
        "/load_memory", json={"workspace_id": "appworld", "load_file_path": "backup", "clear_existing": True}
    ).json()
    assert loaded["metadata"]["loaded"] == 1 and loaded["metadata"]["removed"] == 1
    for hostile in ("../../etc/passwd", "/etc/passwd", "backup/../../x.jsonl"):
        refused = task.post("/load_memory", json={"workspace_id": "appworld", "load_file_path": hostile})
        assert refused.status_code == 422, hostile
    (ws / "dumps" / "appworld" / "escape").symlink_to(ws.parent)
    assert task.post("/dump_memory", json={"workspace_id": "appworld", "path": "escape"}).status_code == 422

    # the token is for task:appworld only
    assert task.post("/retrieve_task_memory", json={"workspace_id": "bfcl", "query": "x"}).status_code == 403
    assert task.post("/add_task_memory", json={"workspace_id": "bad id!", "memory_list": []}).status_code == 422
    schema = httpx.get(f"{url}/openapi.json").json()
    flows = {"/retrieve_task_memory", "/summary_task_memory", "/add_task_memory", "/delete_task_memory"}
    assert flows | {"/record_task_memory", "/load_memory", "/dump_memory", "/v1/compact"} <= set(schema["paths"])


def test_summary_task_memory_writes_through_the_write_policy(served):
    url, llm_server, ws = served
    task = httpx.Client(base_url=url, headers={"Authorization": "Bearer task-token"}, timeout=60)
    proposal = [{"content": "Check the balance before a transfer.", "when_to_use": "money transfers"}]
    llm_server.reply(json.dumps(proposal))
    trajectory = {
        "messages": [
            {"role": "user", "content": "Send 20 dollars to Bob."},
            {"role": "assistant", "content": "I checked the balance first, then sent the money."},
        ],
        "score": 1.0,
    }
    out = task.post("/summary_task_memory", json={"workspace_id": "appworld", "trajectories": [trajectory]}).json()
    assert out["success"], out
    assert [m["content"] for m in out["metadata"]["memory_list"]] == [proposal[0]["content"]]
    prompt = llm_server.requests[-1]["messages"]
    assert "succeeded" in prompt[-1]["content"]  # the outcome reaches the summariser
    policies = [d.policy for d in decisions(ws) if d.decision_id in out["metadata"]["decision_ids"]]
    assert "llm-vector-summarizer" in policies


def test_summary_task_memory_without_an_llm_is_503(tmp_path, random_encoder):
    memory = Memory(tmp_path / "ws", encoder=random_encoder)
    try:
        with serve(create_app(tmp_path / "ws", memory=memory)) as url:
            body = {"workspace_id": "w", "trajectories": [{"messages": [{"role": "user", "content": "hi"}]}]}
            refused = httpx.post(f"{url}/summary_task_memory", json=body)
            assert refused.status_code == 503 and "LLM" in refused.json()["detail"]
            msgs = [{"role": "user", "content": "x " * 400}, {"role": "assistant", "content": "y " * 400}] * 3
            out = httpx.post(
                f"{url}/v1/compact",
                json={"messages": msgs, "memory_compact_threshold": 10, "memory_compact_reserve": 100},
            ).json()
            assert out["summary"] is None and "no LLM" in out["summary_error"] and out["compacted"]
    finally:
        memory.close()


def test_python_client_compacts_and_calls_flows(served):
    from reme.client import ReMeClient
    from reme.errors import BadInputError

    url, llm_server, _ws = served
    with ReMeClient(url, token="task-token") as client:
        out = client.task_flow("add_task_memory", "appworld", memory_list=[{"content": "Retry on HTTP 429."}])
        assert out["success"] and out["metadata"]["memory_list"][0]["memory_target"] == "task:appworld"
        with pytest.raises(BadInputError):
            client.task_flow("retrieve_task_memory", "other", query="429")
    with ReMeClient(url, token="admin-token") as admin:
        llm_server.reply(SUMMARY)
        msgs = [{"role": "user", "content": "a " * 300}, {"role": "assistant", "content": "b " * 300}] * 2
        result = admin.compact(msgs, memory_compact_threshold=10, memory_compact_reserve=200)
        assert result["summary"] == SUMMARY and result["compacted"] and result["kept"][-1] == msgs[-1]
