"""``reme import --from mem0`` (issue 24.18): a mem0 export (``get_all()``'s JSON, a list, JSON Lines) into a
workspace, every memory in the target and with the metadata its mem0 fields name; bad input refused whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reme.cli import app
from reme.errors import BadInputError
from reme.importers import import_mem0
from reme.memory import Memory

runner = CliRunner()


def mem0_memory(memory: str, **fields) -> dict:
    """A memory as mem0's ``get_all()`` lists it."""
    return {"id": fields.pop("id", f"id-{abs(hash(memory)) % 10**8}"), "memory": memory, "hash": "0" * 32,
            "metadata": fields.pop("metadata", None), "created_at": "2024-07-26T10:29:36.630547-07:00",
            "updated_at": fields.pop("updated_at", None), **fields}  # fmt: skip


EXPORT = {
    "results": [
        mem0_memory("Likes to play cricket on weekends", id="m1", user_id="alex", metadata={"category": "hobbies"}),
        mem0_memory(
            "Is vegetarian",
            id="m2",
            user_id="alex",
            run_id="trip-planning",
            agent_id="planner",
            updated_at="2024-08-01T09:00:00Z",
            categories=["food"],
        ),
        mem0_memory("Answers in bullet points", id="m3", agent_id="planner"),
        mem0_memory("Nobody's note", id="m4"),
        mem0_memory("Is vegetarian", id="m5", user_id="alex"),  # the same text in the same target: one memory
    ],
    "relations": [],
}


def test_a_mem0_export_lands_in_its_targets_with_its_fields(tmp_path, random_encoder):
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps(EXPORT), encoding="utf-8")
    with Memory(tmp_path / "ws", encoder=random_encoder) as mem:
        assert import_mem0(path, mem) == {"memories": 4, "skipped": 1}
        alex = {n.content: n for n in mem.list("user:alex")}
        assert set(alex) == {"Likes to play cricket on weekends", "Is vegetarian"}
        cricket, veg = alex["Likes to play cricket on weekends"], alex["Is vegetarian"]
        assert cricket.metadata == {"category": "hobbies", "mem0_id": "m1"}
        assert veg.metadata == {"mem0_id": "m2", "session_id": "trip-planning", "agent_id": "planner",
                                "categories": ["food"], "mem0_updated_at": "2024-08-01T09:00:00Z"}  # fmt: skip
        assert cricket.message_time.startswith("2024-07-26T10:29:36") and cricket.time_created == cricket.message_time
        assert [n.content for n in mem.list("agent:planner")] == ["Answers in bullet points"]
        assert [n.content for n in mem.list("default")] == ["Nobody's note"]
        # the session is a filter on the user's memory
        hits = mem.search("vegetarian", target="user:alex", min_score=-1.0, filters={"session_id": "trip-planning"})
        assert [h.memory.content for h in hits] == ["Is vegetarian"]


def test_a_list_and_json_lines_import_too_and_bad_records_are_refused_whole(tmp_path, random_encoder):
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(EXPORT["results"][:2]), encoding="utf-8")
    lines = tmp_path / "mem0.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in EXPORT["results"][2:4]) + "\n", encoding="utf-8")
    with Memory(tmp_path / "ws", encoder=random_encoder) as mem:
        assert import_mem0(listed, mem)["memories"] == 2 and import_mem0(lines, mem)["memories"] == 2
        assert mem.count() == 4
        for records, needle in (
            ([mem0_memory("ok", user_id="a"), {"id": "x", "user_id": "a"}], r"list2?\.json\[1\]: no 'memory' text"),
            ([mem0_memory("ok", user_id="a", metadata=["not", "an", "object"])], "metadata must be an object"),
            ([mem0_memory("ok", user_id={"nested": 1})], "user_id must be a string"),
            ([{**mem0_memory("ok", user_id="a"), "created_at": "yesterday"}], "created_at"),
        ):
            bad = tmp_path / "list2.json"
            bad.write_text(json.dumps(records), encoding="utf-8")
            with pytest.raises(BadInputError, match=needle):
                import_mem0(bad, mem)
        assert mem.count() == 4  # nothing of a refused file was written


def test_reme_import_from_mem0_on_the_command_line(tmp_path: Path):
    path = tmp_path / "mem0.json"
    path.write_text(json.dumps(EXPORT), encoding="utf-8")
    ws = str(tmp_path / "ws")
    r = runner.invoke(app, ["-w", ws, "import", "--from", "mem0", str(path), "--json", "-"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"memories": 4, "skipped": 1}
    r = runner.invoke(app, ["-w", ws, "list", "--target", "user:alex", "--json", "-"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 2
    r = runner.invoke(app, ["-w", ws, "import", "--from", "letta", str(path)])
    assert r.exit_code == 2 and "mem0" in r.output
    r = runner.invoke(app, ["-w", ws, "import", "--from", "mem0", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "is not a file" in r.output
