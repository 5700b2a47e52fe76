"""Metadata filters on search (issue 24.12): Python, CLI, HTTP and the client. A filter narrows the candidates before
the ranking decision, and each side searches the matching memories exactly, so a narrow filter finds its best
match however many other memories crowd the unfiltered ranking."""

from __future__ import annotations

import json

import httpx
import pytest
from loopback import serve
from typer.testing import CliRunner

from reme.cli import app
from reme.errors import BadInputError
from reme.memory import Memory
from reme.policy.decision import Decision
from reme.policy.trajectory import read_records
from reme.settings import PolicySettings, WorkspaceSettings

runner = CliRunner()
STORE_ALL = WorkspaceSettings(policies=PolicySettings(write="heuristic"))


def _crowded(mem: Memory) -> str:
    """300 memories about pizza in session s1, one in s2 (worse worded), a few more in s3; returns the s2 id."""
    mem.add_many(
        [{"content": f"Dana ate pizza number {i} with extra cheese at the pizza place", "metadata": {"session": "s1",
          "year": 2024, "done": i % 2 == 0}} for i in range(300)],
        "user:dana",
    )  # fmt: skip
    (only,) = mem.add_many(
        [{"content": "pizza came up once", "metadata": {"session": "s2", "year": 2023}}], "user:dana"
    )
    mem.add_many(
        [{"content": f"pizza note {i}", "metadata": {"session": "s3", "year": 2025}} for i in range(3)], "user:dana"
    )
    return only.memory_id


def test_a_narrow_filter_finds_its_best_match_in_a_crowded_target(tmp_path, minilm):
    with Memory(tmp_path / "ws", encoder=minilm, settings=STORE_ALL) as mem:
        only = _crowded(mem)
        unfiltered = mem.search("pizza with extra cheese", limit=5, target="user:dana", min_score=0.0)
        assert only not in [h.memory.memory_id for h in unfiltered]  # crowded out without a filter
        decision, hits = mem.search_with_decision(
            "pizza with extra cheese", limit=5, target="user:dana", min_score=0.0, filters={"session": "s2"}
        )
        assert [h.memory.memory_id for h in hits] == [only]
        assert decision.extra["filters"] == {"session": ["s2"]} and len(decision.memory_ids) == 1
        # one of a list; numbers; booleans; every key must match
        hits = mem.search("pizza", limit=10, target="user:dana", min_score=0.0, filters={"session": ["s2", "s3"]})
        assert {h.memory.metadata["session"] for h in hits} == {"s2", "s3"} and len(hits) == 4
        hits = mem.search("pizza", limit=10, target="user:dana", min_score=0.0, filters={"year": 2025})
        assert len(hits) == 3 and all(h.memory.metadata["year"] == 2025 for h in hits)
        both = {"session": "s1", "done": False}
        hits = mem.search("pizza", limit=10, target="user:dana", min_score=0.0, filters=both)
        assert len(hits) == 10 and all(not h.memory.metadata["done"] for h in hits)
        assert mem.search("pizza", target="user:dana", filters={"session": "nowhere"}) == []
        assert mem.search("pizza", target="user:other", filters={"session": "s2"}) == []  # another target's
        # batched queries take the filter too
        batches = mem.search_many(["pizza", "cheese"], limit=3, target="user:dana", filters={"session": "s3"})
        assert [len(b) for b in batches] == [3, 3]
        assert all(h.memory.metadata["session"] == "s3" for b in batches for h in b)
        # a deleted memory is not a candidate even though its row was matched a moment before
        mem.delete(only)
        assert mem.search("pizza", target="user:dana", min_score=0.0, filters={"session": "s2"}) == []
        # bad filters are refused, naming the problem
        for bad, needle in (
            ("session=s2", "must be an object"),
            ({"": "x"}, "filter key"),
            ({'se"ssion': "x"}, "filter key"),
            ({"session": []}, "empty list"),
            ({"session": {"$in": ["s2"]}}, "strings, numbers or booleans"),
            ({"year": float("nan")}, "strings, numbers or booleans"),
        ):
            with pytest.raises(BadInputError, match=needle):
                mem.search("pizza", target="user:dana", filters=bad)  # type: ignore[arg-type]
    logged = [e.record for e in read_records(tmp_path / "ws" / "trajectories") if isinstance(e.record, Decision)]
    assert any(r.extra.get("filters") == {"session": ["s2"]} for r in logged)
    assert runner.invoke(app, ["trajectories", "verify", "-w", str(tmp_path / "ws")]).exit_code == 0


def test_filters_from_the_cli(tmp_path):
    ws = str(tmp_path / "ws")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "reme.yaml").write_text("policies:\n  write: heuristic\n", encoding="utf-8")
    for text, session, year in (("Ana likes tea", "s1", "2024"), ("Ana likes green tea", "s2", "2025")):
        r = runner.invoke(app, ["-w", ws, "add", text, "--meta", f"session={session}", "--meta", f"year={year}"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["-w", ws, "search", "tea", "--filter", "session=s2", "--json", "-", "--min-score", "0"])
    assert r.exit_code == 0, r.output
    results = json.loads(r.stdout)["results"]
    assert [x["content"] for x in results] == ["Ana likes green tea"] and results[0]["metadata"]["year"] == 2025
    r = runner.invoke(app, ["-w", ws, "search", "tea", "--filter", "year=2024", "--filter", "year=2025", "--json", "-",
                            "--min-score", "0"])  # fmt: skip
    assert r.exit_code == 0 and len(json.loads(r.stdout)["results"]) == 2
    r = runner.invoke(app, ["-w", ws, "search", "tea", "--filter", "session"])
    assert r.exit_code == 2 and "KEY=VALUE" in r.output


def test_filters_over_http_and_the_client(tmp_path, random_encoder):
    from reme.client import ReMeClient
    from reme.service import create_app

    memory = Memory(tmp_path / "ws", encoder=random_encoder, settings=STORE_ALL)
    app_ = create_app(tmp_path / "ws", {"tok": ["*"]}, memory=memory)
    try:
        with serve(app_) as url:
            http = httpx.Client(base_url=url, headers={"Authorization": "Bearer tok"})
            for text, session in (("Bo plays chess", "s1"), ("Bo plays chess on Sundays", "s2")):
                body = {"content": text, "target": "user:bo", "metadata": {"session": session}}
                assert http.post("/v1/memories", json=body).status_code == 200
            query = {"query": "chess", "target": "user:bo", "min_score": -1, "filters": {"session": "s1"}}
            found = http.post("/v1/search", json=query).json()
            assert [r["content"] for r in found["results"]] == ["Bo plays chess"]
            # a misspelt field is refused, not ignored; so is a bad filter
            assert http.post("/v1/search", json={"query": "chess", "filter": {"session": "s1"}}).status_code == 422
            bad = http.post("/v1/search", json={"query": "chess", "target": "user:bo", "filters": {"session": []}})
            assert bad.status_code in (400, 422) and "empty list" in bad.text
            client = ReMeClient(url, token="tok")
            hits = client.search("chess", target="user:bo", min_score=-1, filters={"session": ["s2"]})
            assert [h.memory.content for h in hits] == ["Bo plays chess on Sundays"]
    finally:
        memory.close()


def test_agent_scope_and_sessions_as_a_slice_of_the_user(tmp_path, random_encoder):
    """``agent:NAME`` is a target beside ``user:NAME``; a session is its memories' ``session_id``: one search covers
    every session of the user, a filter one of them (issue 24.13)."""
    with Memory(tmp_path / "ws", encoder=random_encoder, settings=STORE_ALL) as mem:
        mem.add("Prefers terse plans", "agent:planner")
        for session, text in (("s1", "Cleo booked a flight to Oslo"), ("s2", "Cleo booked a hotel in Oslo")):
            mem.add(text, "user:cleo", metadata={"session_id": session})
        assert [n.content for n in mem.list("agent:planner")] == ["Prefers terse plans"]
        everything = mem.search("Cleo booked Oslo", limit=5, target="user:cleo", min_score=-1.0)
        assert {h.memory.metadata["session_id"] for h in everything} == {"s1", "s2"}
        one = mem.search("Cleo booked Oslo", target="user:cleo", min_score=-1.0, filters={"session_id": "s2"})
        assert [h.memory.content for h in one] == ["Cleo booked a hotel in Oslo"]
        assert mem.search("terse", target="user:cleo", min_score=-1.0, filters={"session_id": "s9"}) == []
        with pytest.raises(BadInputError, match="agent:NAME"):
            mem.add("x", "session:s1")


def test_embedding_and_retrieval_settings_live_in_reme_yaml(tmp_path, random_encoder, monkeypatch):
    """Issue 24.17: reme.yaml holds the encoder and the retrieval settings beside the policies; the environment
    overrides the file, an argument overrides both, and a misspelt key is an error naming it."""
    from reme.config import RetrievalConfig
    from reme.errors import WorkspaceError

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "reme.yaml").write_text(
        "embedding:\n  batch_size: 8\nretrieval:\n  min_score: 0.4\n  vector_weight: 0.5\n", encoding="utf-8"
    )
    with Memory(ws, encoder=random_encoder) as mem:
        assert mem.embedding.batch_size == 8
        assert (mem.retrieval.min_score, mem.retrieval.vector_weight) == (0.4, 0.5)
    monkeypatch.setenv("REME_RETRIEVAL__MIN_SCORE", "0.25")
    with Memory(ws, encoder=random_encoder) as mem:
        assert mem.retrieval.min_score == 0.25
    with Memory(ws, encoder=random_encoder, retrieval=RetrievalConfig(min_score=0.0)) as mem:
        assert mem.retrieval.min_score == 0.0
    monkeypatch.delenv("REME_RETRIEVAL__MIN_SCORE")
    (ws / "reme.yaml").write_text("retrieval:\n  min_scor: 0.4\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"retrieval\.min_scor"):
        Memory(ws, encoder=random_encoder)
