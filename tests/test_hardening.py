"""Tenant isolation and hardening of ``reme serve`` / ``reme mcp`` (issue 17): each numbered case of an attack run
by a token holder, tested over HTTP and MCP where both apply. ALICE holds ``[user:alice, task:alice-ops]``, BOB
``[user:bob, task:bob-ops]``, ADMIN ``*``. docs/reliability.md lists the threat model these tests hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from loopback import serve
from typer.testing import CliRunner

from reme.cli import app as cli
from reme.errors import BadInputError, ConflictError, NotFoundError, WorkspaceError
from reme.memory import Memory
from reme.policy.decision import Decision
from reme.policy.rewards import join_rewards
from reme.policy.trajectory import RewardEvent, read_records
from reme.retrieval.embedding import RandomEncoder
from reme.service import create_app, load_tokens

ALICE = "alice-token-5f1e0c7d9a"
BOB = "bob-token-7c2d9e4b1f3a"
ADMIN = "admin-token-0a9b8c7d6e5f"
TOKENS = {ALICE: ["user:alice", "task:alice-ops"], BOB: ["user:bob", "task:bob-ops"], ADMIN: ["*"]}
runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Memory]]:
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    try:
        with serve(create_app(tmp_path / "ws", TOKENS, memory=memory, rate_limit=None)) as url:
            yield url, memory
    finally:
        memory.close()


def client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=60)


def mcp_calls(memory: Memory, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run tool calls against the workspace's MCP server in process: ``{"error": text}`` or the result's JSON."""
    pytest.importorskip("mcp")
    from mcp import Client

    from reme.service.mcp_server import create_mcp_server

    server = create_mcp_server(memory.workspace.root, memory=memory)
    out: list[dict[str, Any]] = []

    async def run() -> None:
        async with Client(server) as session:
            for name, arguments in calls:
                data = (await session.call_tool(name, arguments)).model_dump(by_alias=True)
                if data["isError"]:
                    out.append({"error": " ".join(str(c.get("text", "")) for c in data["content"])})
                else:
                    out.append(dict(data.get("structuredContent") or json.loads(data["content"][0]["text"])))

    anyio.run(run)
    return out


def rewards(ws: Path) -> list[RewardEvent]:
    return [e.record for e in read_records(ws / "trajectories") if isinstance(e.record, RewardEvent)]


# ---------------------------------------------------------------------------------------------- 1, 2: ids
def test_1_an_upsert_never_moves_or_touches_another_targets_memory(served):
    url, memory = served
    bob = memory.add("Bob's door code is 4417.", "user:bob")
    assert bob is not None
    before = memory.get(bob.memory_id)
    hijack = {"workspace_id": "alice-ops", "memory_list": [{"content": "hijacked", "memory_id": bob.memory_id}]}
    r = client(url, ALICE).post("/add_task_memory", json=hijack)
    assert r.status_code == 409 and "user:bob" not in r.text and "4417" not in r.text
    assert memory.get(bob.memory_id) == before
    assert memory.list("task:alice-ops") == []
    # the library refuses it too, in one all-or-nothing batch; the owner may still upsert its own id
    with pytest.raises(ConflictError):
        memory.add_many([{"content": "fine", "target": "user:alice"}, {"content": "x", "memory_id": bob.memory_id}])
    assert memory.list("user:alice") == []
    assert memory.add("Bob's door code is 9921.", "user:bob", memory_id=bob.memory_id).memory_id == bob.memory_id
    # over MCP
    (result,) = mcp_calls(memory, [("add_task_memory", hijack)])
    assert "conflict" in result["error"] and memory.get(bob.memory_id).memory_target == "user:bob"
    # ids are keyed by the workspace: a guessed text does not give the id
    assert bob.memory_id != hashlib.sha256(b"user:bob\x00Bob's door code is 4417.").hexdigest()[:16]


def test_2_the_same_sentence_in_two_task_workspaces_is_two_memories(served):
    url, memory = served
    sentence = {"content": "Restart the API last when deploying."}
    for token, workspace in ((BOB, "bob-ops"), (ALICE, "alice-ops")):
        r = client(url, token).post("/add_task_memory", json={"workspace_id": workspace, "memory_list": [sentence]})
        assert r.status_code == 200, r.text
    (bob,), (alice,) = memory.list("task:bob-ops"), memory.list("task:alice-ops")
    assert bob.memory_id != alice.memory_id and bob.content == alice.content
    results = mcp_calls(
        memory, [("add_task_memory", {"workspace_id": w, "memory_list": [{"content": "Same."}]}) for w in ("a", "b")]
    )
    ids = [r["metadata"]["memory_list"][0]["memory_id"] for r in results]
    assert ids[0] != ids[1] and [n.content for n in memory.list("task:a")] == ["Same."]


# ---------------------------------------------------------------------------------------------- 3: dumps
def test_3_dumps_stay_in_their_task_workspace(served, tmp_path):
    url, memory = served
    alice, bob, admin = client(url, ALICE), client(url, BOB), client(url, ADMIN)
    bob.post("/add_task_memory", json={"workspace_id": "bob-ops", "memory_list": [{"content": "Bob's runbook."}]})
    assert bob.post("/dump_memory", json={"workspace_id": "bob-ops"}).json()["metadata"]["dumped"] == 1
    dump = tmp_path / "ws" / "dumps" / "bob-ops" / "bob-ops.jsonl"
    original = dump.read_bytes()
    # alice can neither load bob's dump nor overwrite it, by any relative name
    for name in ("bob-ops.jsonl", "bob-ops/bob-ops.jsonl", "../bob-ops/bob-ops.jsonl"):
        r = alice.post("/load_memory", json={"workspace_id": "alice-ops", "load_file_path": name})
        assert r.status_code == 422 and "runbook" not in r.text, name
        alice.post("/dump_memory", json={"workspace_id": "alice-ops", "dump_file_path": name})
    assert dump.read_bytes() == original and memory.list("task:alice-ops") == []
    # a dump copied into alice's folder (by the operator) loads as alice's own memories; bob's do not move
    (tmp_path / "ws" / "dumps" / "alice-ops").mkdir(exist_ok=True)
    (tmp_path / "ws" / "dumps" / "alice-ops" / "copy.jsonl").write_bytes(original)
    r = alice.post("/load_memory", json={"workspace_id": "alice-ops", "load_file_path": "copy.jsonl"})
    assert r.status_code == 200 and r.json()["metadata"]["loaded"] == 1
    (mine,), (his,) = memory.list("task:alice-ops"), memory.list("task:bob-ops")
    assert mine.memory_id != his.memory_id and his.content == "Bob's runbook."
    assert admin.post("/load_memory", json={"workspace_id": "x", "load_file_path": "a" * 301}).status_code == 422
    # over MCP: the same folders
    (climbed, nested, dumped) = mcp_calls(
        memory,
        [
            ("load_memory", {"workspace_id": "alice-ops", "load_file_path": "../bob-ops/bob-ops.jsonl"}),
            ("load_memory", {"workspace_id": "bob-ops-2", "load_file_path": "bob-ops.jsonl"}),
            ("dump_memory", {"workspace_id": "alice-ops", "dump_file_path": "bob-ops.jsonl"}),
        ],
    )
    assert "bad input" in climbed["error"] and "no dump file" in nested["error"]
    assert dumped["metadata"]["path"] == "bob-ops.jsonl" and len(memory.list("task:alice-ops")) == 1
    assert dump.read_bytes() == original


# -------------------------------------------------------------------------------------------- 4: rewards
def test_4_rewards_only_on_known_decisions_of_ones_own_targets_and_bounded(served, tmp_path):
    url, memory = served
    alice, bob = client(url, ALICE), client(url, BOB)
    bob.post("/add_task_memory", json={"workspace_id": "bob-ops", "memory_list": [{"content": "Bob's runbook."}]})
    found = bob.post("/retrieve_task_memory", json={"workspace_id": "bob-ops", "query": "runbook"}).json()
    bobs = found["metadata"]["decision_id"]
    attempts = {
        "record-foreign": alice.post(
            "/record_task_memory", json={"workspace_id": "alice-ops", "memory_list": [], "decision_id": bobs}
        ),
        "record-unknown": alice.post(
            "/record_task_memory", json={"workspace_id": "alice-ops", "memory_list": [], "decision_id": "f" * 32}
        ),
        "feedback-foreign": alice.post("/v1/feedback", json={"decision_id": bobs, "value": 1}),
        "feedback-unknown": bob.post("/v1/feedback", json={"decision_id": "e" * 32, "value": 1}),
    }
    assert {k: r.status_code for k, r in attempts.items()} == dict.fromkeys(attempts, 404)
    assert rewards(tmp_path / "ws") == []
    # bob rewards his own search (a scoped token may); fifty repeats join as one
    for _ in range(50):
        assert bob.post("/v1/feedback", json={"decision_id": bobs, "value": 1}).status_code == 200
    assert bob.post("/v1/feedback", json={"decision_id": bobs, "value": 50}).status_code == 422
    records = [e.record for e in read_records(tmp_path / "ws" / "trajectories") if e.record is not None]
    (sample,) = [s for s in join_rewards(records).samples if s.decision.decision_id == bobs]
    assert sample.rewards == 50 and sample.ret == pytest.approx(1.0)
    # over MCP
    out = mcp_calls(
        memory,
        [
            ("feedback", {"value": 1.0, "decision_id": "d" * 32}),
            ("record_task_memory", {"workspace_id": "alice-ops", "memory_list": [], "decision_id": bobs}),
            ("feedback", {"value": 1.0, "decision_id": bobs}),
        ],
    )
    assert "not found" in out[0]["error"] and "not found" in out[1]["error"] and out[2]["value"] == 1.0


def test_repeats_are_averaged_per_source_and_sources_add_up():
    d = Decision(kind="rank", policy="p", version="v", mode="sample", action=[0], logprob=-0.5, memory_ids=["m"])
    w = Decision(kind="write", policy="p", version="v", mode="sample", action="store", logprob=-0.1, memory_ids=["m"])
    events = [RewardEvent(reward_id=f"f{i}", decision_id=d.decision_id, value=1.0) for i in range(50)]
    events += [RewardEvent(reward_id="a", decision_id=d.decision_id, source="answer", value=0.5)]
    events += [RewardEvent(reward_id=f"t{i}", memory_id="m", source="task", value=float(i % 2)) for i in range(10)]
    returns = {s.decision.decision_id: s.ret for s in join_rewards([w, d, *events], gamma=1.0).samples}
    # w: the search's means through its top k (feedback 1, answer 0.5) plus the tasks' mean (ReMe's utility / freq)
    assert returns == pytest.approx({d.decision_id: 1.5, w.decision_id: 1.0 + 0.5 + 0.5})


# ----------------------------------------------------------------------------------- 5: policy poisoning
FACTS = [
    ("sister Mia lives in Toronto.", "Where does {n}'s sister live?"),
    ("drives a red Volvo estate.", "What car does {n} drive?"),
    ("is allergic to shellfish.", "What is {n} allergic to?"),
    ("plays the cello in a quartet.", "Which instrument does {n} play?"),
    ("has a dentist appointment on Friday at 9.", "When is {n}'s dentist appointment?"),
    ("adopted a beagle called Pixel.", "What is the name of {n}'s dog?"),
    ("works as a structural engineer.", "What is {n}'s job?"),
    ("loves mushroom risotto.", "What does {n} like to eat?"),
    ("ran the Berlin marathon in 2023.", "Which marathon did {n} run?"),
    ("is learning Portuguese on weekends.", "What language is {n} learning?"),
]


def test_5_a_flooding_tenant_cannot_buy_a_head_that_hurts_another(tmp_path, minilm, seed_style_cache):
    """Alice floods rewards that invert the ranking on her own target, ten times Bob's honest volume. Her rewards
    cannot reach Bob's decisions (case 4); training weighs targets equally; and the head trained on the log is
    refused at activation because it loses on Bob's slice, while a head that loses nowhere is served."""
    from reme.policy.rank import MLPRankPolicy
    from reme.settings import WorkspaceSettings
    from reme.train.logs import logged_rank_samples
    from reme.train.rank_ppo import PPOConfig, target_weights, train_ppo

    ws = tmp_path / "ws"
    memory = Memory(ws, encoder=minilm, settings=WorkspaceSettings(mode="sample"), seed=0)
    right: dict[tuple[str, str], str] = {}
    for name in ("Bob", "Alice"):
        for fact, question in FACTS:
            node = memory.add(f"{name} {fact}", f"user:{name.lower()}")
            assert node is not None
            right[(name, question.format(n=name))] = node.memory_id

    def top1(policy: Any, name: str) -> float:
        hits = [
            memory.search(q, 1, f"user:{name.lower()}", min_score=-1, policy=policy, mode="greedy")[0].memory.memory_id
            == mid
            for (who, q), mid in right.items()
            if who == name
        ]
        return float(np.mean(hits))

    assert top1(None, "Bob") == 1.0
    try:
        with serve(create_app(ws, TOKENS, memory=memory, rate_limit=None)) as url:
            alice, bob = client(url, ALICE), client(url, BOB)
            bobs_decisions = []
            for name, token, repeats, honest in (("Bob", bob, 4, True), ("Alice", alice, 40, False)):
                for _ in range(repeats):
                    for (who, question), mid in right.items():
                        if who != name:
                            continue
                        # limit 1: the reward (was the top hit right) is additive over the top-k set, as the
                        # gate's off-policy estimator assumes (reme.train.ope)
                        query = {"query": question, "limit": 1, "target": f"user:{who.lower()}", "min_score": -1}
                        out = token.post("/v1/search", json=query).json()
                        hit = out["results"][0]["memory_id"] == mid
                        token.post(
                            "/v1/feedback", json={"decision_id": out["decision_id"], "value": float(hit == honest)}
                        )
                        if who == "Bob":
                            bobs_decisions.append(out["decision_id"])
            for decision_id in bobs_decisions[:20]:  # what the attack did before: reward bob's decisions
                assert alice.post("/v1/feedback", json={"decision_id": decision_id, "value": 1}).status_code == 404
    finally:
        memory.close()

    samples = logged_rank_samples(ws)
    counts = {t: sum(s.target == t for s in samples) for t in ("user:bob", "user:alice")}
    assert counts == {"user:bob": 40, "user:alice": 400}
    weights = target_weights(samples)
    assert sum(w for w, s in zip(weights, samples) if s.target == "user:bob") == pytest.approx(0.5)

    memory = Memory(ws, encoder=minilm, settings=WorkspaceSettings(mode="sample"), seed=0)
    try:
        poisoned = train_ppo(samples, PPOConfig(steps=300, batch_samples=64, seed=0, eval_every=10**9)).policy
        assert top1(poisoned, "Bob") < 1.0  # the log's rewards do mislead a head trained on it
    finally:
        memory.close()
    poisoned.save(tmp_path / "poisoned")
    seed_style_cache(ws)  # the style gate's suite, built once per test run
    r = runner.invoke(cli, ["policy", "activate", str(tmp_path / "poisoned"), "-w", str(ws)])
    assert r.exit_code == 1 and "user:bob" in r.stderr and "LOSES" in r.stderr, r.stderr
    assert not (ws / "reme.yaml").exists() or "rank: heuristic" in (ws / "reme.yaml").read_text()

    sound = MLPRankPolicy(hidden=8, seed=0, init="heuristic", init_temperature=0.05)  # ReMe's fusion, as a head
    sound.save(tmp_path / "sound")
    r = runner.invoke(cli, ["policy", "activate", str(tmp_path / "sound"), "-w", str(ws)])
    assert r.exit_code == 0 and "LOSES" not in r.stderr, r.stderr
    r = runner.invoke(cli, ["policy", "activate", str(tmp_path / "poisoned"), "--force", "-w", str(ws)])
    assert r.exit_code == 0 and "forced" in r.stderr
    history = [json.loads(x) for x in (ws / "policies" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["forced"] is True and {t["target"] for t in history[-1]["gate"]["targets"]} == set(counts)
    assert not history[-2].get("forced")


# ---------------------------------------------------------------------------------------------- 6: oracle
def test_6_another_targets_ids_answer_exactly_as_missing_ones(served):
    url, memory = served
    bob = memory.add("Bob's door code is 4417.", "user:bob")
    decision, _ = memory.search_with_decision("door code", 5, "user:bob", min_score=-1)
    alice = client(url, ALICE)
    fake_memory, fake_decision = "0123456789abcdef", "0" * 32

    def probes(memory_id: str, decision_id: str) -> list[httpx.Response]:
        return [
            alice.get(f"/v1/memories/{memory_id}"),
            alice.patch(f"/v1/memories/{memory_id}", json={"content": "x"}),
            alice.delete(f"/v1/memories/{memory_id}"),
            alice.post("/v1/feedback", json={"memory_id": memory_id, "value": 1}),
            alice.post("/v1/feedback", json={"decision_id": decision_id, "value": 1}),
            alice.post("/record_task_memory", json={"workspace_id": "alice-ops", "memory_list": [memory_id]}),
        ]

    real = probes(bob.memory_id, decision.decision_id)
    fake = probes(fake_memory, fake_decision)
    for r, f in zip(real, fake):
        assert r.status_code == f.status_code == 404
        assert r.json()["detail"].replace(bob.memory_id, "?").replace(decision.decision_id, "?") == f.json()[
            "detail"
        ].replace(fake_memory, "?").replace(fake_decision, "?")
    assert memory.get(bob.memory_id).content == "Bob's door code is 4417."


# ---------------------------------------------------------------------------------------------- 7: tokens
def test_7_token_files_are_checked_at_start(tmp_path):
    cases = {
        "empty": "'': ['*']\n",
        "blank": "'  ': ['user:a']\n",
        "spaced": "'abc def ghi jkl mno': ['user:a']\n",
        "bad-target": "good-token-0123456789: ['user:a', 'nobody']\n",
        "not-a-list": "good-token-0123456789: 'user:a'\n",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(BadInputError):
            load_tokens(path)
        r = runner.invoke(cli, ["serve", "--token-file", str(path), "-w", str(tmp_path / "ws")])
        assert r.exit_code == 2 and "error:" in r.stderr, name
    (tmp_path / "ok.yaml").write_text("good-token-0123456789: ['user:a', '*']\n", encoding="utf-8")
    assert load_tokens(tmp_path / "ok.yaml") == {"good-token-0123456789": ["user:a", "*"]}


def test_7_a_token_without_targets_cannot_compact_and_no_header_is_no_token(tmp_path):
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    tokens = {"nothing-token-0123456789": [], ALICE: ["user:alice"]}
    messages = [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok " * 400}]
    body = {"messages": messages, "memory_compact_threshold": 10, "memory_compact_reserve": 50, "summarize": False}
    try:
        with serve(create_app(tmp_path / "ws", tokens, memory=memory, rate_limit=None)) as url:
            assert client(url, "nothing-token-0123456789").post("/v1/compact", json=body).status_code == 403
            assert client(url, None).post("/v1/compact", json=body).status_code == 401
            assert client(url, "").post("/v1/compact", json=body).status_code == 401
            mine = client(url, ALICE).post("/v1/compact", json={**body, "target": "user:alice"})
            assert mine.status_code == 200 and mine.json()["decision_id"]
            assert memory.decision(mine.json()["decision_id"]).target == "user:alice"
    finally:
        memory.close()


# ------------------------------------------------------------------------------------------------ 8: host
def test_8_a_server_without_tokens_answers_only_loopback_hosts(tmp_path):
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    try:
        with serve(create_app(tmp_path / "ws", None, memory=memory)) as url:
            port = url.rsplit(":", 1)[1]
            for host in ("attacker.example", f"attacker.example:{port}", "10.0.0.1", "127.evil.com"):
                assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 421, host
            posted = httpx.post(f"{url}/v1/memories", json={"content": "x"}, headers={"Host": "attacker.example"})
            assert posted.status_code == 421 and memory.count() == 0
            cross = httpx.post(f"{url}/v1/memories", json={"content": "x"}, headers={"Origin": "http://evil.example"})
            assert cross.status_code == 403 and memory.count() == 0
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
                assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 200, host
        with serve(create_app(tmp_path / "ws", TOKENS, memory=memory)) as url:  # with tokens any name is served
            assert client(url, ADMIN).get("/health", headers={"Host": "memory.example.com"}).status_code == 200
    finally:
        memory.close()


# ----------------------------------------------------------------------------------------- 9: short texts
SHORT = ["👍", "No.", "a b c", "I", "?", "🙂🙂", "x", "it is", "1", "ok", "yes!", "我"]


def test_9_targets_of_short_texts_search_by_vector(served, tmp_path):
    url, memory = served
    admin = client(url, ADMIN)
    for i, text in enumerate(SHORT):
        target = f"user:z{i}"
        assert memory.add(text, target) is not None
        hits = memory.search("anything at all", 5, target, min_score=-1)
        assert [h.memory.content for h in hits] == [text] and hits[0].keyword_score in (None, 0.0)
        r = admin.post("/v1/search", json={"query": "anything", "target": target, "min_score": -1})
        assert r.status_code == 200 and r.json()["results"][0]["content"] == text
    (found,) = mcp_calls(memory, [("search_memory", {"query": "anything", "target": "user:z0", "min_score": -1})])
    assert found["results"][0]["content"] == "👍"
    ws = str(tmp_path / "cli")
    assert runner.invoke(cli, ["-w", ws, "add", "👍", "-t", "user:z"]).exit_code == 0
    r = runner.invoke(cli, ["-w", ws, "search", "anything", "-t", "user:z", "--min-score", "-1"])
    assert r.exit_code == 0 and "👍" in r.stdout, r.output


# ------------------------------------------------------------------------------------ 10: malformed input
POSTS = ["/v1/memories", "/v1/search", "/v1/feedback", "/v1/compact", "/retrieve_task_memory", "/summary_task_memory",
         "/add_task_memory", "/record_task_memory", "/delete_task_memory", "/load_memory", "/dump_memory",
         "/retrieve_personal_memory", "/summary_personal_memory", "/add_tool_call_result", "/summary_tool_memory",
         "/retrieve_tool_memory", "/vector_store"]  # fmt: skip


def test_10_malformed_bodies_are_refused_not_crashes(served):
    url, memory = served
    admin = client(url, ADMIN)
    deep = {"content": "x", "metadata": {}}
    node: dict[str, Any] = deep["metadata"]  # type: ignore[assignment]
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    bodies = [
        ({}, b"\xff\xfe\xfd"),
        ({"content-type": "text/plain"}, b"\xff\xfe\xfd"),
        ({"content-type": "application/json"}, b'{"content": "\\ud800", "query": "\\udfff"}'),
        ({"content-type": "application/json"}, json.dumps(deep).encode()),
        ({"content-type": "application/json"}, b"[" * 100_000),
    ]
    for path in POSTS:
        for headers, body in bodies:
            r = admin.post(path, content=body, headers=headers)
            assert 400 <= r.status_code < 500, (path, headers, body[:20], r.status_code, r.text[:200])
    assert memory.count() == 0
    # the library and MCP refuse deep or unencodable metadata too
    with pytest.raises(BadInputError, match="nested deeper"):
        memory.add("x", metadata=deep["metadata"])
    out = mcp_calls(memory, [("add_memory", {"content": "x", "metadata": {"a": "\ud800"}}), ("add_memory", deep)])
    assert all("bad input" in o["error"] for o in out) and memory.count() == 0


def _serve_subprocess(ws: Path, port: int, *extra: str, nofile: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    process = subprocess.Popen(
        [sys.executable, "-m", "reme.cli", "serve", "--port", str(port), "-w", str(ws), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=limit,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("reme serve did not start")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's RSS from /proc")
def test_10_a_huge_chunked_body_is_refused_without_being_read(tmp_path):
    port = _free_port()
    process = _serve_subprocess(tmp_path / "ws", port)
    try:
        before = _rss_kib(process.pid)
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/memories HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n%s\r\n" % (1 << 20, b"a" * (1 << 20))
            try:
                while sent < 200 << 20:
                    sock.sendall(chunk)
                    sent += 1 << 20
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.settimeout(10)
            try:
                reply = sock.recv(200)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        assert sent < 200 << 20 or reply.startswith(b"HTTP/1.1 413"), (sent, reply)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply
        grown = _rss_kib(process.pid) - before
        assert grown < 64 * 1024, f"the server grew {grown} KiB reading a body it refuses"
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
    finally:
        process.kill()
        process.wait()


# ------------------------------------------------------------------------------------- 11: slow clients
def test_11_slow_clients_cannot_stop_the_service(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2400:
        pytest.skip(f"needs 2,400 open files for the attacker, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2400), hard))
    port = _free_port()
    process = _serve_subprocess(tmp_path / "ws", port, "--request-timeout", "3", nofile=1024)
    sockets = []
    try:
        for _ in range(1100):  # each sends half a request line and then nothing
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /health HT")
                sockets.append(s)
            except OSError:
                break
        deadline = time.monotonic() + 30
        served = False
        while time.monotonic() < deadline and not served:
            try:
                served = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert served, "the service stopped answering under 1,100 slow connections"
        assert process.poll() is None
    finally:
        for s in sockets:
            s.close()
        process.kill()
        process.wait()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _closed_after(port: int, seconds: float) -> bool:
    """Whether the server closes a connection that sent half a request line, within ``seconds``."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        s.sendall(b"GET /health HT")
        try:
            s.recv(100)  # end of file (or an answer): the server ended it
        except TimeoutError:
            return False
        except ConnectionResetError:
            pass
        return True


@pytest.mark.parametrize("command", ["serve", "mcp"])
def test_11_a_request_that_never_arrives_is_cut_off_over_http_and_mcp(tmp_path, command):
    pytest.importorskip("mcp")
    port = _free_port()
    extra = ["--transport", "http"] if command == "mcp" else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args = [sys.executable, "-m", "reme.cli", command, *extra, "--port", str(port), "--request-timeout", "2"]
    process = subprocess.Popen([*args, "-w", str(tmp_path / "ws")], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        started = time.monotonic()
        assert _closed_after(port, 15), "the half-sent request held its connection open"
        assert time.monotonic() - started >= 1.5  # closed by the deadline, not at once
    finally:
        process.kill()
        process.wait()


def test_11_one_address_cannot_take_every_connection(tmp_path):
    port = _free_port()
    process = _serve_subprocess(tmp_path / "ws", port, "--max-connections-per-client", "3", "--request-timeout", "60")
    try:
        slow = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /health HT")
            slow.append(s)
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert extra.recv(100).startswith(b"HTTP/1.1 503")
        slow.pop().close()
        time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).status_code == 200
        for s in slow:
            s.close()
    finally:
        process.kill()
        process.wait()


def test_11_a_long_batch_does_not_hold_another_callers_search(served):
    url, memory = served
    memory.add("Bob's door code is 4417.", "user:bob")
    items = [{"content": f"alice task note number {i} about the deploy"} for i in range(3000)]
    done: dict[str, float] = {}

    def batch() -> None:
        r = client(url, ALICE).post("/add_task_memory", json={"workspace_id": "alice-ops", "memory_list": items})
        assert r.status_code == 200, r.text
        done["batch"] = time.monotonic()

    thread = threading.Thread(target=batch)
    thread.start()
    while memory.count("task:alice-ops") == 0:  # the batch is being written
        time.sleep(0.005)
    r = client(url, BOB).post("/v1/search", json={"query": "door code", "target": "user:bob", "min_score": -1})
    done["search"] = time.monotonic()
    thread.join()
    assert r.status_code == 200 and r.json()["results"][0]["content"] == "Bob's door code is 4417."
    assert done["search"] < done["batch"], "the search waited for the whole batch"
    assert memory.count("task:alice-ops") == 3000


def test_11_each_token_is_rate_limited(tmp_path):
    memory = Memory(tmp_path / "ws", encoder=RandomEncoder(16))
    try:
        with serve(create_app(tmp_path / "ws", TOKENS, memory=memory, rate_limit=5)) as url:
            alice, bob = client(url, ALICE), client(url, BOB)
            codes = [
                alice.post("/v1/search", json={"query": "q", "target": "user:alice"}).status_code for _ in range(30)
            ]
            assert codes[:10] == [200] * 10 and 429 in codes
            limited = alice.post("/v1/search", json={"query": "q", "target": "user:alice"})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert bob.post("/v1/search", json={"query": "q", "target": "user:bob"}).status_code == 200
    finally:
        memory.close()


# ------------------------------------------------------------------------------------- 12: corrupt files
def _filled(ws: Path) -> None:
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        memory.add_many([f"memory {i} about the garden" for i in range(40)], "user:a")
        memory.search("garden", 5, "user:a")


def test_12_a_truncated_database_is_refused_not_served_empty(tmp_path):
    ws = tmp_path / "ws"
    _filled(ws)
    (ws / "reme.db").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (ws / f"reme.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(WorkspaceError, match=r"reme\.db is empty"):
        Memory(ws, encoder=RandomEncoder(16))
    for args in (["list"], ["search", "garden", "-t", "user:a"], ["add", "new text", "-t", "user:a"]):
        r = runner.invoke(cli, ["-w", str(ws), *args])
        assert r.exit_code == 1 and "lost or truncated" in r.stderr and "Traceback" not in r.output, args
    assert (ws / "reme.db").stat().st_size == 0  # nothing was written over it
    (ws / "reme.db").unlink()
    with pytest.raises(WorkspaceError, match="is missing"):
        Memory(ws, encoder=RandomEncoder(16))


def test_12_junk_in_the_database_is_a_clear_error(tmp_path):
    ws = tmp_path / "ws"
    _filled(ws)
    data = bytearray((ws / "reme.db").read_bytes())
    junk = np.random.default_rng(0).integers(0, 256, 16384, dtype=np.uint8).tobytes()
    data[4096 : 4096 + len(junk)] = junk
    (ws / "reme.db").write_bytes(bytes(data))
    for args in (["list"], ["search", "garden", "-t", "user:a"], ["add", "x", "-t", "user:b"]):
        r = runner.invoke(cli, ["-w", str(ws), *args])
        assert r.exit_code == 1 and "reme.db" in r.stderr and "corrupt" in r.stderr, (args, r.output)
        assert (".recover" in r.stderr and r.exception is None) or isinstance(r.exception, SystemExit)


def test_12_junk_in_the_embedding_cache_rebuilds_it(tmp_path):
    ws = tmp_path / "ws"
    _filled(ws)
    cache = ws / "embedding_cache" / "embeddings.db"
    cache.write_bytes(b"junk" * 4096)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        assert memory.add("a new memory", "user:a") is not None
        assert memory.search("garden", 5, "user:a")
    assert list((ws / "embedding_cache").glob("embeddings.db.corrupt-*"))
    r = runner.invoke(cli, ["-w", str(ws), "list", "--json", "-"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 41


def test_12_unbounded_and_deep_input_files_are_refused(tmp_path):
    ws = str(tmp_path / "ws")
    if Path("/dev/zero").exists():
        r = runner.invoke(cli, ["-w", ws, "add", "--file", "/dev/zero"])
        assert r.exit_code == 2 and "longer than" in r.stderr
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "x", "metadata": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}\n", encoding="utf-8")
    r = runner.invoke(cli, ["-w", ws, "add", "--file", str(deep)])
    assert r.exit_code == 2 and "nested" in r.stderr and "Traceback" not in r.output
    shallow = tmp_path / "shallow.jsonl"
    shallow.write_text('{"text": "x", "metadata": ' + '{"a": ' * 70 + "1" + "}" * 70 + "}\n", encoding="utf-8")
    r = runner.invoke(cli, ["-w", ws, "add", "--file", str(shallow)])
    assert r.exit_code == 2 and "nested deeper than 64" in r.stderr


# ------------------------------------------------------------------------------------ 13: checkpoints
def _crafted(directory: Path, config: Any = None, feature_spec: Any = "live", weights: str = "ok", **drop: Any) -> Path:
    """A rank checkpoint with a valid version hash, damaged in one way."""
    import torch

    from reme.policy.checkpoint import save_checkpoint
    from reme.policy.rank import MLPRankPolicy
    from reme.policy.rank_features import RANK_FEATURES

    policy = MLPRankPolicy(hidden=4)
    tensors = {k: v.clone() for k, v in policy.head.state_dict().items()}
    if weights != "ok":
        for t in tensors.values():
            t.fill_(float(weights))
    features = list(RANK_FEATURES) if feature_spec == "live" else feature_spec
    save_checkpoint(
        directory,
        kind="rank",
        policy="mlp-rank",
        feature_spec=features,
        config={"hidden": 4, "temperature": 1.0} if config is None else config,
        tensors=tensors,
    )
    spec = json.loads((directory / "policy.json").read_text())
    if drop.get("no_feature_spec"):
        from reme.policy.checkpoint import checkpoint_version

        del spec["feature_spec"]
        spec["version"] = checkpoint_version(spec, (directory / "policy.safetensors").read_bytes())
        (directory / "policy.json").write_text(json.dumps(spec))
    del torch
    return directory


CHECKPOINTS = {
    "config-list": {"config": [1, 2]},
    "no-feature-spec": {"no_feature_spec": True},
    "feature-spec-dict": {"feature_spec": {"a": 1}},
    "hidden-negative": {"config": {"hidden": -5, "temperature": 1.0}},
    "hidden-huge": {"config": {"hidden": 10**9, "temperature": 1.0}},
    "hidden-text": {"config": {"hidden": "abc", "temperature": 1.0}},
    "weights-nan": {"weights": "nan"},
    "weights-huge": {"weights": "1e38"},
    "temperature-zero": {"config": {"hidden": 4, "temperature": 0}},
    "temperature-nan": {"config": {"hidden": 4, "temperature": float("nan")}},
    "wrong-features": {"feature_spec": ["a", "b", "c"]},
}


def test_13_bad_checkpoints_are_refused_at_activation_and_evaluation(tmp_path):
    ws = tmp_path / "ws"
    _filled(ws)
    data = tmp_path / "synthetic.json"
    assert runner.invoke(cli, ["datasets", "synth", "--out", str(data), "--conversations", "1"]).exit_code == 0

    def registered() -> set[str]:  # the shipped defaults a workspace registers when it opens are there already
        root = ws / "policies"
        return {p.name for p in root.iterdir() if p.is_dir()} if root.exists() else set()

    before = registered()
    for name, damage in CHECKPOINTS.items():
        directory = _crafted(tmp_path / name, **damage)
        r = runner.invoke(cli, ["policy", "activate", str(directory), "-w", str(ws)])
        assert r.exit_code == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, (name, r.output)
        assert "Traceback" not in r.output, name
        r = runner.invoke(cli, ["eval", "retrieval", "--dataset", str(data), "--policy", str(directory)])
        assert r.exit_code == 2 and "Traceback" not in r.output, (name, r.output)
    assert registered() == before  # no refused checkpoint was copied into the registry
    with Memory(ws, encoder=RandomEncoder(16)) as memory:  # the workspace still serves what it served
        assert memory.search("garden", 3, "user:a")


# ------------------------------------------------------------------------------------------- 14: health
def test_14_health_without_a_token_shows_only_the_status(served):
    url, _ = served
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert client(url, ALICE).get("/health").json() == {"status": "ok"}
    full = client(url, ADMIN).get("/health").json()
    assert full["status"] == "ok" and "workspace" in full and "memories" in full


# ------------------------------------------------------------------------------------- the decision index
def test_the_decision_index_follows_rewrites_and_pruning(tmp_path):
    from reme.forget import forget

    ws = tmp_path / "ws"
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        memory.add("Bob's door code is 4417.", "user:bob")
        first, _ = memory.search_with_decision("door", 3, "user:bob")
        assert memory.decision(first.decision_id).target == "user:bob"
        forget(memory, target="user:bob")  # rewrites the segment: the index reads it again
        assert memory.decision(first.decision_id).kind == "rank"
        second, _ = memory.search_with_decision("door", 3, "user:bob")
        assert memory.decision(second.decision_id).target == "user:bob"
        with pytest.raises(NotFoundError):
            memory.decision("no-such-decision")
    (ws / "index" / "decisions.db").write_bytes(b"junk" * 100)  # derived: rebuilt from the log
    with Memory(ws, encoder=RandomEncoder(16)) as memory:
        assert memory.decision(second.decision_id).target == "user:bob"
