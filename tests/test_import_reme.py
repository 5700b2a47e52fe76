"""``import_reme``: ReMe 0.3.x vector-store dumps (JSON, JSONL) and ReMeLight working directories."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from reme.errors import BadInputError
from reme.importers import import_reme
from reme.memory import FILE_TARGET, Memory
from reme.policy.audit import verify


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def vector_node(content: str, memory_type: str, target: str, **fields) -> dict:
    """A record as ReMe 0.3.x's vector store dumps it: when ``when_to_use`` is set it is what was embedded (the
    top-level ``content``) and the memory text moves into the metadata."""
    when = fields.pop("when_to_use", "")
    meta = {
        "memory_id": sha16(content),
        "memory_type": memory_type,
        "memory_target": target,
        "when_to_use": when,
        "message_time": fields.pop("message_time", ""),
        "ref_memory_id": fields.pop("ref_memory_id", ""),
        "author": fields.pop("author", "qwen3.5-plus"),
        "score": fields.pop("score", 0.0),
        "time_created": "2025-01-02 03:04:05",
        "time_modified": "2025-01-03 03:04:05",
        **fields,
    }
    if when:
        meta["content"] = content
    return {"vector_id": sha16(content), "content": when or content, "vector": [0.1, 0.2, 0.3], "metadata": meta}


RECORDS = [
    vector_node(
        "Alice moved to Lisbon.", "personal", "alice", when_to_use="where Alice lives", message_time="2024-05-08",
        ref_memory_id="h1", score=0.7, mood="happy",
    ),
    vector_node("Bob's birthday is 2 March.", "identity", "bob"),
    vector_node("Run migrations before deploying.", "procedural", "deploy", when_to_use="before a deploy"),
    vector_node("rg is faster than grep -r.", "tool", "shell", message_time="last spring"),
]  # fmt: skip


def check_imported(memory: Memory) -> None:
    alice = memory.get(sha16("Alice moved to Lisbon."))
    assert (alice.memory_target, alice.memory_type) == ("user:alice", "personal")
    assert alice.content == "Alice moved to Lisbon."
    assert (alice.when_to_use, alice.message_time, alice.ref_memory_id) == ("where Alice lives", "2024-05-08", "h1")
    assert (alice.author, alice.score, alice.time_created) == ("qwen3.5-plus", 0.7, "2025-01-02 03:04:05")
    assert alice.metadata["mood"] == "happy"
    assert memory.get(sha16("Bob's birthday is 2 March.")).memory_target == "user:bob"
    task = memory.get(sha16("Run migrations before deploying."))
    assert (task.memory_target, task.memory_type, task.when_to_use) == ("task:deploy", "procedural", "before a deploy")
    tool = memory.get(sha16("rg is faster than grep -r."))
    assert (tool.memory_target, tool.memory_type, tool.message_time) == ("tool:shell", "tool", "")
    assert tool.metadata["message_time_raw"] == "last spring"  # not a date: kept, out of the way


def test_json_dump_round_trips(tmp_path, random_encoder):
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(RECORDS), encoding="utf-8")
    counts = import_reme(dump, tmp_path / "ws", encoder=random_encoder)
    assert counts == {"memories": 4, "files": 0, "conflicts": 0, "skipped": 0}
    with Memory(tmp_path / "ws", encoder=random_encoder) as memory:
        check_imported(memory)
        assert memory.count() == 4
    assert verify(tmp_path / "ws").ok


def test_jsonl_dump_and_other_shapes(tmp_path, random_encoder):
    dump = tmp_path / "reme.jsonl"
    lines = [json.dumps(r) for r in RECORDS] + ["", json.dumps(RECORDS[1])]  # a repeated id: the later wins
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = import_reme(dump, tmp_path / "ws", encoder=random_encoder)
    assert counts == {"memories": 4, "files": 0, "conflicts": 0, "skipped": 1}
    with Memory(tmp_path / "ws", encoder=random_encoder) as memory:
        check_imported(memory)

    plain = {
        "nodes": [
            {"memory_id": "m1", "memory_type": "history", "memory_target": "carol", "content": "raw chat", "score": 1},
            {"unique_id": "old1", "workspace_id": "build", "content": "old task memory", "memory_type": "task"},
        ]
    }
    (tmp_path / "plain.json").write_text(json.dumps(plain), encoding="utf-8")
    assert import_reme(tmp_path / "plain.json", tmp_path / "ws", encoder=random_encoder)["memories"] == 2
    with Memory(tmp_path / "ws", encoder=random_encoder) as memory:
        assert (memory.get("m1").memory_target, memory.get("m1").memory_type) == ("user:carol", "history")
        assert (memory.get("old1").memory_target, memory.get("old1").memory_type) == ("task:build", "procedural")


def test_bad_record_leaves_workspace_unchanged(tmp_path, random_encoder):
    ws = tmp_path / "ws"
    with Memory(ws, encoder=random_encoder) as memory:
        memory.add("Existing memory.", target="user:alice")
    before = {p.relative_to(ws): p.read_bytes() for p in ws.rglob("*") if p.is_file() and "reme.db" not in p.name}
    with Memory(ws, encoder=random_encoder) as memory:
        rows_before = [n.model_dump() for n in memory.list()]

    bad = [*RECORDS[:2], {"vector_id": "x", "content": "", "metadata": {"memory_type": "personal"}}]
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"bad\.json\[2\]"):
        import_reme(tmp_path / "bad.json", ws, encoder=random_encoder)
    # a file of one's own memories, not a ReMe dump: the error says which command reads it (issue 24.10)
    (tmp_path / "mine.jsonl").write_text(json.dumps({"text": "I live in Lisbon"}) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"mine\.jsonl:1: no memory content.*reme add --file"):
        import_reme(tmp_path / "mine.jsonl", ws, encoder=random_encoder)
    unknown = [{**RECORDS[0], "metadata": {**RECORDS[0]["metadata"], "memory_type": "gossip"}}]
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(r) for r in unknown), encoding="utf-8")
    with pytest.raises(BadInputError, match=r"bad\.jsonl:1.*gossip"):
        import_reme(tmp_path / "bad.jsonl", ws, encoder=random_encoder)
    (tmp_path / "broken.jsonl").write_text(json.dumps(RECORDS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"broken\.jsonl:2"):
        import_reme(tmp_path / "broken.jsonl", ws, encoder=random_encoder)

    after = {p.relative_to(ws): p.read_bytes() for p in ws.rglob("*") if p.is_file() and "reme.db" not in p.name}
    assert after == before
    with Memory(ws, encoder=random_encoder) as memory:
        assert [n.model_dump() for n in memory.list()] == rows_before
    with pytest.raises(BadInputError, match="does not exist"):
        import_reme(tmp_path / "missing.json", ws, encoder=random_encoder)


def make_light_dir(root: Path) -> None:
    (root / "memory").mkdir(parents=True)
    (root / "dialog").mkdir()
    (root / "tool_result").mkdir()
    (root / "MEMORY.md").write_text("# Long-term\n\n- The user's cat is named Miso.\n", encoding="utf-8")
    (root / "memory" / "2024-05-08.md").write_text("## Facts\n\n- Deployed the zebra service today.\n")
    (root / "dialog" / "2024-05-08.jsonl").write_text(json.dumps({"role": "user", "content": "hi"}) + "\n")
    (root / "tool_result" / "abc.txt").write_text("full tool output\n" * 10)


def test_light_directory_import_copies_and_indexes(tmp_path, random_encoder):
    src, ws = tmp_path / "light", tmp_path / "ws"
    make_light_dir(src)
    counts = import_reme(src, ws, encoder=random_encoder)
    assert counts["files"] == 4 and counts["conflicts"] == 0 and counts["skipped"] == 0 and counts["memories"] >= 2
    for rel in ("MEMORY.md", "memory/2024-05-08.md", "dialog/2024-05-08.jsonl", "tool_result/abc.txt"):
        assert (ws / rel).read_bytes() == (src / rel).read_bytes()
    with Memory(ws, encoder=random_encoder) as memory:
        hits = memory.search("zebra service", target=FILE_TARGET, min_score=-math.inf)
        assert hits and "zebra" in hits[0].memory.content
        assert hits[0].memory.metadata["path"] == "memory/2024-05-08.md"

    again = import_reme(src, ws, encoder=random_encoder)  # identical files: nothing to do
    assert again == {"memories": 0, "files": 0, "conflicts": 0, "skipped": 4}


def test_light_directory_conflicts_never_overwrite(tmp_path, random_encoder):
    src, ws = tmp_path / "light", tmp_path / "ws"
    make_light_dir(src)
    ws.mkdir()
    (ws / "MEMORY.md").write_text("# Mine\n\n- Keep me.\n", encoding="utf-8")
    counts = import_reme(src, ws, encoder=random_encoder)
    assert counts["conflicts"] == 1 and counts["files"] == 4
    assert (ws / "MEMORY.md").read_text(encoding="utf-8") == "# Mine\n\n- Keep me.\n"
    assert (ws / "MEMORY.md.imported-1").read_bytes() == (src / "MEMORY.md").read_bytes()
    assert import_reme(src, ws, encoder=random_encoder)["conflicts"] == 0  # the copy is recognised next time


def test_light_directory_bad_dialog_writes_nothing(tmp_path, random_encoder):
    src, ws = tmp_path / "light", tmp_path / "ws"
    make_light_dir(src)
    (src / "dialog" / "2024-05-09.jsonl").write_text('{"role": "user"}\n[truncated\n', encoding="utf-8")
    with pytest.raises(BadInputError, match=r"dialog/2024-05-09\.jsonl:2"):
        import_reme(src, ws, encoder=random_encoder)
    assert not ws.exists()

    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="neither"):
        import_reme(tmp_path / "empty", ws, encoder=random_encoder)


def test_cli_import_from_reme(tmp_path):
    from typer.testing import CliRunner

    from reme.cli import app

    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n", encoding="utf-8")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["import", "--from", "reme", str(dump), "--workspace", str(ws), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["memories"] == len(RECORDS)
    with Memory(ws) as memory:
        check_imported(memory)
        hits = memory.search("Where does Alice live?", target="user:alice")
        assert hits and hits[0].memory.memory_id == sha16("Alice moved to Lisbon.")
    bad = CliRunner().invoke(app, ["import", "--from", "mem0", str(dump), "--workspace", str(ws)])
    assert bad.exit_code == 2


def test_one_sentence_of_two_users_imports_as_two_memories(tmp_path, random_encoder):
    """ReMe's ids are sha256(content): the same sentence of two users is one id in two targets. Both are kept, each
    in its own target, and importing again over a workspace that holds one of them moves nothing."""
    same = "Prefers green tea."
    dump = tmp_path / "dump.jsonl"
    dump.write_text(
        "".join(json.dumps(vector_node(same, "personal", who)) + "\n" for who in ("alice", "bob")), encoding="utf-8"
    )
    assert import_reme(dump, tmp_path / "ws", encoder=random_encoder)["memories"] == 2
    assert import_reme(dump, tmp_path / "ws", encoder=random_encoder)["memories"] == 2
    with Memory(tmp_path / "ws", encoder=random_encoder) as memory:
        alice, bob = memory.list("user:alice"), memory.list("user:bob")
        assert [n.content for n in alice] == [same] and [n.content for n in bob] == [same]
        assert alice[0].memory_id != bob[0].memory_id and sha16(same) in {alice[0].memory_id, bob[0].memory_id}


def test_deeply_nested_dumps_are_a_clear_error(tmp_path, random_encoder):
    for name in ("deep.json", "deep.jsonl"):
        path = tmp_path / name
        path.write_text("[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
        with pytest.raises(BadInputError, match="nested too deeply"):
            import_reme(path, tmp_path / "ws", encoder=random_encoder)
