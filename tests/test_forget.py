"""``reme forget`` and trajectory retention: a forgotten memory's text is nowhere in the workspace afterwards
(records, indexes, saved indexes, embedding cache, trajectory log: every byte of every file is checked), the other
memories and every decision's id and log-probability stay, ``verify`` still passes, and an appender that had the
log open while it was rewritten loses nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reme.cli import app
from reme.errors import BadInputError, NotFoundError
from reme.forget import FORGOTTEN, forget, prune_trajectories
from reme.memory import Memory
from reme.policy.audit import verify
from reme.policy.trajectory import read_records
from reme.retrieval.embedding import RandomEncoder

SECRET = "Alice's bank PIN is 80417"
KEPT = "Alice likes green tea"


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _decisions(ws: Path) -> dict[str, float | None]:
    out = {}
    for entry in read_records(ws / "trajectories"):
        if entry.record is not None and entry.record.type == "decision":
            out[entry.record.decision_id] = entry.record.logprob
    return out


def _workspace(tmp_path: Path) -> tuple[Path, Memory, str]:
    ws = tmp_path / "ws"
    memory = Memory(ws, encoder=RandomEncoder(16))
    secret = memory.add(SECRET, "user:alice", metadata={"note": SECRET})
    memory.add(KEPT, "user:alice")
    memory.add("Bob's locker is number 12", "user:bob")
    assert secret is not None
    for query in ("What is Alice's PIN?", "tea", SECRET):  # the query itself can hold the text
        memory.search(query, 5, "user:alice", min_score=-1)
    memory.feedback(1.0, memory_id=secret.memory_id)
    # an LLM decision whose prompt and output quote the memory (as the vector ReMe's summariser logs them)
    from reme.llm.decisions import llm_decision
    from reme.llm.types import ChatResult

    text = f"Remember: {SECRET}."
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    result = ChatResult(text=text, tokens=pieces, token_logprobs=[-0.1] * len(pieces), model="m", backend="test")
    prompt = {"messages": [{"role": "user", "content": SECRET}]}
    decision = llm_decision("write", "llm-vector-summarizer", "write", result, model="m", inputs=prompt)
    decision.extra["text"] = text
    memory.log_decision(decision)
    return ws, memory, secret.memory_id


def test_forget_removes_the_text_everywhere_and_keeps_the_decisions(tmp_path):
    ws, memory, secret_id = _workspace(tmp_path)
    before = _decisions(ws)
    assert SECRET.encode() in _all_bytes(ws)
    report = forget(memory, memory_ids=[secret_id])
    assert report.memories == 1 and report.index_entries == 2 and report.cache_entries >= 1
    assert report.trajectory_records == 1 and report.trajectory_fields == 2  # the LLM record: prompt and output
    with pytest.raises(NotFoundError):
        memory.get(secret_id)
    assert [h.memory.content for h in memory.search("PIN tea", 5, "user:alice", min_score=-1)] == [KEPT]
    late, _ = memory.search_with_decision("after the rewrite", 5, "user:alice")  # its log was open meanwhile
    memory.close()
    assert SECRET.encode() not in _all_bytes(ws)  # records, indexes, cache, log: no byte of it left
    after = _decisions(ws)
    assert {k: after[k] for k in before} == before and late.decision_id in after
    scrubbed = [e.record for e in read_records(ws / "trajectories") if e.record and e.record.extra.get("forgotten")]
    assert scrubbed and all(FORGOTTEN in json.dumps(r.model_dump()) for r in scrubbed)
    assert verify(ws).ok  # log-probabilities and token log-probabilities still check out
    reopened = Memory(ws, encoder=RandomEncoder(16))
    assert {n.content for n in reopened.list()} == {KEPT, "Bob's locker is number 12"}
    reopened.close()


def test_forget_a_target_and_refusals(tmp_path):
    ws, memory, _ = _workspace(tmp_path)
    with pytest.raises(NotFoundError):
        forget(memory, memory_ids=["no-such-id"])
    with pytest.raises(BadInputError):
        forget(memory, memory_ids=["x"], target="user:alice")
    with pytest.raises(BadInputError, match="Markdown"):
        forget(memory, target="file:memory")
    assert forget(memory, target="user:nobody").memories == 0
    report = forget(memory, target="user:alice")
    assert report.memories == 2 and memory.count("user:alice") == 0 and memory.count("user:bob") == 1
    memory.close()
    assert SECRET.encode() not in _all_bytes(ws) and KEPT.encode() not in _all_bytes(ws)


def test_cli_forget_and_prune(tmp_path):
    ws, memory, secret_id = _workspace(tmp_path)
    memory.close()
    runner = CliRunner()
    done = runner.invoke(app, ["forget", "--workspace", str(ws), "--memory", secret_id, "--json", "-"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["memories"] == 1
    assert runner.invoke(app, ["forget", "--workspace", str(ws)]).exit_code == 2
    assert runner.invoke(app, ["forget", "--workspace", str(ws), "--memory", "nope"]).exit_code == 2

    segments = ws / "trajectories"
    old = segments / "segment-000001.jsonl"
    newest = segments / "segment-000002.jsonl"
    newest.write_text("", encoding="utf-8")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    os.utime(newest, (week_ago, week_ago))
    assert prune_trajectories(segments, 30) == []
    result = runner.invoke(app, ["trajectories", "prune", "--workspace", str(ws), "--days", "7"])
    assert result.exit_code == 0 and "segment-000001.jsonl" in result.stdout
    assert not old.exists() and newest.exists()  # the newest segment is never pruned
    assert runner.invoke(app, ["trajectories", "prune", "--workspace", str(ws)]).exit_code == 2
