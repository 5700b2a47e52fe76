"""``reme serve``: a real server on loopback driven by httpx: every endpoint, auth (401 / 403), 413, 422."""

from __future__ import annotations

import json

import httpx
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from loopback import serve  # noqa: E402

from reme.memory import Memory  # noqa: E402
from reme.service import create_app, load_tokens  # noqa: E402


@pytest.fixture
def served(tmp_path, random_encoder):
    """A server on a free loopback port with two tokens: alice's (user:alice only) and an admin's (*)."""
    memory = Memory(tmp_path / "ws", encoder=random_encoder)
    tokens = {"alice-token": ["user:alice"], "admin-token": ["*"]}
    app = create_app(tmp_path / "ws", tokens, memory=memory, max_body_bytes=4096)
    with serve(app) as url:
        yield url
    memory.close()


def test_every_endpoint_with_auth(served):
    alice = httpx.Client(base_url=served, headers={"Authorization": "Bearer alice-token"})
    admin = httpx.Client(base_url=served, headers={"Authorization": "Bearer admin-token"})
    assert httpx.get(f"{served}/health").json()["status"] == "ok"
    assert httpx.post(f"{served}/v1/memories", json={"content": "x", "target": "user:alice"}).status_code == 401

    added = alice.post("/v1/memories", json={"content": "Alice moved to Lisbon.", "target": "user:alice"}).json()
    assert added["stored"] and added["memory"]["memory_target"] == "user:alice"
    mid = added["memory"]["memory_id"]
    assert alice.post("/v1/memories", json={"content": "Bob's secret", "target": "user:bob"}).status_code == 403
    admin.post("/v1/memories", json={"content": "Bob likes jazz.", "target": "user:bob"})
    listed = alice.get("/v1/memories", params={"target": "user:alice"}).json()
    assert [m["memory_id"] for m in listed] == [mid]
    assert alice.get("/v1/memories", params={"target": "user:bob"}).status_code == 403
    assert alice.get(f"/v1/memories/{mid}").json()["content"] == "Alice moved to Lisbon."
    patched = alice.patch(f"/v1/memories/{mid}", json={"content": "Alice moved to Lisbon in May."}).json()
    assert patched["content"] == "Alice moved to Lisbon in May." and patched["memory_id"] == mid

    found = alice.post("/v1/search", json={"query": "Where does Alice live?", "target": "user:alice", "min_score": -1})
    body = found.json()
    assert found.status_code == 200 and body["decision_id"] and body["results"][0]["memory_id"] == mid
    top = body["results"][0]  # the shipped ranker is ReMe's fusion: its own score is the fused score
    assert top["policy_score"] == pytest.approx(top["score"]) and top["score"] <= 1.0
    assert alice.post("/v1/search", json={"query": "jazz", "target": "user:bob"}).status_code == 403
    reward = admin.post("/v1/feedback", json={"decision_id": body["decision_id"], "value": 1.0})
    assert reward.status_code == 200 and reward.json()["decision_id"] == body["decision_id"]
    # a scoped token rewards the decisions of its own targets (the reward path of a multi-tenant host, issue 22.4)
    own = alice.post("/v1/feedback", json={"decision_id": body["decision_id"], "value": 0.5})
    assert own.status_code == 200 and own.json()["decision_id"] == body["decision_id"]
    assert alice.post("/v1/feedback", json={"memory_id": mid, "value": 0.5}).status_code == 200
    assert alice.post("/v1/feedback", json={"value": 1.0}).status_code == 422
    export = admin.get("/v1/trajectories")
    kinds = {json.loads(line)["type"] for line in export.text.splitlines()}
    assert export.status_code == 200 and kinds == {"decision", "reward"}
    assert alice.get("/v1/trajectories").status_code == 403

    assert (
        alice.post("/v1/memories", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert alice.post("/v1/memories", json={"target": "user:alice"}).status_code == 422
    assert alice.post("/v1/memories", json={"content": "x" * 10_000, "target": "user:alice"}).status_code == 413
    assert alice.get("/v1/memories/does-not-exist").status_code == 404
    assert alice.delete(f"/v1/memories/{mid}").json() == {"deleted": mid}
    assert alice.get(f"/v1/memories/{mid}").status_code == 404
    schema = httpx.get(f"{served}/openapi.json").json()
    assert {"/v1/memories", "/v1/search", "/v1/feedback", "/v1/trajectories"} <= set(schema["paths"])


def test_token_file_and_loopback_rule(tmp_path):
    from typer.testing import CliRunner

    from reme.cli import app
    from reme.errors import BadInputError

    good = tmp_path / "tokens.yaml"
    good.write_text("t1: [user:alice]\nt2: ['*']\n", encoding="utf-8")
    assert load_tokens(good) == {"t1": ["user:alice"], "t2": ["*"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("t1: user:alice\n", encoding="utf-8")
    with pytest.raises(BadInputError):
        load_tokens(bad)
    refused = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--workspace", str(tmp_path / "ws")])
    assert refused.exit_code == 2 and "token" in refused.output


def test_python_client_has_the_local_api(served):
    from reme.client import ReMeClient
    from reme.errors import BadInputError, NotFoundError

    with ReMeClient(served, token="alice-token") as client:
        assert client.health()["status"] == "ok"
        node = client.add("Alice is allergic to peanuts.", target="user:alice", metadata={"source": "chat"})
        assert node is not None and node.metadata["source"] == "chat"
        assert [n.memory_id for n in client.list("user:alice")] == [node.memory_id]
        assert client.get(node.memory_id).content == node.content
        assert client.update(node.memory_id, "Alice is allergic to peanuts and shellfish.").memory_id == node.memory_id
        hits = client.search("What is Alice allergic to?", target="user:alice", min_score=-1.0)
        assert hits and hits[0].memory.memory_id == node.memory_id and hits[0].decision_id
        event = client.feedback(1.0, memory_id=node.memory_id)
        assert event.value == 1.0
        with pytest.raises(BadInputError):
            client.add("no", target="user:bob")  # 403: not this token's target
        with pytest.raises(BadInputError):
            client.trajectories()  # the export needs '*'
        client.delete(node.memory_id)
        with pytest.raises(NotFoundError):
            client.get(node.memory_id)
    with ReMeClient(served, token="admin-token") as admin:
        records = admin.trajectories()
        assert {r["type"] for r in records} == {"decision", "reward", "memory"}  # the delete is a memory event


def test_concurrent_writes_lose_nothing(tmp_path, random_encoder):
    """``create_app(concurrent_writes=True)`` (``reme serve --concurrent-writes``): adds, updates, deletes and
    searches from 8 threads at once, with no first-come queue; every acknowledged add is listed once, each update
    and delete holds, and the workspace reopened agrees."""
    from concurrent.futures import ThreadPoolExecutor

    from reme.policy.write import HeuristicWritePolicy

    memory = Memory(tmp_path / "ws", encoder=random_encoder, write_policy=HeuristicWritePolicy())  # stores each
    app = create_app(tmp_path / "ws", memory=memory, concurrent_writes=True)
    with serve(app) as url:

        def work(worker: int) -> list[str]:
            ids = []
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(12):
                    added = http.post("/v1/memories", json={"content": f"w{worker} fact {i}", "target": "user:zoe"})
                    assert added.status_code == 200 and added.json()["stored"], added.text
                    ids.append(added.json()["memory"]["memory_id"])
                    found = http.post("/v1/search", json={"query": f"fact {i}", "target": "user:zoe"})
                    assert found.status_code == 200, found.text
                patched = http.patch(f"/v1/memories/{ids[0]}", json={"content": f"w{worker} fact 0, changed"})
                assert patched.status_code == 200, patched.text
                assert http.delete(f"/v1/memories/{ids[1]}").status_code == 200
            return ids

        with ThreadPoolExecutor(8) as pool:
            written = [ids for ids in pool.map(work, range(8))]
        with httpx.Client(base_url=url, timeout=30) as http:
            listed = http.get("/v1/memories", params={"target": "user:zoe"}).json()
    memory.close()
    kept = {i for ids in written for i in ids[:1] + ids[2:]}
    assert len(listed) == len({m["memory_id"] for m in listed}) == len(kept) == 8 * 11
    assert {m["memory_id"] for m in listed} == kept
    assert sum(m["content"].endswith("changed") for m in listed) == 8
    again = Memory(tmp_path / "ws", encoder=random_encoder)
    assert {n.memory_id for n in again.list("user:zoe")} == kept
    again.close()
