"""Isolation and secrets.

- Per target: a bearer token for ``user:alice`` reads nothing of ``user:bob`` on any read path of the service
  (search, list, get, feedback on a memory, the trajectory export, the task flows), and the library's search of
  one target never returns another's memory.
- Per workspace: two workspaces in one process never see each other's memories or decisions.
- Secrets: an LLM or embedding API key never reaches the logs (at DEBUG), the trajectory records, ``reme.yaml``
  or any other file of the workspace, even when the endpoint fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from reme.memory import Memory
from reme.retrieval.embedding import RandomEncoder

SECRET = "sk-test-SECRET-7f3a9c1e5b"

BACKENDS = ["sqlite", "postgres"]
"""Every isolation test of the records runs on both stores; in PostgreSQL two workspaces share one database, each
in its own schema (issue 22)."""


def _workspace(path: Path, backend: str, request: pytest.FixtureRequest, name: str = "") -> Path:
    """``path``, its records in PostgreSQL (schema ``<test schema><name>``) for the ``postgres`` backend."""
    if backend == "postgres":
        import os

        import yaml

        pytest.importorskip("psycopg")
        url = request.getfixturevalue("postgres_url")
        path.mkdir(parents=True, exist_ok=True)
        store = {"url": url, "schema": os.environ["REME_TEST_SCHEMA"] + name}
        (path / "reme.yaml").write_text(yaml.safe_dump({"store": store}), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_service_read_path_is_per_target(tmp_path, backend, request):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from loopback import serve

    from reme.service import create_app

    memory = Memory(_workspace(tmp_path / "ws", backend, request), encoder=RandomEncoder(16))
    bob = memory.add("Bob's door code is 4417.", "user:bob")
    bob_task = memory.add("Bob's deploy runbook: restart the API last.", "task:bob-ops")
    assert bob is not None and bob_task is not None
    decision, _ = memory.search_with_decision("door code", 5, "user:bob", min_score=-1)
    tokens = {"alice": ["user:alice", "task:alice-ops"], "admin": ["*"]}
    try:
        with serve(create_app(tmp_path / "ws", tokens, memory=memory)) as url:
            alice = httpx.Client(base_url=url, headers={"Authorization": "Bearer alice"})
            alice.post("/v1/memories", json={"content": "Alice likes tea.", "target": "user:alice"})
            denied = {
                "search": alice.post("/v1/search", json={"query": "door code", "target": "user:bob"}),
                "list": alice.get("/v1/memories", params={"target": "user:bob"}),
                "get": alice.get(f"/v1/memories/{bob.memory_id}"),
                "patch": alice.patch(f"/v1/memories/{bob.memory_id}", json={"content": "x"}),
                "delete": alice.delete(f"/v1/memories/{bob.memory_id}"),
                "feedback-memory": alice.post("/v1/feedback", json={"memory_id": bob.memory_id, "value": 1}),
                "feedback-decision": alice.post("/v1/feedback", json={"decision_id": decision.decision_id, "value": 1}),
                "trajectories": alice.get("/v1/trajectories"),
                "task-retrieve": alice.post(
                    "/retrieve_task_memory", json={"workspace_id": "bob-ops", "query": "deploy"}
                ),
                "task-dump": alice.post("/dump_memory", json={"workspace_id": "bob-ops"}),
                "task-record": alice.post(
                    "/record_task_memory", json={"workspace_id": "bob-ops", "memory_list": [bob_task.memory_id]}
                ),
            }
            # a path naming another target is 403; a path naming another target's memory or decision by id is
            # 404, the answer to an id that does not exist (ids are no oracle: tests/test_hardening.py)
            by_id = {"get", "patch", "delete", "feedback-memory", "feedback-decision"}
            expected = {name: 404 if name in by_id else 403 for name in denied}
            assert {name: r.status_code for name, r in denied.items()} == expected
            for response in denied.values():
                assert "4417" not in response.text and "runbook" not in response.text
            # alice's own task workspace cannot reach bob's memory through a memory id either
            crossed = alice.post(
                "/record_task_memory", json={"workspace_id": "alice-ops", "memory_list": [bob_task.memory_id]}
            )
            assert crossed.status_code == 404 and "runbook" not in crossed.text
            found = alice.post("/v1/search", json={"query": "door code tea", "target": "user:alice", "min_score": -1})
            assert [r["memory"]["memory_target"] for r in found.json()["results"]] == ["user:alice"]
            assert httpx.get(f"{url}/v1/memories", params={"target": "user:bob"}).status_code == 401
            assert memory.get(bob.memory_id).content == "Bob's door code is 4417."  # nothing changed
    finally:
        memory.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_never_crosses_targets_or_workspaces(tmp_path, backend, request):
    one = Memory(_workspace(tmp_path / "one", backend, request, "_one"), encoder=RandomEncoder(16))
    two = Memory(_workspace(tmp_path / "two", backend, request, "_two"), encoder=RandomEncoder(16))
    for i in range(30):
        one.add(f"alice fact {i} about lisbon", "user:alice")
        one.add(f"bob fact {i} about lisbon", "user:bob")
        two.add(f"carol fact {i} about lisbon", "user:alice")
    for query in ("lisbon", "alice fact 3", "bob fact 3", "carol"):
        hits = one.search(query, 50, "user:alice", min_score=-1)
        assert hits and all(h.memory.memory_target == "user:alice" for h in hits)
        assert all(h.memory.content.startswith("alice") for h in hits)
        assert all(h.memory.content.startswith("carol") for h in two.search(query, 50, "user:alice", min_score=-1))
    assert {n.content.split()[0] for n in two.list()} == {"carol"}
    ids_one = {e.record.decision_id for e in _records(tmp_path / "one")}
    ids_two = {e.record.decision_id for e in _records(tmp_path / "two")}
    assert ids_one and ids_two and not ids_one & ids_two
    one.close()
    two.close()


def _records(ws: Path):
    """The workspace's decisions, from wherever its log lives (its segments, or its schema's table)."""
    from types import SimpleNamespace

    from reme.train.logs import logged_records

    return [SimpleNamespace(record=r) for r in logged_records(ws) if r.type == "decision"]


def test_api_keys_never_reach_logs_records_or_files(tmp_path, caplog, monkeypatch):
    from llm_server import LocalLLMServer, make_tiny_model

    from reme.config import EmbeddingConfig
    from reme.vector import ReMe

    monkeypatch.setenv("LLM_API_KEY", SECRET)
    model = make_tiny_model(tmp_path / "tiny")
    with caplog.at_level(logging.DEBUG), LocalLLMServer(model) as server:
        server.reply(json.dumps([{"content": "Alice moved to Lisbon.", "when_to_use": ""}]))

        async def scenario() -> None:
            async with ReMe(
                working_dir=str(tmp_path / "ws"),
                llm_base_url=server.base_url,
                default_llm_config={"model_name": "tiny"},
                encoder=RandomEncoder(16),
            ) as reme:
                await reme.summarize_memory([{"role": "user", "content": "I moved to Lisbon."}], user_name="alice")
                server.fail_next(8, 500)  # a failing endpoint: errors are logged, keys are not
                await reme.summarize_memory([{"role": "user", "content": "And I like tea."}], user_name="alice")

        asyncio.run(scenario())
        assert server.requests and server.requests[0]  # the endpoint was really called
    # an embedding endpoint key: stored settings must not hold it
    config = EmbeddingConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1", api_key=SECRET)
    assert SECRET not in repr(config) and SECRET not in str(config)
    memory = Memory(tmp_path / "ws2", embedding=config, encoder=RandomEncoder(16))
    memory.add("a fact", "user:alice")
    memory.close()
    assert SECRET not in caplog.text
    for root in (tmp_path / "ws", tmp_path / "ws2"):
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
