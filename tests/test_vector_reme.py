"""The vector ``ReMe`` class (ReMe 0.3.1.x surface): lifecycle, CRUD, retrieval and LLM summarization with a fake
LLM, and the decisions each call logs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.policy.audit import verify
from reme.policy.decision import Decision
from reme.policy.trajectory import read_records
from reme.policy.write import WRITE_ACTIONS, WritePolicyBase, WriteState
from reme.schema import MemoryNode
from reme.vector import ReMe, parse_candidates

try:
    from reme.llm import ChatResult, LLMError
except ImportError:  # the LLM package is not there yet: a stand-in with the same fields
    from pydantic import BaseModel

    class ChatResult(BaseModel):  # type: ignore[no-redef]
        text: str
        tokens: list[str] | None = None
        token_logprobs: list[float] | None = None
        model: str = ""
        backend: str = ""
        finish_reason: str | None = None

        @property
        def logprob(self) -> float | None:
            return None if self.token_logprobs is None else math.fsum(self.token_logprobs)

    class LLMError(ReMeError):  # type: ignore[no-redef]
        pass


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def workspace_id(tmp_path: Path, text: str, target: str) -> str:
    """The id this project gives ``text`` in ``target``: keyed by the workspace and holding the target (ReMe's
    ``sha256(content)[:16]`` made the same sentence of two users one memory)."""
    from reme.schema import make_memory_id
    from reme.store.records import RecordStore

    store = RecordStore(tmp_path / "ws" / "reme.db")
    try:
        return make_memory_id(text, target, store.id_key)
    finally:
        store.close()


class FakeLLM:
    """Replies with scripted texts; token log-probabilities are made up but valid (each <= 0, summing to the
    result's logprob). ``logprobs=False`` behaves like an endpoint that returns none."""

    model = "fake-llm"

    def __init__(self, replies: list[str], logprobs: bool = True, fail: bool = False) -> None:
        self.replies = list(replies)
        self.logprobs = logprobs
        self.fail = fail
        self.calls: list[list[dict]] = []

    def chat(self, messages: list[dict], *, temperature=None, max_tokens=None, stop=None) -> ChatResult:
        self.calls.append(messages)
        if self.fail:
            raise LLMError("endpoint unreachable")
        text = self.replies.pop(0)
        tokens = [text[i : i + 4] for i in range(0, len(text), 4)] or [""]
        lps = [-0.01 * (1 + i % 5) for i in range(len(tokens))]
        return ChatResult(
            text=text,
            tokens=tokens if self.logprobs else None,
            token_logprobs=lps if self.logprobs else None,
            model=self.model,
            backend="fake",
            finish_reason="stop",
        )

    async def achat(self, messages: list[dict], **kw: Any) -> ChatResult:
        return self.chat(messages, **kw)


def decisions(workspace: Path) -> list[Decision]:
    return [e.record for e in read_records(workspace / "trajectories") if isinstance(e.record, Decision)]


@pytest.fixture(autouse=True)
def _no_llm_env(monkeypatch):
    for var in ("LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)


def make(tmp_path: Path, encoder, **kw: Any) -> ReMe:
    return ReMe(working_dir=tmp_path / "ws", encoder=encoder, enable_logo=False, **kw)


def test_constructor_takes_reme_keywords(tmp_path):
    reme = ReMe(
        "vector_store.default.backend=local",
        llm_api_key="sk-test",
        llm_base_url="http://127.0.0.1:9/v1",
        embedding_api_key="ek",
        embedding_base_url="http://127.0.0.1:9/v1",
        working_dir=str(tmp_path / "ws"),
        config_path="vector",
        enable_logo=False,
        log_to_console=False,
        default_llm_config={"model_name": "qwen3.5-plus"},
        default_embedding_model_config={"model_name": "text-embedding-v4", "dimensions": 1024},
        default_vector_store_config={"collection_name": "reme"},
        default_token_counter_config={"backend": "base"},
        target_user_names=["alice", "bob"],
        target_task_names="deploy",
        enable_profile=False,
        some_future_option=True,
    )
    assert reme.embedding is not None
    assert (reme.embedding.backend, reme.embedding.model, reme.embedding.dimensions) == (
        "openai",
        "text-embedding-v4",
        1024,
    )
    assert reme.embedding.base_url == "http://127.0.0.1:9/v1" and reme.embedding.api_key == "ek"
    assert reme.targets == ["user:alice", "user:bob", "task:deploy"]
    assert reme.llm_configured
    assert ReMe(working_dir=tmp_path / "x").embedding is None  # local default model, offline
    assert not ReMe(working_dir=tmp_path / "x").llm_configured
    assert not (tmp_path / "ws").exists()  # nothing is opened before start()


def test_methods_before_start_raise(tmp_path, random_encoder):
    reme = make(tmp_path, random_encoder)
    calls = [
        reme.add_memory("x", user_name="a"),
        reme.get_memory("abc"),
        reme.update_memory("abc", memory_content="y"),
        reme.delete_memory("abc"),
        reme.delete_all(),
        reme.list_memory(user_name="a"),
        reme.retrieve_memory("q", user_name="a"),
        reme.summarize_memory([{"role": "user", "content": "hi"}], user_name="a"),
    ]
    for coro in calls:
        with pytest.raises(ReMeError, match="not started"):
            run(coro)
    assert run(reme.close()) is False


def test_crud_with_reme_ids_and_types(tmp_path, random_encoder):
    async def main() -> None:
        async with make(tmp_path, random_encoder) as reme:
            a = await reme.add_memory("Alice prefers green tea.", user_name="alice", when_to_use="drinks", score=0.5)
            b = await reme.add_memory("Run the migrations before deploying.", task_name="deploy", author="me")
            c = await reme.add_memory("grep -r is slow on big repos; use rg.", tool_name="shell", source="test")
            assert isinstance(a, MemoryNode)
            assert a.memory_id == workspace_id(tmp_path, "Alice prefers green tea.", "user:alice")
            assert a.memory_id != sha16("Alice prefers green tea.")
            bob = await reme.add_memory("Alice prefers green tea.", user_name="bob")  # another user's own memory
            assert bob.memory_id != a.memory_id and bob.memory_target == "user:bob"
            assert (await reme.get_memory(a.memory_id)).memory_target == "user:alice"
            await reme.delete_memory(bob.memory_id)
            assert (a.memory_type, a.memory_target, a.when_to_use, a.score) == ("personal", "user:alice", "drinks", 0.5)
            assert (b.memory_type, b.memory_target, b.author) == ("procedural", "task:deploy", "me")
            assert (c.memory_type, c.memory_target, c.metadata) == ("tool", "tool:shell", {"source": "test"})
            assert (await reme.get_memory(a.memory_id)).content == "Alice prefers green tea."

            again = await reme.add_memory("Alice prefers green tea.", user_name="alice")  # same id: replaced
            assert again.memory_id == a.memory_id
            assert len(await reme.list_memory(user_name="alice")) == 1

            changed = await reme.update_memory(a.memory_id, memory_content="Alice prefers oolong.", mood="calm")
            assert changed.memory_id == a.memory_id and changed.content == "Alice prefers oolong."
            assert changed.metadata["mood"] == "calm"
            moved = await reme.update_memory(b.memory_id, tool_name="kubectl")
            assert (moved.memory_target, moved.memory_type, moved.memory_id) == ("tool:kubectl", "tool", b.memory_id)

            await reme.delete_memory(c.memory_id)
            await reme.delete_memory(c.memory_id)  # unknown ids are fine, as in ReMe
            with pytest.raises(NotFoundError):
                await reme.get_memory(c.memory_id)
            await reme.delete_all()
            assert await reme.list_memory() == []

    run(main())


def test_list_memory_filters_sort_limit(tmp_path, random_encoder):
    async def main() -> None:
        async with make(tmp_path, random_encoder) as reme:
            for i, text in enumerate(["one fact", "two fact", "three fact", "four fact"]):
                await reme.add_memory(text, user_name="alice", score=float(i), kind="odd" if i % 2 else "even")
            await reme.add_memory("bob fact", user_name="bob")
            everyone = await reme.list_memory()
            assert len(everyone) == 5
            alice = await reme.list_memory(user_name="alice")
            assert [n.content for n in alice] == ["four fact", "three fact", "two fact", "one fact"]  # newest first
            by_score = await reme.list_memory(user_name="alice", sort_key="score", reverse=False)
            assert [n.score for n in by_score] == [0.0, 1.0, 2.0, 3.0]
            odd = await reme.list_memory(user_name="alice", filters={"kind": "odd"}, sort_key="score")
            assert [n.content for n in odd] == ["four fact", "two fact"]
            typed = await reme.list_memory(filters={"memory_type": "personal", "score": [0.0, 2.0]}, limit=1)
            assert len(typed) == 1 and typed[0].score in (0.0, 2.0)
            with pytest.raises(BadInputError):
                await reme.list_memory(user_name="alice", limit=-1)

    run(main())


def test_add_memory_needs_exactly_one_target(tmp_path, random_encoder):
    async def main() -> None:
        async with make(tmp_path, random_encoder) as reme:
            with pytest.raises(BadInputError, match="exactly one"):
                await reme.add_memory("no target")
            with pytest.raises(BadInputError, match="exactly one"):
                await reme.add_memory("two targets", user_name="a", task_name="b")
            with pytest.raises(BadInputError):
                await reme.add_memory("   ", user_name="a")
            assert await reme.list_memory() == []

    run(main())


def test_explicit_add_is_never_gated(tmp_path, random_encoder):
    async def main() -> None:
        async with make(tmp_path, random_encoder, write_policy=DiscardAll()) as reme:
            node = await reme.add_memory("kept despite the gate", user_name="alice")
            assert (await reme.get_memory(node.memory_id)).content == "kept despite the gate"

    run(main())
    assert verify(tmp_path / "ws").ok  # the explicit add's write decision re-scores exactly


def test_retrieve_without_llm_lists_memories(tmp_path, random_encoder):
    async def main() -> None:
        async with make(tmp_path, random_encoder) as reme:
            await reme.add_memory("Alice drinks green tea every morning.", user_name="alice")
            await reme.add_memory("Alice lives in Lisbon.", user_name="alice")
            await reme.add_memory("Bob drinks green tea too.", user_name="bob")
            answer = await reme.retrieve_memory("green tea", user_name="alice")
            assert isinstance(answer, str)
            assert "1. " in answer and "Alice drinks green tea every morning." in answer
            assert "Bob" not in answer
            out = await reme.retrieve_memory(
                messages=[{"role": "user", "content": "where does alice live"}], user_name="alice", return_dict=True
            )
            assert set(out) == {"answer", "retrieved_nodes", "messages", "success"}
            assert out["success"] and out["messages"] == []
            assert all(isinstance(n, MemoryNode) for n in out["retrieved_nodes"])
            assert "Alice lives in Lisbon." in out["answer"]
            empty = await reme.retrieve_memory("", user_name="alice", return_dict=True)  # bad input: no crash
            assert empty["success"] is False
            with pytest.raises(BadInputError):
                await reme.retrieve_memory("", user_name="alice", raise_exception=True)

    run(main())
    ranks = [d for d in decisions(tmp_path / "ws") if d.kind == "rank"]
    assert len(ranks) == 2 and {d.policy for d in ranks} == {"heuristic-fusion"}  # one per search, no LLM


def test_retrieve_with_llm_answers_and_logs(tmp_path, random_encoder):
    llm = FakeLLM(["Alice drinks green tea."])

    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=llm) as reme:
            await reme.add_memory("Alice drinks green tea every morning.", user_name="alice")
            out = await reme.retrieve_memory("What does Alice drink?", user_name="alice", return_dict=True)
            assert reme.last_decision_ids and out["success"]
            return out

    out = run(main())
    assert out["answer"] == "Alice drinks green tea."
    assert out["messages"][-1] == {"role": "assistant", "content": "Alice drinks green tea."}
    assert "Alice drinks green tea every morning." in llm.calls[0][-1]["content"]
    llm_rec = [d for d in decisions(tmp_path / "ws") if d.policy == "llm-retrieve-synthesis"]
    assert len(llm_rec) == 1
    rec = llm_rec[0]
    assert rec.kind == "rank" and rec.trainable and rec.version == "fake-llm"
    assert rec.logprob == pytest.approx(sum(rec.extra["token_logprobs"]))
    assert rec.memory_ids == [workspace_id(tmp_path, "Alice drinks green tea every morning.", "user:alice")]
    assert verify(tmp_path / "ws").ok


def test_retrieve_llm_failure_falls_back_to_list(tmp_path, random_encoder):
    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=FakeLLM([], fail=True)) as reme:
            await reme.add_memory("Alice drinks green tea every morning.", user_name="alice")
            return await reme.retrieve_memory("green tea", user_name="alice", return_dict=True)

    out = run(main())
    assert out["success"] is False and "1. Alice drinks green tea every morning." in out["answer"]
    assert not [d for d in decisions(tmp_path / "ws") if d.policy.startswith("llm")]


CONVERSATION = [
    {"role": "user", "content": "I moved to Lisbon last May.", "time_created": "2024-06-01 10:00:00"},
    {"role": "assistant", "content": "Nice! How do you like it?", "time_created": "2024-06-01 10:00:05"},
    {"role": "user", "content": "Love it. I'm allergic to peanuts, by the way.", "time_created": "2024-06-01 10:01:00"},
]


def test_summarize_writes_through_write_policy_and_logs(tmp_path, random_encoder):
    reply = json.dumps(
        [
            {"content": "Alice moved to Lisbon in May 2024.", "when_to_use": "questions about where Alice lives"},
            {"content": "Alice is allergic to peanuts.", "when_to_use": ""},
        ]
    )
    llm = FakeLLM([f"```json\n{reply}\n```"])

    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=llm) as reme:
            await reme.add_memory("Alice likes jazz.", user_name="alice")
            out = await reme.summarize_memory(CONVERSATION, user_name="alice", return_dict=True)
            assert len(reme.last_decision_ids) == 1
            return out

    out = run(main())
    assert set(out) == {"answer", "success", "messages", "tools", "memory_list"} and out["success"]
    assert out["tools"] == []
    nodes = out["memory_list"]
    assert [n.content for n in nodes] == ["Alice moved to Lisbon in May 2024.", "Alice is allergic to peanuts."]
    assert out["answer"] == (  # ReMe's answer is a text
        "2 memories written:\n- [user:alice] Alice moved to Lisbon in May 2024.\n- [user:alice] Alice is allergic to "
        "peanuts."
    )
    assert nodes[0].memory_id == workspace_id(tmp_path, "Alice moved to Lisbon in May 2024.", "user:alice")
    assert nodes[0].when_to_use == "questions about where Alice lives"
    assert (nodes[0].memory_target, nodes[0].memory_type) == ("user:alice", "personal")
    assert nodes[0].message_time == "2024-06-01 10:01:00" and nodes[0].author == "fake-llm"
    assert "Alice likes jazz." in llm.calls[0][-1]["content"]  # similar memories are shown to the LLM

    recs = decisions(tmp_path / "ws")
    llm_rec = next(d for d in recs if d.policy == "llm-vector-summarizer")
    assert llm_rec.kind == "write" and llm_rec.action == "write" and llm_rec.trainable
    assert llm_rec.logprob == pytest.approx(sum(llm_rec.extra["token_logprobs"]))
    assert llm_rec.memory_ids == [n.memory_id for n in nodes]
    assert all(n.metadata["llm_decision_id"] == llm_rec.decision_id for n in nodes)
    gated = [d for d in recs if d.kind == "write" and not d.policy.startswith("llm")]
    assert len(gated) == 3  # one explicit add + one per proposed memory
    assert [d.memory_ids for d in gated[1:]] == [[n.memory_id] for n in nodes]
    assert recs.index(llm_rec) < recs.index(gated[1])
    assert verify(tmp_path / "ws").ok


class DiscardAll(WritePolicyBase):
    """A write gate that discards everything (stands in for a strict learned policy)."""

    name = "test-discard-all"

    @property
    def version(self) -> str:
        return "test"

    def action_logprobs(self, state: WriteState) -> np.ndarray:
        logits = np.array([-5.0 if a != "discard" else 5.0 for a in WRITE_ACTIONS])
        logits[[a not in state.allowed for a in WRITE_ACTIONS]] = -np.inf
        return logits - np.logaddexp.reduce(logits)


def test_summarize_candidates_go_through_the_gate(tmp_path, random_encoder, monkeypatch):
    monkeypatch.setenv("REME_POLICIES__EXPLORATION__WRITE", "0")  # the gate's own discards, not write exploration
    llm = FakeLLM(['[{"content": "Alice is allergic to peanuts."}]'])

    async def main() -> str:
        async with make(tmp_path, random_encoder, llm=llm, write_policy=DiscardAll()) as reme:
            written = await reme.summarize_memory(CONVERSATION, user_name="alice")
            assert await reme.list_memory(user_name="alice") == []
            return written

    assert run(main()) == "No new memories were written."
    recs = decisions(tmp_path / "ws")
    assert [d.action for d in recs if d.policy == "test-discard-all"] == ["discard"]
    assert [d.action for d in recs if d.policy == "llm-vector-summarizer"] == ["write"]


def test_summarize_garbage_writes_nothing(tmp_path, random_encoder):
    llm = FakeLLM(["Sure! The user seems to like Lisbon."])

    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=llm) as reme:
            out = await reme.summarize_memory(CONVERSATION, user_name="alice", return_dict=True)
            assert await reme.list_memory() == []
            return out

    out = run(main())
    assert out["memory_list"] == [] and out["success"] is False
    recs = decisions(tmp_path / "ws")
    assert [(d.policy, d.action, d.extra["parse_error"]) for d in recs] == [("llm-vector-summarizer", "silent", True)]


def test_summarize_no_memory_needed(tmp_path, random_encoder):
    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=FakeLLM(["<NO_MEMORY_NEEDED>"])) as reme:
            return await reme.summarize_memory(CONVERSATION, user_name="alice", return_dict=True)

    out = run(main())
    assert out["memory_list"] == [] and out["success"] is True
    assert [d.action for d in decisions(tmp_path / "ws")] == ["silent"]


def test_llm_without_logprobs_is_untrainable(tmp_path, random_encoder):
    llm = FakeLLM(['["Alice is allergic to peanuts."]'], logprobs=False)

    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=llm) as reme:
            return await reme.summarize_memory(CONVERSATION, user_name="alice", return_dict=True)

    assert [n.content for n in run(main())["memory_list"]] == ["Alice is allergic to peanuts."]
    rec = next(d for d in decisions(tmp_path / "ws") if d.policy == "llm-vector-summarizer")
    assert rec.logprob is None and rec.trainable is False and rec.extra["token_logprobs"] is None
    report = verify(tmp_path / "ws")
    assert report.ok and report.untrainable == 1


def test_summarize_without_llm_offers_user_turns(tmp_path, random_encoder):
    messages = [
        SimpleNamespace(role="user", content=[{"type": "text", "text": "My dog is called Rex."}]),
        SimpleNamespace(role="assistant", content="Cute name!"),
    ]

    async def main() -> dict:
        async with make(tmp_path, random_encoder, target_user_names=["alice"]) as reme:
            return await reme.summarize_memory(messages, return_dict=True)

    written = run(main())["memory_list"]
    assert [(n.content, n.memory_target) for n in written] == [("My dog is called Rex.", "user:alice")]
    assert not [d for d in decisions(tmp_path / "ws") if d.policy.startswith("llm")]


def test_summarize_without_a_target_covers_the_three_kinds(tmp_path, random_encoder):
    """As ReMe, a call that names no target summarises personal, procedural and tool memory: the conversation's
    user speakers, ``task:default`` and the tools it called."""
    messages = [
        {"role": "user", "name": "alice", "content": "Deploy the API, and remember I prefer blue-green deploys.",
         "time_created": "2024-06-01 10:00:00"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                             "function": {"name": "kubectl", "arguments": "{}"}}]},
        {"role": "tool", "name": "kubectl", "tool_call_id": "c1", "content": "deployment/api rolled out"},
    ]  # fmt: skip
    llm = FakeLLM(['["Alice prefers blue-green deploys."]', '["Roll out the API with kubectl."]',
                   '["kubectl rollout reports success."]'])  # fmt: skip

    async def main() -> dict:
        async with make(tmp_path, random_encoder, llm=llm) as reme:
            return await reme.summarize_memory(messages, return_dict=True)

    out = run(main())
    assert [n.memory_target for n in out["memory_list"]] == ["user:alice", "task:default", "tool:kubectl"]
    assert out["success"] and out["answer"].startswith("3 memories written:")


def test_names_may_be_lists(tmp_path, random_encoder):
    async def main() -> tuple[Any, Any]:
        async with make(tmp_path, random_encoder) as reme:
            await reme.add_memory("Alice likes jazz.", user_name="alice")
            await reme.add_memory("Bob likes opera.", user_name="bob")
            found = await reme.retrieve_memory("music", user_name=["alice", "bob"], return_dict=True)
            written = await reme.summarize_memory(CONVERSATION, user_name=["alice", "carol"], return_dict=True)
            return found, written

    found, written = run(main())
    assert {n.memory_target for n in found["retrieved_nodes"]} == {"user:alice", "user:bob"}
    assert {n.memory_target for n in written["memory_list"]} == {"user:alice", "user:carol"}


@pytest.mark.parametrize("backend", ["local", "chroma", "memory"])
def test_local_vector_stores_map_to_the_embedded_store(tmp_path, backend):
    reme = ReMe(working_dir=tmp_path / "ws", default_vector_store_config={"backend": backend})
    assert reme.working_dir == tmp_path / "ws"


@pytest.mark.parametrize("backend", ["pgvector", "qdrant", "elasticsearch"])
def test_server_vector_stores_are_refused_naming_the_supported_ones(tmp_path, backend):
    with pytest.raises(BadInputError, match="local"):
        ReMe(working_dir=tmp_path / "ws", default_vector_store_config={"backend": backend})
    with pytest.raises(BadInputError, match=backend):
        ReMe(f"vector_store.default.backend={backend}", working_dir=tmp_path / "ws")


def test_parse_candidates():
    assert parse_candidates('[{"content": "a", "when_to_use": "b"}]') == [{"content": "a", "when_to_use": "b"}]
    assert parse_candidates('Here you go:\n[{"content": "a"}]\nDone.') == [{"content": "a", "when_to_use": ""}]
    assert parse_candidates('{"memories": ["x"]}') == [{"content": "x", "when_to_use": ""}]
    assert parse_candidates("<think>hmm</think>NO_MEMORY_NEEDED") == []
    assert parse_candidates("[]") == []
    assert parse_candidates("not json at all") is None
    assert parse_candidates("[1, 2]") is None


def test_unprovided_helpers_say_so(tmp_path):
    reme = ReMe(working_dir=tmp_path / "ws")
    with pytest.raises(NotImplementedError, match="get_memory_handler"):
        reme.get_memory_handler("alice")
    with pytest.raises(NotImplementedError, match="profile"):
        reme.get_profile_handler("alice")
    with pytest.raises(NotImplementedError, match="profile"):
        _ = reme.profile_path
