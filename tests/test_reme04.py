"""ReMe 0.4.x's application face: ``ReMe(**config)``, ``run_job``, ``update_component``, the jobs, the decisions.

The LLM is a scripted OpenAI-compatible server (``tests/scripted_openai_server.py``) reached through the
application's own ``as_llm`` config (``model`` and ``credential.base_url``), so the tool loop runs this project's
OpenAI client with native tool calls. QwenPaw 2.x driving the same face is ``tests/test_hosts.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scripted_openai_server import ScriptedOpenAIServer

import reme
from reme import ReMe
from reme.application import Application, Response
from reme.config import parse_action, parse_kwargs
from reme.policy.audit import verify
from reme.policy.rank import RankState, RRFRankPolicy
from reme.policy.rank_features import RANK_FEATURES
from reme.policy.trajectory import read_records


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def app_for(root: Path, server: ScriptedOpenAIServer | None = None, **extra: Any) -> Application:
    llm = {"backend": "openai", "model": "scripted-model"}
    if server is not None:
        llm["credential"] = {"api_key": "", "base_url": server.base_url}
    components = {
        "as_llm": {"default": llm},
        "file_store": {"default": {"backend": "local"}},
        "embedding_store": {"default": {"backend": "local"}},
    }
    app = ReMe(workspace_dir=str(root / "ws"), daily_dir="memory", timezone="UTC", components=components, **extra)
    assert isinstance(app, Application)
    return app


def logged(app: Application) -> list[Any]:
    root = app.component("file_store").index_dir
    return [e.record for e in read_records(root / "trajectories") if e.record is not None]


MESSAGES = [
    {"role": "user", "name": "user", "content": "I prefer green tea over coffee.", "id": "m1",
     "created_at": "2026-05-18T10:00:00"},
    {"role": "assistant", "name": "assistant", "content": [{"type": "text", "text": "Noted."},
                                                           {"type": "tool_result", "id": "t", "output": "x"}],
     "id": "m2", "created_at": "2026-05-18T10:00:05"},
]  # fmt: skip


def write_call(server: ScriptedOpenAIServer, name: str = "tea-preference") -> None:
    server.call_tool("daily_write", {"name": name, "description": "Prefers green tea",
                                     "content": "- The user prefers green tea over coffee."})  # fmt: skip
    server.say("Saved the tea preference.")


# ------------------------------------------------------------------------------------------------ the face
def test_version_gate_and_api_gate_as_qwenpaw_checks_them():
    from reme.components.file_store import LocalFileStore

    assert reme.__version__ == "0.4.1.11" and reme.__version__ == reme.REME_API_VERSION
    assert reme.__project_version__ != reme.__version__
    for name in ("run_job", "update_component"):
        assert callable(getattr(ReMe, name))
    for name in ("require_embedding_rebuild", "reindex", "resume_embedding"):
        assert callable(getattr(LocalFileStore, name))
    assert parse_action("--search") == "search"
    assert parse_kwargs("query=green tea", "limit=5", "min_score=0.5", "flag=true", "service.port=2333") == {
        "query": "green tea", "limit": 5, "min_score": 0.5, "flag": True, "service": {"port": 2333},
    }  # fmt: skip
    with pytest.raises(ValueError, match="key=value"):
        parse_kwargs("limit")
    with pytest.raises(ValueError, match="action"):
        parse_action("query=x")


def test_reme_keeps_its_0_3_face_without_0_4_keys(tmp_path):
    from reme.vector import ReMe as VectorReMe

    old = ReMe(working_dir=str(tmp_path / "v"))
    assert isinstance(old, VectorReMe)
    with pytest.raises(reme.errors.BadInputError, match=r"0\.4"):
        run(old.run_job("search", query="x"))


def test_update_component_sets_gets_and_refuses(tmp_path):
    app = app_for(tmp_path)

    async def go() -> None:
        store = await app.update_component("file_store", "default")
        assert store is app.component("file_store")
        marker = object()
        llm = await app.update_component("as_llm", "default", model=marker)
        assert llm.model is marker
        emb = await app.update_component("embedding_store", "default", enable_cache=False, max_cache_size=5,
                                         max_input_length=100, max_batch_size=2, health_check_timeout=1.0)  # fmt: skip
        assert emb.enable_cache is False and emb.max_batch_size == 2  # the keys QwenPaw sets all exist
        with pytest.raises(KeyError, match="not found"):
            await app.update_component("as_llm", "other", model=marker)
        with pytest.raises(AttributeError, match="no attribute"):
            await app.update_component("as_llm", "default", no_such_setting=1)
        with pytest.raises(KeyError, match="Job 'nope' not found"):
            await app.run_job("nope")

    run(go())


def test_plugin_jobs_do_not_stop_the_application(tmp_path):
    jobs = {"search": {"backend": "base", "steps": [{"backend": "search_step"}]},
            "daily_paper": {"backend": "base", "steps": [{"backend": "daily_paper_collect_step"}]}}  # fmt: skip
    app = ReMe(workspace_dir=str(tmp_path / "ws"), plugins=["auto-fin", "daily-paper"], jobs=jobs)

    async def go() -> Response:
        async with app:
            assert app.is_started
            return await app.run_job("daily_paper", date="")

    response = run(go())
    assert not response.success and "reme-daily-paper" in response.answer
    assert not app.is_started


# ------------------------------------------------------------------------------------------------ auto_memory
def test_auto_memory_writes_the_session_note_then_updates_it(tmp_path):
    with ScriptedOpenAIServer() as server:
        app = app_for(tmp_path, server)
        write_call(server)

        async def first() -> Response:
            await app.start()
            return await app.run_job("auto_memory", messages=MESSAGES, session_id="s1", memory_hint="")

        response = run(first())
        assert response.success, response.answer
        meta = response.metadata
        assert meta["date"] == "2026-05-18" and meta["path"] == "memory/2026-05-18/tea-preference.md"
        assert meta["created"] and meta["modified"] and meta["n_messages"] == 2
        note = (app.workspace_path / meta["path"]).read_text(encoding="utf-8")
        assert note == (
            "---\ndescription: Prefers green tea\nname: tea-preference\nsession_id: s1\n"
            "source_conversation: '[[session/dialog/s1.jsonl]]'\n---\n\n- The user prefers green tea over coffee.\n"
        )
        transcript = (app.workspace_path / "session/dialog/s1.jsonl").read_text().splitlines()
        assert [json.loads(line)["id"] for line in transcript] == ["m1", "m2"]
        assert all(b["type"] != "tool_result" for line in transcript for b in json.loads(line)["content"])
        index = (app.workspace_path / "memory/2026-05-18.md").read_text(encoding="utf-8")
        assert "description: 1 note(s) today." in index and "[[memory/2026-05-18/tea-preference.md]]" in index
        # the request: daily_write offered natively, session_id and date injected (not the model's to choose)
        tools = server.requests[0]["tools"]
        assert [t["function"]["name"] for t in tools] == ["daily_write"]
        assert "session_id" not in tools[0]["function"]["parameters"]["properties"]
        # the second run updates the same note (read, edit confined to it), merging the transcript
        server.call_tool("read", {"path": meta["path"]})
        server.call_tool("edit", {"path": meta["path"], "old": "over coffee.", "new": "over coffee, no sugar."})
        server.call_tool("write", {"path": "memory/2026-05-18/elsewhere.md", "content": "x"})
        server.say("Updated.")
        later = [*MESSAGES, {"role": "user", "name": "user", "content": "No sugar, please.", "id": "m3",
                             "created_at": "2026-05-18T11:00:00"}]  # fmt: skip

        async def second() -> Response:
            response = await app.run_job("auto_memory", messages=later, session_id="s1")
            await app.close()
            return response

        response = run(second())
        assert response.success and response.metadata["modified"] and not response.metadata["created"]
        assert [t["function"]["name"] for t in server.requests[2]["tools"]] == [
            "read", "edit", "frontmatter_update", "write",
        ]  # fmt: skip
        assert "no sugar" in (app.workspace_path / meta["path"]).read_text(encoding="utf-8")
        assert not (app.workspace_path / "memory/2026-05-18/elsewhere.md").exists()  # outside what it may touch
        assert len((app.workspace_path / "session/dialog/s1.jsonl").read_text().splitlines()) == 3
    writes = [d for d in logged(app) if getattr(d, "policy", "") == "llm-auto-memory"]
    assert len(writes) == 2 + 4  # each model output is one decision: a call (or calls) or the final answer
    assert writes[0].action == {"tool_calls": [{"tool": "daily_write", "arguments": {
        "name": "tea-preference", "description": "Prefers green tea",
        "content": "- The user prefers green tea over coffee."}, "success": True}]}  # fmt: skip
    calls = [c for d in writes if isinstance(d.action, dict) for c in d.action["tool_calls"]]
    assert [c["tool"] for c in calls if not c["success"]] == ["write"]  # the write outside the note was refused


def test_auto_memory_refuses_bad_input_in_its_response(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)  # no LLM from the environment either
    app = app_for(tmp_path)

    async def go() -> list[Response]:
        async with app:
            return [
                await app.run_job("auto_memory", messages=MESSAGES, session_id=""),
                await app.run_job("auto_memory", messages=MESSAGES, session_id="a/b"),
                await app.run_job("auto_memory", messages=MESSAGES, session_id="s", date="May 18"),
                await app.run_job("auto_memory", messages=[], session_id="s"),
                await app.run_job("auto_memory", messages=MESSAGES, session_id="s"),  # no LLM configured
            ]

    empty, bad, date, none, no_llm = run(go())
    assert not empty.success and empty.answer == "Error: session_id is required"
    assert not bad.success and "session_id" in bad.answer
    assert not date.success and date.answer == "Error: date must be YYYY-MM-DD"
    assert none.success and none.answer == "Skipped: no messages" and none.metadata["modified"] is False
    assert not no_llm.success and "no LLM" in no_llm.answer


# ------------------------------------------------------------------------------------------------ search
def _state(cos: list[float], kw: list[float], in_dense: list[int], in_kw: list[int]) -> RankState:
    features = np.zeros((len(cos), len(RANK_FEATURES)), dtype=np.float32)
    for name, values in (("cosine", cos), ("bm25_norm", kw), ("in_dense", in_dense), ("in_keyword", in_kw)):
        features[:, RANK_FEATURES.index(name)] = values
    return RankState(features, len(cos), [f"m{i}" for i in range(len(cos))])


def test_rrf_policy_is_reme_0_4s_fusion():
    policy = RRFRankPolicy()
    state = _state([0.9, 0.5, 0.0, 0.7], [0.1, 1.0, 0.8, 0.0], [1, 1, 0, 1], [1, 1, 1, 0])
    scores = policy.scores(state)
    # dense ranks: 0 -> 1, 3 -> 2, 1 -> 3; keyword ranks: 1 -> 1, 2 -> 2, 0 -> 3
    expected = [0.7 / 61 + 0.3 / 63, 0.7 / 63 + 0.3 / 61, 0.3 / 62, 0.7 / 62]
    assert np.allclose(scores, expected)
    assert policy.decide(state, "greedy").action == [0, 1, 3, 2]  # found by both sides beats one rank-2 side
    only_dense = _state([0.2, 0.6], [0, 0], [1, 1], [0, 0])
    assert np.allclose(policy.scores(only_dense), [0.2, 0.6])  # one side: its raw scores, as ReMe
    decision = policy.decide(state, "sample", np.random.default_rng(0))
    assert decision.logprob == pytest.approx(policy.logprob(state, decision.action))


def test_search_is_a_logged_rank_decision_and_a_read_rewards_it(tmp_path):
    app = app_for(tmp_path)
    root = app.workspace_path
    (root / "memory/2026-05-18").mkdir(parents=True)
    (root / "memory/2026-05-18/tea.md").write_text("---\nname: tea\n---\n\nThe user prefers green tea.\n")
    (root / "memory/2026-05-18/car.md").write_text("The user drives a red car to work.\n")
    (root / "digest/wiki").mkdir(parents=True)
    (root / "digest/wiki/tea.md").write_text("Green tea is brewed at 80 degrees. See [[memory/2026-05-18/tea.md]]\n")

    async def go() -> tuple[Response, Response, Response, Response]:
        async with app:
            found = await app.run_job("search", query="green tea", limit=2, min_score=0.0)
            empty = await app.run_job("search", query="  ")
            read = await app.run_job("read", path=found.metadata["results"][0]["path"])
            dated = await app.run_job("search", query="tea", limit=5, start_date="2026-05-18", strict_date_filter=True)
            wiki = await app.run_job("search", query="tea", search_filter={"path_prefix": "digest/"})
            dated_paths = [r["path"] for r in dated.metadata["results"]]
            assert "memory/2026-05-18/tea.md" in dated_paths
            assert all(p.startswith("memory/2026-05-18/") for p in dated_paths)  # not the undated digest note
            assert {r["path"] for r in wiki.metadata["results"]} == {"digest/wiki/tea.md"}
            late = await app.run_job("search", query="tea", end_date="2026-01-01", strict_date_filter=True)
            assert late.success and late.metadata["results"] == []
            (root / "memory/2026-05-18/car.md").unlink()  # the index follows the files
            after = await app.run_job("search", query="red car", limit=5)
            return found, empty, read, after

    found, empty, read, after = run(go())
    assert found.success and found.metadata["policy"] == "heuristic-rrf"
    results = found.metadata["results"]
    assert len(results) == 2 and {r["path"] for r in results} == {"memory/2026-05-18/tea.md", "digest/wiki/tea.md"}
    assert set(results[0]) >= {"id", "text", "path", "start_line", "end_line", "scores"}
    first = results[0]
    header = f"========== {first['path']}:{first['start_line']}-{first['end_line']} [score="
    assert found.answer.startswith(header) and " vector=" in found.answer.splitlines()[0]
    assert found.metadata["counts"]["returned"] == 2 and found.metadata["counts"]["hybrid"]
    assert found.metadata["link_expansion"]["digest/wiki/tea.md"]["outlinks"] == ["memory/2026-05-18/tea.md"]
    assert not empty.success and empty.answer == "Error: query cannot be empty"
    assert read.success and read.metadata["rewarded"] == 1
    assert all("car.md" not in r["path"] for r in after.metadata["results"])
    records = logged(app)
    ranks = [d for d in records if getattr(d, "kind", "") == "rank"]
    assert ranks[0].decision_id == found.metadata["decision_id"] and ranks[0].logprob is not None
    rewards = [r for r in records if r.type == "reward"]
    assert [(r.decision_id, r.source, r.value) for r in rewards] == [(found.metadata["decision_id"], "used", 1.0)]
    assert verify(app.component("file_store").index_dir).ok


# ------------------------------------------------------------------------------------------------ file jobs
def test_file_jobs_answer_as_reme_and_keep_to_the_workspace(tmp_path):
    app = app_for(tmp_path)

    async def go() -> dict[str, Response]:
        out = {}
        async with app:
            out["write"] = await app.run_job(
                "write", path="digest/wiki/tea", name="tea", description="Tea facts", content="Green tea.\n",
                metadata={"z": 1, "name": "x"},
            )  # fmt: skip
            out["again"] = await app.run_job("write", path="digest/wiki/tea.md", content="Green tea.\n")
            out["edit"] = await app.run_job("edit", path="digest/wiki/tea.md", old="Green", new="Sencha")
            out["missing"] = await app.run_job("edit", path="digest/wiki/tea.md", old="Oolong", new="x")
            out["fm"] = await app.run_job("frontmatter_update", path="digest/wiki/tea.md", metadata={"a": "b"})
            out["fm_read"] = await app.run_job("frontmatter_read", path="digest/wiki/tea.md")
            out["escape"] = await app.run_job("read", path="../outside.md")
            out["abs"] = await app.run_job("write", path="/etc/passwd", content="x")
            out["bad"] = await app.run_job("write", path="digest/a:b.md", content="x")
            out["range"] = await app.run_job("read", path="digest/wiki/tea.md", start_line=99)
            out["daily"] = await app.run_job("daily_write", name="n1", description="d", session_id="s9",
                                             content="body", date="2026-01-02")  # fmt: skip
            out["list"] = await app.run_job("daily_list", date="2026-01-02")
            out["move"] = await app.run_job(
                "move", src_path="memory/2026-01-02/n1.md", dst_path="digest/personal/n1.md"
            )
            out["ls"] = await app.run_job("list", path="digest", recursive=True)
            out["delete"] = await app.run_job("delete", path="digest/personal/n1.md")
        return out

    out = run(go())
    assert out["write"].answer.startswith("Wrote ") and "overwritten" not in out["write"].answer
    assert "[system notice: target already existed and was overwritten]" in out["again"].answer
    assert out["edit"].answer.startswith("Replaced 1 occurrence(s)") and not out["missing"].success
    assert out["fm_read"].metadata["frontmatter"] == {"a": "b"}
    for key in ("escape", "abs", "bad", "range"):
        assert not out[key].success and out[key].answer.startswith("Error:"), key
    assert "exceeds file length" in out["range"].answer
    assert out["daily"].metadata["path"] == "memory/2026-01-02/n1.md"
    assert out["list"].metadata["count"] == 1 and out["list"].metadata["notes"][0]["session_id"] == "s9"
    day_index = app.workspace_path / "memory/2026-01-02.md"
    assert out["move"].metadata["retargeted"] == 1 and "[[digest/personal/n1.md]]" in day_index.read_text()
    assert "digest/personal/n1.md" in out["ls"].answer
    assert out["delete"].success and not (app.workspace_path / "digest/personal/n1.md").exists()


# ------------------------------------------------------------------------------------------------ auto_dream
def test_auto_dream_consolidates_changed_notes_once(tmp_path):
    with ScriptedOpenAIServer() as server:
        app = app_for(tmp_path, server)
        root = app.workspace_path
        (root / "memory/2026-05-18").mkdir(parents=True)
        (root / "memory/2026-05-18/tea.md").write_text("- The user prefers green tea.\n")
        units = {"units": [{"name": "Tea", "bucket": "personal", "summary": "Prefers green tea.",
                            "paths": ["memory/2026-05-18/tea.md"]}],
                 "topics": [{"title": "Tea", "reason": "likes tea", "keywords": ["tea"]}]}  # fmt: skip
        server.say("not json at all")
        server.say("Here:\n```json\n" + json.dumps(units) + "\n```")

        async def go() -> tuple[Response, Response, Response]:
            async with app:
                dream = await app.run_job("auto_dream", date="2026-05-18")
                again = await app.run_job("auto_dream", date="2026-05-18")
                topics = await app.run_job("proactive", date="2026-05-18")
                return dream, again, topics

        dream, again, topics = run(go())
    assert dream.success and dream.metadata["modified"] and dream.answer.startswith("AutoDream completed")
    note = (root / "digest/personal/tea.md").read_text(encoding="utf-8")
    assert "Prefers green tea." in note and "[[memory/2026-05-18/tea.md]]" in note
    assert again.success and again.answer == "No changed dream input for 2026-05-18"
    assert again.metadata["modified"] is False
    assert topics.answer["topics"][0]["title"] == "Tea"
    dreams = [d for d in logged(app) if getattr(d, "policy", "") == "llm-auto-dream"]
    assert [d.action == "invalid" for d in dreams] == [True, False]  # the retry, then the parsed object


# ------------------------------------------------------------------------------------------------ command line
def test_job_command_lines_are_told_from_this_projects_own():
    from reme.job_cli import is_job_command

    assert is_job_command(["start"]) and is_job_command(["start", "config=x.yaml", "service.port=1"])
    assert is_job_command(["search", "query=green tea", "limit=5"]) and is_job_command(["version"])
    assert not is_job_command(["search", "green tea"])  # this project's `reme search QUERY`
    assert not is_job_command(["add", "--target", "user:a", "text"]) and not is_job_command(["--version"])
    assert not is_job_command(["list"]) and not is_job_command([])


def test_reme_start_runs_one_job_and_the_service_answers_jobs(tmp_path):
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from reme.service.jobs_app import create_job_app

    script = "from reme.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "start", "job=write", "path=daily/x.md", "content=hello tea", "name=x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("Wrote ") and (tmp_path / ".reme/daily/x.md").is_file()
    failed = subprocess.run([sys.executable, "-c", script, "start", "job=read", "path=daily/none.md"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert failed.returncode == 1 and "does not exist" in failed.stdout
    app = ReMe(workspace_dir=str(tmp_path / ".reme"))
    with TestClient(create_job_app(app)) as client:
        assert client.get("/health").json()["answer"].endswith("healthy")
        found = client.post("/search", json={"query": "hello tea", "limit": 1}).json()
        assert found["success"] and found["metadata"]["results"][0]["path"] == "daily/x.md"
        assert client.post("/nope", json={}).status_code == 404
        assert client.post("/index_update_loop", json={}).status_code == 404  # a background job is not served
        assert client.post("/search", content=b"[1]").status_code == 400
        assert "search" in client.get("/jobs").json()
        assert client.post("/version", json={}).json()["answer"] == "0.4.1.11"  # ReMe's README curl


def test_standalone_components_qwenpaw_recall_uses():
    from reme.components.file_chunker.default_file_chunker import DefaultFileChunker
    from reme.components.keyword_index.bm25_index import BM25Index
    from reme.components.tokenizer.regex_tokenizer import RegexTokenizer

    tokenizer = RegexTokenizer(filter_stopwords=False)
    cjk = ["我", "喜", "欢", "茶", "我喜", "喜欢", "欢茶"]
    assert tokenizer.tokenize(["The Green tea", "我喜欢茶"]) == [["the", "green", "tea"], cjk]
    text = "\n".join(f"line {i} about tea" for i in range(400))
    chunks = DefaultFileChunker(chunk_byte_size=2048, overlap_byte_size=256).chunk_content(text, "7")
    assert len(chunks) > 3 and all(len(c.text.encode()) <= 2048 for c in chunks)
    assert chunks[1].start_line <= chunks[0].end_line  # overlapping
    index = BM25Index(tokenizer="")
    index.tokenizer = tokenizer
    run(index.add_docs({"0": "green tea at noon", "1": "a red car", "2": "tea and more tea"}))
    assert run(index.retrieve("tea", limit=10)) == ["2", "0"]


def test_search_can_use_reme_0_3s_score_fusion(tmp_path):
    jobs = {"search": {"backend": "base", "steps": [{"backend": "search_step", "fusion": "score"}]},
            "bad": {"backend": "base", "steps": [{"backend": "search_step", "fusion": "max"}]}}  # fmt: skip
    app = ReMe(workspace_dir=str(tmp_path / "ws"), jobs=jobs)
    (app.workspace_path / "daily").mkdir(exist_ok=True)
    (app.workspace_path / "daily/a.md").write_text("The user prefers green tea.\n")

    async def go() -> tuple[Response, Response]:
        async with app:
            return await app.run_job("search", query="green tea"), await app.run_job("bad", query="green tea")

    found, bad = run(go())
    assert found.success and found.metadata["policy"] == "heuristic-fusion"
    assert not bad.success and "fusion must be" in bad.answer


def test_reme_0_4_readme_quick_start_through_the_command_line(tmp_path):
    """ReMe 0.4's README: reme start, then reme write / search / read / version / help against it."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = "from reme.cli import main; main()"
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}

    def reme_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", script, *args, f"port={port}"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    server = subprocess.Popen([sys.executable, "-c", script, "start", f"service.port={port}"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for _ in range(120):
            if reme_cli("version").returncode == 0:
                break
            time.sleep(0.5)
        assert reme_cli("version").stdout.strip() == "0.4.1.11"
        content = "# Quick Start Demo\n\nReMe stores agent memory as readable Markdown.\n"
        wrote = reme_cli("write", "path=digest/wiki/quick-start-demo", "name=Quick Start Demo",
                         "description=A first ReMe memory node", f"content={content}")  # fmt: skip
        assert wrote.returncode == 0 and wrote.stdout.startswith("Wrote "), wrote.stderr
        found = reme_cli("search", "query=agent memory markdown", "limit=5")
        assert found.returncode == 0 and "digest/wiki/quick-start-demo.md" in found.stdout.splitlines()[0]
        read = reme_cli("read", "path=digest/wiki/quick-start-demo", "start_line=1", "end_line=20")
        assert read.returncode == 0 and "name: Quick Start Demo" in read.stdout and "readable Markdown" in read.stdout
        assert "search(query" in reme_cli("help").stdout
        missing = reme_cli("read", "path=digest/none")
        assert missing.returncode == 1 and "does not exist" in missing.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)
    note = (tmp_path / ".reme/digest/wiki/quick-start-demo.md").read_text(encoding="utf-8")
    assert note.startswith("---\ndescription: A first ReMe memory node\nname: Quick Start Demo\n---\n\n# Quick Start")


def test_traverse_and_auto_resource(tmp_path):
    with ScriptedOpenAIServer() as server:
        app = app_for(tmp_path, server)
        root = app.workspace_path
        (root / "digest/wiki").mkdir(parents=True)
        (root / "digest/wiki/a.md").write_text("---\nname: A\n---\n\nSee [[digest/wiki/b.md]].\n")
        (root / "digest/wiki/b.md").write_text("See [[digest/wiki/c]].\n")
        (root / "digest/wiki/c.md").write_text("The end.\n")
        (root / "resource").mkdir(exist_ok=True)
        (root / "resource/menu.txt").write_text("Green tea 3 EUR. Sencha 4 EUR.\n")
        server.call_tool("daily_write", {"name": "tea-menu", "description": "Tea prices", "content": "- Sencha 4 EUR"})
        server.say("Noted the menu.")

        async def go() -> tuple[Response, Response, Response, Response]:
            async with app:
                both = await app.run_job("traverse", path="digest/wiki/b", depth=1)
                forward = await app.run_job("traverse", path=["digest/wiki/a.md"], depth=2, direction="forward")
                changes = [{"path": "resource/menu.txt", "change": "added"},
                           {"path": "resource/gone.txt", "change": "deleted"}]  # fmt: skip
                made = await app.run_job("auto_resource", changes=changes)
                bad = await app.run_job("auto_resource", changes=[])
                return both, forward, made, bad

        both, forward, made, bad = run(go())
    assert {n["path"]: n["depth"] for n in both.answer["nodes"]} == {
        "digest/wiki/b.md": 0, "digest/wiki/a.md": 1, "digest/wiki/c.md": 1,
    }  # fmt: skip
    assert {(e["source"], e["target"]) for e in both.answer["edges"]} == {
        ("digest/wiki/a.md", "digest/wiki/b.md"), ("digest/wiki/b.md", "digest/wiki/c.md"),
    }  # fmt: skip
    assert [n["path"] for n in forward.answer["nodes"]] == ["digest/wiki/a.md", "digest/wiki/b.md", "digest/wiki/c.md"]
    assert made.success and made.metadata["modified"]
    first, gone = made.metadata["results"]
    note = (app.workspace_path / first["note"]).read_text(encoding="utf-8")
    assert "source_resource: '[[resource/menu.txt]]'" in note and "source_conversation" not in note
    assert gone == {"path": "resource/gone.txt", "change": "deleted", "note": None}
    assert not bad.success
    assert any(getattr(d, "policy", "") == "llm-auto-resource" for d in logged(app))
