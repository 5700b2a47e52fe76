"""ReMeLight's non-LLM components: message formats, ReMe's transcript, tool-result compaction, the context check
and the in-memory working memory."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import sys
import time
import types
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from reme.errors import BadInputError, NotFoundError, ReMeError
from reme.messages import message_token_count, rule_token_count
from reme.policy.compact import CompactState, HeuristicCompactPolicy, apply
from reme.policy.trajectory import TrajectoryLog, read_records
from reme.reme_light import (
    TRUNCATION_MARKER,
    Msg,
    ReMeInMemoryMemory,
    ToolResponse,
    TruncationNotice,
    build_compact_state,
    calculate_memory_compact_threshold,
    check_context,
    clean_expired_tool_results,
    compact_tool_results,
    format_message,
    format_messages,
    is_system_prompt,
    is_tool_result_message,
    make_msg,
    make_tool_response,
    message_text,
    message_tokens,
    msg_classes,
    parse_notice,
    read_tool_result,
    to_compact_dict,
    to_msg,
    validate_messages,
    view_message,
)
from reme.reme_light.in_memory import COMPRESSED_MARK, MessageStat

# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


def tool_use_msg(call_id: str, name: str = "shell", args: dict | None = None, text: str = "") -> Msg:
    blocks: list = [{"type": "text", "text": text}] if text else []
    blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": args or {"cmd": "ls"}})
    return Msg("assistant", blocks, "assistant")


def tool_result_msg(call_id: str, output, name: str = "shell") -> Msg:
    """AgentScope's ReActAgent stores a tool result in a ``system`` message named ``system``."""
    return Msg("system", [{"type": "tool_result", "id": call_id, "name": name, "output": output}], "system")


def oa_call(call_id: str, name: str = "shell", arguments: str = '{"cmd": "ls"}') -> dict:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


def oa_result(call_id: str, content) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def big_text(lines: int, width: int = 40) -> str:
    """``lines`` lines of ``width + 9`` bytes each (``row NNNN `` + x's), no trailing newline."""
    return "\n".join(f"row {i:04d} " + "x" * width for i in range(lines))


def notice_of(text: str) -> tuple[str, TruncationNotice]:
    parsed = parse_notice(text)
    assert parsed is not None, "the text carries a notice"
    return parsed


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.txt")) if directory.exists() else []


# --------------------------------------------------------------------------------------------------------------
# messages: the stand-in Msg, ToolResponse and msg_classes
# --------------------------------------------------------------------------------------------------------------


def test_stand_in_msg_fields_and_round_trip():
    msg = Msg("alice", "hello", "user", metadata={"k": 1})
    assert re.fullmatch(r"[0-9a-f]{32}", msg.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", msg.timestamp)
    d = msg.to_dict()
    assert set(d) == {"id", "name", "role", "content", "metadata", "timestamp"}
    back = Msg.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    assert back.get_text_content() == "hello"
    assert back.get_content_blocks() == [{"type": "text", "text": "hello"}]


def test_stand_in_msg_blocks():
    msg = Msg(
        "bot",
        [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "a"},
            {"type": "tool_use", "id": "c1", "name": "f", "input": {}},
            {"type": "text", "text": "b"},
        ],
        "assistant",
    )
    assert msg.get_text_content() == "a\nb"
    assert [b["id"] for b in msg.get_content_blocks("tool_use")] == ["c1"]
    assert msg.has_content_blocks("thinking") and not msg.has_content_blocks("tool_result")
    assert (
        Msg("bot", [{"type": "tool_use", "id": "c", "name": "f", "input": {}}], "assistant").get_text_content() is None
    )
    with pytest.raises(BadInputError, match="role"):
        Msg("x", "hi", "tool")
    with pytest.raises(BadInputError, match="content"):
        Msg("x", 42, "user")
    with pytest.raises(BadInputError, match="missing"):
        Msg.from_dict({"name": "x", "role": "user"})


def test_msg_classes_without_agentscope_are_the_stand_ins():
    msg_classes.cache_clear()
    classes = msg_classes()
    assert classes.Msg is Msg and classes.ToolResponse is ToolResponse and classes.agentscope is False
    msg = make_msg("u", "hi", "user", timestamp="2026-01-02 03:04:05.678")
    assert isinstance(msg, Msg) and msg.timestamp == "2026-01-02 03:04:05.678"
    response = make_tool_response("[]")
    assert isinstance(response, ToolResponse)
    assert response.content == [{"type": "text", "text": "[]"}]
    assert response.stream is False and response.is_last is True and re.fullmatch(r"[0-9a-f]{32}", response.id)


def test_msg_classes_prefers_agentscope_when_importable(monkeypatch):
    class FakeMsg(Msg):
        pass

    class FakeResponse(ToolResponse):
        pass

    package = types.ModuleType("agentscope")
    message_module = types.ModuleType("agentscope.message")
    tool_module = types.ModuleType("agentscope.tool")
    message_module.Msg = FakeMsg
    message_module.TextBlock = dict
    tool_module.ToolResponse = FakeResponse
    monkeypatch.setitem(sys.modules, "agentscope", package)
    monkeypatch.setitem(sys.modules, "agentscope.message", message_module)
    monkeypatch.setitem(sys.modules, "agentscope.tool", tool_module)
    msg_classes.cache_clear()
    try:
        assert msg_classes().agentscope is True
        assert isinstance(make_msg("u", "hi", "user"), FakeMsg)
        assert isinstance(make_tool_response("x"), FakeResponse)
        assert isinstance(to_msg({"role": "user", "content": "hi"}), FakeMsg)
    finally:
        msg_classes.cache_clear()
    monkeypatch.undo()
    assert msg_classes().Msg is Msg


# --------------------------------------------------------------------------------------------------------------
# messages: normalisation of both formats, validation, counting
# --------------------------------------------------------------------------------------------------------------


def test_openai_dicts_are_viewed_as_agentscope_blocks():
    call = oa_call("c1", "read_file", '{"path": "a.txt"}')
    call["reasoning_content"] = "need the file"
    view = view_message(call)
    assert [b["type"] for b in view.blocks] == ["thinking", "tool_use"]
    use = view.blocks[1]
    assert use["id"] == "c1" and use["name"] == "read_file" and use["input"] == {"path": "a.txt"}
    result = view_message(oa_result("c1", [{"type": "text", "text": "body"}]))
    assert result.role == "tool" and result.blocks[0]["type"] == "tool_result" and result.blocks[0]["id"] == "c1"
    parts = view_message(
        {"role": "user", "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "u"}}]}
    )
    assert parts.blocks == [{"type": "text", "text": "see"}, {"type": "image", "source": {"type": "url", "url": "u"}}]
    assert view_message(oa_call("c2", arguments="not json")).blocks[0]["input"] == {}


def test_to_msg_converts_dicts_and_keeps_msgs():
    msg = Msg("u", "hi", "user")
    assert to_msg(msg) is msg
    converted = to_msg({"role": "user", "content": "plain", "id": "m1", "timestamp": "2026-01-01 00:00:00.000"})
    assert isinstance(converted, Msg) and converted.content == "plain" and converted.id == "m1"
    assert converted.timestamp == "2026-01-01 00:00:00.000"
    tool = to_msg(oa_result("c1", "out"))
    assert tool.role == "system" and tool.content[0] == {"type": "tool_result", "id": "c1", "name": "", "output": "out"}
    call = to_msg(oa_call("c1"))
    assert call.role == "assistant" and call.content == [
        {"type": "tool_use", "id": "c1", "name": "shell", "input": {"cmd": "ls"}}
    ]


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (42, "message 1: expected an AgentScope Msg or a dict"),
        ({"content": "no role"}, "message 1: missing 'role'"),
        ({"role": "robot", "content": "x"}, "message 1: role must be one of"),
        ({"role": "user", "content": 3.5}, "message 1: content must be"),
        ({"role": "user", "content": ["not a block"]}, "message 1: content block 0"),
        ({"role": "assistant", "content": None, "tool_calls": "x"}, "message 1: tool_calls must be a list"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}, r"message 1: tool_calls\[0\]"),
        ({"role": "tool", "tool_call_id": 7, "content": "x"}, "message 1: tool_call_id must be a string"),
        (
            {"role": "system", "content": [{"type": "tool_result", "id": "c", "name": "f", "output": 5}]},
            "message 1: the output of tool_result block 0",
        ),
    ],
)
def test_malformed_messages_name_the_index(bad, pattern):
    messages = [{"role": "user", "content": "fine"}, bad]
    with pytest.raises(BadInputError, match=pattern):
        validate_messages(messages)
    with pytest.raises(BadInputError, match=pattern):
        format_messages(messages, None)
    with pytest.raises(BadInputError, match=pattern):
        check_context(messages, 0)


def test_malformed_msg_objects_and_containers():
    bad = Msg("u", "x", "user")
    bad.content = 12
    with pytest.raises(BadInputError, match="message 0: content must be"):
        validate_messages([bad])
    with pytest.raises(BadInputError, match="list of messages"):
        validate_messages("hello")
    with pytest.raises(BadInputError, match="list of messages"):
        validate_messages({"role": "user"})


def test_token_counts_match_the_compact_state_in_both_formats():
    text = "héllo wörld, 你好 " * 20
    as_msgs = [
        Msg("u", text, "user"),
        tool_use_msg("c1", args={"q": text}),
        tool_result_msg("c1", [{"type": "text", "text": text}]),
    ]
    oa_msgs = [
        {"role": "user", "content": text},
        oa_call("c1", arguments=json.dumps({"q": text})),
        oa_result("c1", text),
    ]
    for messages in (as_msgs, oa_msgs):
        state = CompactState.from_messages([to_compact_dict(m) for m in messages])
        assert state.tokens == [message_tokens(m) for m in messages]
        assert state.tool_use_ids == [[], ["c1"], []]
        assert state.tool_result_ids == [[], [], ["c1"]]
        assert message_tokens(messages[0]) == rule_token_count(text)
    assert message_tokens(as_msgs[0], counter=len) == len(text)
    assert message_tokens(oa_msgs[0], counter=lambda s: 7) == 7


def test_message_text_and_predicates():
    assert message_text({"role": "user", "content": "abc"}) == "abc"
    assert message_text(Msg("b", [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}], "assistant")) == "x\ny"
    assert message_text(oa_result("c", "output")) == ""
    assert is_tool_result_message(oa_result("c", "o")) and is_tool_result_message(tool_result_msg("c", "o"))
    assert not is_tool_result_message(tool_use_msg("c"))
    assert is_system_prompt({"role": "system", "content": "be nice"})
    assert not is_system_prompt(tool_result_msg("c", "o"))  # AgentScope tool results live in system messages


# --------------------------------------------------------------------------------------------------------------
# ReMe's transcript format
# --------------------------------------------------------------------------------------------------------------


def test_format_message_layout():
    msg = Msg(
        "bot",
        [
            {"type": "thinking", "thinking": "plan\nsteps"},
            {"type": "text", "text": "line one\nline two"},
            {"type": "tool_use", "id": "c1", "name": "grep", "input": {"pattern": "x"}},
        ],
        "assistant",
        timestamp="2026-03-01 10:00:00.000",
    )
    assert format_message(msg) == (
        "[2026-03-01 10:00:00.000] bot:\n[think]: plan steps\n[text]: line one line two\n"
        '[tool_use]: grep params={"pattern": "x"}'
    )
    assert "[think]" not in format_message(msg, include_thinking=False)
    result = tool_result_msg("c1", "found\nit")
    result.timestamp = "2026-03-01 10:00:01.000"
    assert format_message(result) == "[2026-03-01 10:00:01.000] system:\n[tool_result]: shell output=found it"
    assert format_message({"role": "user", "content": "hi"}) == "user:\n[text]: hi"


def test_format_blocks_are_cut_to_1000_chars():
    long = "a" * 999 + "\n" + "b" * 500
    line = format_message({"role": "user", "content": long}).split("\n")[1]
    assert line == "[text]: " + "a" * 999 + " " + "...", "newlines flattened, 1000 characters kept, then ..."
    exact = format_message({"role": "user", "content": "c" * 1000}).split("\n")[1]
    assert exact == "[text]: " + "c" * 1000
    truncated_output = (
        "head line\n\n" + TRUNCATION_MARKER + "\n\nFile: /x.txt\nContent from start_line=1, next 9 bytes."
    )
    shown = format_message(tool_result_msg("c", truncated_output)).split("\n")[1]
    assert shown == "[tool_result]: shell output=head line"


def test_format_messages_openai_tool_results_get_their_tool_name():
    text = format_messages([oa_call("c1", "read_file", '{"path": "a"}'), oa_result("c1", "contents")], None)
    assert (
        text
        == 'assistant:\n[tool_use]: read_file params={"path": "a"}\n\ntool:\n[tool_result]: read_file output=contents'
    )


def test_format_messages_drops_oldest_first_and_keeps_chronological_order():
    messages = [{"role": "user", "content": f"message {i} " + "z" * 300} for i in range(6)]
    each = [rule_token_count(format_message(m)) for m in messages]
    assert len(set(each)) == 1
    every = format_messages(messages, None)
    assert every == "\n\n".join(format_message(m) for m in messages)
    three = format_messages(messages, 3 * each[0])
    assert three == "\n\n".join(format_message(m) for m in messages[3:])
    assert format_messages(messages, 3 * each[0] - 1) == "\n\n".join(format_message(m) for m in messages[4:])
    # the latest message is always included, even alone over the limit
    assert format_messages(messages, 1) == format_message(messages[-1])
    assert format_messages([], 10) == ""
    # a custom counter decides the cut
    assert format_messages(messages, 2, counter=lambda s: 1) == "\n\n".join(format_message(m) for m in messages[4:])
    with pytest.raises(BadInputError):
        format_messages(messages, 2.5)


def test_format_messages_stops_at_the_first_message_that_does_not_fit():
    small, large = {"role": "user", "content": "s"}, {"role": "user", "content": "L" * 4000}
    messages = [small, large, small]
    budget = rule_token_count(format_message(small)) * 3  # a small older message would fit, the large one does not
    assert format_messages(messages, budget) == format_message(small)


# --------------------------------------------------------------------------------------------------------------
# tool-result compaction
# --------------------------------------------------------------------------------------------------------------


def test_small_and_slack_results_are_left_alone(tmp_path):
    within_slack = "y" * 3100  # 3000 + 100 bytes
    messages = [tool_use_msg("c1"), tool_result_msg("c1", within_slack), Msg("u", "next", "user")]
    before = copy.deepcopy([m.to_dict() for m in messages])
    assert compact_tool_results(messages, tmp_path / "tool_result") is messages
    assert [m.to_dict() for m in messages] == before
    assert files_in(tmp_path / "tool_result") == []


def test_large_old_result_exact_notice_and_recovery_file(tmp_path):
    text = big_text(200)  # 49-byte lines: 60 lines + 59 newlines = 2999 bytes fit in 3000
    directory = tmp_path / "tool_result"
    messages = [tool_use_msg("c1"), tool_result_msg("c1", text), Msg("u", "thanks", "user")]
    out = compact_tool_results(messages, directory)
    assert out is messages
    (saved,) = files_in(directory)
    assert re.fullmatch(r"[0-9a-f]{32}\.txt", saved.name)
    assert saved.read_text(encoding="utf-8") == text
    head = "\n".join(text.split("\n")[:60])
    expected = (
        f"{head}\n\n<<<TRUNCATED>>>\n\nFile: {saved.resolve()}\nContent from start_line=1, next 2999 bytes.\n"
        "total_lines=200\nUse start_line=61 to continue."
    )
    assert messages[1].content[0]["output"] == expected
    shown, notice = notice_of(expected)
    assert shown == head and notice.next_line == 61 and notice.total_lines == 200 and notice.shown_bytes == 2999
    # recovery: the head again, then the rest from the continuation line
    assert read_tool_result(saved, 1, max_bytes=2999).split("\n\n" + TRUNCATION_MARKER)[0] == head
    rest = read_tool_result(saved, 61, max_bytes=10**6)
    assert rest == "\n".join(text.split("\n")[60:])


def test_cut_is_at_a_line_boundary_within_max_bytes(tmp_path):
    lines = [f"{i}:" + "w" * (i % 37) for i in range(400)]
    text = "\n".join(lines)
    messages = [tool_result_msg("c1", text), Msg("u", "more", "user")]
    compact_tool_results(messages, tmp_path, old_max_bytes=1000)
    shown, notice = notice_of(messages[0].content[0]["output"])
    assert len(shown.encode()) <= 1000 and len(shown.encode()) == notice.shown_bytes
    shown_lines = shown.split("\n")
    assert shown_lines == lines[: len(shown_lines)], "whole lines only"
    assert len("\n".join(lines[: len(shown_lines) + 1]).encode()) > 1000, "as many whole lines as fit"
    assert notice.next_line == len(shown_lines) + 1


def test_multibyte_text_is_never_split_inside_a_character(tmp_path):
    one_line = "中" * 3000  # 9000 bytes, no newline
    many = "\n".join("é" * 50 + "中" * 11 for _ in range(100))
    messages = [tool_result_msg("a", one_line), tool_result_msg("b", many), Msg("u", "x", "user")]
    compact_tool_results(messages, tmp_path, old_max_bytes=1000)
    shown, notice = notice_of(messages[0].content[0]["output"])
    assert shown == "中" * 333 and notice.shown_bytes == 999 and notice.next_line == 2
    shown, notice = notice_of(messages[1].content[0]["output"])
    assert all(line == "é" * 50 + "中" * 11 for line in shown.split("\n"))
    assert len(shown.encode()) <= 1000
    for path in files_in(tmp_path):
        assert path.read_text(encoding="utf-8") in (one_line, many)


def test_recent_results_get_the_recent_limit(tmp_path):
    text = big_text(300)  # 14,999 bytes
    messages = [
        tool_use_msg("c1"),
        tool_result_msg("c1", text),  # old
        tool_use_msg("c2"),
        tool_result_msg("c2", text),  # trailing run of two tool results: recent
        tool_result_msg("c3", text),
    ]
    compact_tool_results(messages, tmp_path, old_max_bytes=3000, recent_max_bytes=10_000)
    sizes = [notice_of(m.content[0]["output"])[1].shown_bytes for m in (messages[1], messages[3], messages[4])]
    assert sizes[0] <= 3000 and sizes[1] > 3000 and sizes[2] > 3000
    assert max(sizes) <= 10_000
    assert len(files_in(tmp_path)) == 3


def test_recent_n_is_a_minimum(tmp_path):
    text = big_text(100)  # 4,999 bytes
    messages = [tool_result_msg("c1", text), tool_use_msg("c2"), Msg("u", "latest", "user")]
    compact_tool_results(messages, tmp_path, old_max_bytes=1000, recent_max_bytes=50_000, recent_n=3)
    assert messages[0].content[0]["output"] == text  # within the last 3 messages: recent
    compact_tool_results(messages, tmp_path, old_max_bytes=1000, recent_max_bytes=50_000, recent_n=2)
    assert TRUNCATION_MARKER in messages[0].content[0]["output"]


def test_openai_tool_dicts_and_list_outputs_are_mutated_in_place(tmp_path):
    text = big_text(200)
    messages = [
        oa_call("c1"),
        oa_result("c1", text),
        oa_call("c2"),
        oa_result("c2", [{"type": "text", "text": text}, {"type": "text", "text": "short"}]),
        {"role": "user", "content": "go on"},
    ]
    first_block = messages[3]["content"]
    out = compact_tool_results(messages, tmp_path)
    assert out is messages and messages[3]["content"] is first_block
    assert TRUNCATION_MARKER in messages[1]["content"]
    assert TRUNCATION_MARKER in first_block[0]["text"] and first_block[1]["text"] == "short"
    assert len(files_in(tmp_path)) == 2


def test_two_phase_retruncation_keeps_the_same_file(tmp_path):
    text = big_text(400)  # 19,999 bytes
    messages = [tool_use_msg("c1"), tool_result_msg("c1", text)]
    compact_tool_results(messages, tmp_path, old_max_bytes=3000, recent_max_bytes=10_000)
    (saved,) = files_in(tmp_path)
    recent_shown, recent_notice = notice_of(messages[1].content[0]["output"])
    assert recent_notice.shown_bytes > 9000
    # later turns: the result is no longer recent
    messages += [Msg("bot", "done", "assistant"), Msg("u", "next task", "user")]
    compact_tool_results(messages, tmp_path, old_max_bytes=3000, recent_max_bytes=10_000)
    assert files_in(tmp_path) == [saved], "no second file"
    old_shown, old_notice = notice_of(messages[1].content[0]["output"])
    assert old_notice.path == recent_notice.path == str(saved.resolve())
    assert old_notice.total_lines == 400 and old_notice.start_line == 1
    assert old_notice.shown_bytes == len(old_shown.encode()) <= 3000
    assert recent_shown.startswith(old_shown) and old_notice.next_line == old_shown.count("\n") + 2
    assert saved.read_text(encoding="utf-8") == text
    # idempotent: a third pass changes nothing
    again = messages[1].content[0]["output"]
    compact_tool_results(messages, tmp_path, old_max_bytes=3000, recent_max_bytes=10_000)
    assert messages[1].content[0]["output"] == again


def test_errors_return_the_original_list_unchanged(tmp_path, caplog):
    text = big_text(200)
    messages = [tool_result_msg("c1", text), 17, Msg("u", "x", "user")]
    snapshot = messages[0].to_dict()
    out = compact_tool_results(messages, tmp_path / "tool_result")
    assert out is messages and messages[0].to_dict() == snapshot
    assert files_in(tmp_path / "tool_result") == [], "files of a failed call are removed"
    assert "compact_tool_results failed" in caplog.text
    # an unusable folder (a file stands where the folder should be)
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    good = [tool_result_msg("c1", text), Msg("u", "x", "user")]
    snapshot = good[0].to_dict()
    assert compact_tool_results(good, blocker) is good and good[0].to_dict() == snapshot
    # a bad limit
    assert compact_tool_results(good, tmp_path, old_max_bytes=0) is good and good[0].to_dict() == snapshot


def test_compaction_writes_only_inside_the_tool_result_dir(tmp_path):
    directory = tmp_path / "ws" / "tool_result"
    before = {p for p in tmp_path.rglob("*")}
    messages = [tool_result_msg("c1", big_text(200)), Msg("u", "x", "user")]
    compact_tool_results(messages, directory)
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p == directory or directory in p.parents or p in directory.parents for p in created)


def test_expired_files_are_cleaned(tmp_path):
    old, fresh, other = tmp_path / "old.txt", tmp_path / "fresh.txt", tmp_path / "old.log"
    for path in (old, fresh, other):
        path.write_text("x")
    four_days_ago = time.time() - 4 * 86400
    os.utime(old, (four_days_ago, four_days_ago))
    os.utime(other, (four_days_ago, four_days_ago))
    assert clean_expired_tool_results(tmp_path, retention_days=3) == 1
    assert not old.exists() and fresh.exists() and other.exists()
    assert clean_expired_tool_results(tmp_path / "missing") == 0
    with pytest.raises(BadInputError):
        clean_expired_tool_results(tmp_path, retention_days=-1)
    # compaction also drops expired files
    stale = tmp_path / "stale.txt"
    stale.write_text("x")
    os.utime(stale, (four_days_ago, four_days_ago))
    compact_tool_results([Msg("u", "x", "user")], tmp_path, retention_days=3)
    assert not stale.exists() and fresh.exists()


def test_read_tool_result_pages_and_confinement(tmp_path):
    text = big_text(100)
    (tmp_path / "abc.txt").write_text(text, encoding="utf-8")
    page = read_tool_result("abc.txt", 1, max_bytes=499, tool_result_dir=tmp_path)  # 10 lines = 499 bytes
    shown, notice = notice_of(page)
    assert shown == "\n".join(text.split("\n")[:10]) and notice.next_line == 11 and notice.total_lines == 100
    assert read_tool_result(tmp_path / "abc.txt", 95) == "\n".join(text.split("\n")[94:])
    with pytest.raises(BadInputError, match="outside"):
        read_tool_result("../elsewhere.txt", tool_result_dir=tmp_path)
    with pytest.raises(NotFoundError):
        read_tool_result(tmp_path / "nope.txt")
    with pytest.raises(BadInputError, match="past the end"):
        read_tool_result(tmp_path / "abc.txt", 101)


# --------------------------------------------------------------------------------------------------------------
# the context check
# --------------------------------------------------------------------------------------------------------------


def test_threshold_formula():
    assert calculate_memory_compact_threshold(128 * 1024, 0.7) == 87162
    assert calculate_memory_compact_threshold(1000, 0.5) == 475
    with pytest.raises(BadInputError):
        calculate_memory_compact_threshold(-1, 0.7)


def test_below_threshold_keeps_everything_without_a_decision(tmp_path):
    messages = [Msg("u", "hello", "user"), Msg("bot", "hi", "assistant")]
    log = TrajectoryLog(tmp_path / "traj")
    to_compact, to_keep, valid, decision = check_context(messages, 10_000, trajectory=log)
    assert to_compact == [] and to_keep is messages and valid is True and decision is None
    assert list(read_records(tmp_path / "traj")) == []
    assert check_context([], 0) == ([], [], True, None)


def conversation(n_turns: int, size: int) -> list:
    """User question, assistant tool call, tool result, assistant answer; repeated (AgentScope messages)."""
    out: list = []
    for t in range(n_turns):
        out.append(Msg("user", f"question {t} " + "q" * size, "user"))
        out.append(tool_use_msg(f"c{t}", args={"q": t}))
        out.append(tool_result_msg(f"c{t}", "r" * (size * 2)))
        out.append(Msg("assistant", f"answer {t} " + "a" * size, "assistant"))
    return out


@pytest.mark.parametrize("as_openai", [False, True])
def test_over_threshold_split_is_the_heuristic_policy_plus_apply(as_openai):
    messages = conversation(6, 400)
    if as_openai:
        messages = [_as_openai(m) for m in messages]
    state = CompactState.from_messages([to_compact_dict(m) for m in messages], budget=600)
    if not as_openai:  # AgentScope's tool results are system-role messages: conversation, not protected prompts
        state = replace(state, protected=[False] * len(messages))
    assert state == build_compact_state(messages, 600)
    decision = HeuristicCompactPolicy().decide(state)
    expected_compact, expected_keep, expected_valid = apply(state, decision)
    to_compact, to_keep, valid, got = check_context(messages, 1000, 600)
    assert got is not None and got.action == decision.action and got.logprob == decision.logprob
    assert valid is expected_valid is True
    assert to_compact == [messages[i] for i in expected_compact]
    assert to_keep == [messages[i] for i in expected_keep]
    assert to_keep and to_compact and to_compact + to_keep == messages  # a tail is kept, everything older compacted
    # ReMe's tail rule: the kept tokens fit the reserve, and the next older message would not
    kept_tokens = sum(message_tokens(m) for m in to_keep)
    assert kept_tokens <= 600 and kept_tokens + message_tokens(to_compact[-1]) > 600


def _as_openai(msg: Msg) -> dict:
    block = msg.content[0] if isinstance(msg.content, list) else None
    if block and block["type"] == "tool_use":
        return oa_call(block["id"], block["name"], json.dumps(block["input"]))
    if block and block["type"] == "tool_result":
        return oa_result(block["id"], block["output"])
    return {"role": msg.role, "content": msg.content}


def test_kept_tool_results_keep_their_calls():
    messages = conversation(4, 300)
    # reserve that ends the kept tail at a tool result: its call (one message older) must come along
    tokens = [message_tokens(m) for m in messages]
    # room for messages 9..15: the tool result at 10 is kept and pulls in its call at 9
    to_compact, to_keep, valid, decision = check_context(messages, 0, sum(tokens[9:]))
    assert valid and decision is not None and to_keep == messages[9:]
    assert decision.extra["forced_by"][9] == "tool_call"
    # two tokens short of that: the result at 10 would fit alone, but not with its call, so the tail stops at 11
    to_compact, to_keep, valid, decision = check_context(messages, 0, sum(tokens[9:]) - 2)
    assert valid and decision is not None and to_keep == messages[11:] and to_compact == messages[:11]
    for kept in (to_keep, messages[9:]):
        uses = {b["id"] for m in kept for b in m.get_content_blocks("tool_use")}
        results = {b["id"] for m in kept for b in m.get_content_blocks("tool_result")}
        assert uses == results, "tool pairs stay closed in the kept messages"


def test_an_open_tool_call_makes_the_split_invalid_and_skipped():
    messages = [*conversation(3, 300), tool_use_msg("pending")]  # the newest call has no result yet
    to_compact, to_keep, valid, decision = check_context(messages, 0, 2000)
    assert (to_compact, to_keep, valid) == ([], messages, False)
    assert decision is not None and decision.extra["is_valid"] is False


def test_system_prompts_are_protected_but_agentscope_tool_results_are_not():
    system = Msg("system", "You are helpful. " * 50, "system")
    messages = [system, *conversation(5, 300)]
    to_compact, to_keep, valid, decision = check_context(messages, 0, 1500)
    assert valid and to_keep[0] is system and decision is not None
    assert decision.forced is not None and decision.extra["forced_by"][0] == "protected"
    state = build_compact_state(messages, 1500)
    assert state.protected == [True] + [False] * 20  # the system-role tool results are conversation
    assert any(m.role == "system" for m in to_compact), "old tool results (system role) are compacted"


def test_decision_goes_to_the_trajectory_and_rescores(tmp_path):
    messages = conversation(5, 350)
    log = TrajectoryLog(tmp_path / "trajectories")
    _, _, valid, decision = check_context(messages, 100, 1200, trajectory=log)
    log.close()
    assert decision is not None and valid
    (line,) = list(read_records(tmp_path / "trajectories"))
    assert line.error is None and line.record is not None and line.record.decision_id == decision.decision_id
    policy = HeuristicCompactPolicy()
    state = policy.state_from_record(line.record)
    assert state == build_compact_state(messages, 1200)
    assert policy.logprob(state, decision.action) == decision.logprob
    assert policy.logprob(build_compact_state(messages, 1200), decision.action) == decision.logprob


def test_sampling_mode_and_custom_counter():
    messages = conversation(4, 200)
    rng = np.random.default_rng(0)
    _, _, _, decision = check_context(messages, 0, 800, mode="sample", rng=rng)
    assert decision is not None and decision.mode == "sample"
    state = build_compact_state(messages, 800)
    assert HeuristicCompactPolicy().logprob(state, decision.action) == pytest.approx(decision.logprob)

    class Counter:
        def count_text(self, text: str) -> int:
            return len(text)

    _, _, _, by_chars = check_context(messages, 0, 800, token_counter=Counter())
    assert by_chars is not None and by_chars.inputs["tokens"] == [
        message_token_count(to_compact_dict(m), len) for m in messages
    ]
    with pytest.raises(BadInputError):
        check_context(messages, -1)
    with pytest.raises(BadInputError):
        check_context(messages, 0, mode="beam")
    with pytest.raises(BadInputError):
        check_context(messages, 0, token_counter=42)


# --------------------------------------------------------------------------------------------------------------
# the in-memory working memory
# --------------------------------------------------------------------------------------------------------------


def today_file(dialog: Path) -> Path:
    return dialog / f"{datetime.now():%Y-%m-%d}.jsonl"


def test_memory_basic_api(tmp_path):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        first = Msg("u", "one", "user")
        await memory.add(first)
        await memory.add([Msg("bot", "two", "assistant"), {"role": "user", "content": "three", "id": "m3"}])
        await memory.add(first)  # duplicate id: skipped
        assert await memory.size() == 3
        got = await memory.get_memory()
        assert [message_text(m) for m in got] == ["one", "two", "three"] and got[0].id == first.id
        assert got[0] is not first  # added messages are copied, as AgentScope's memory does
        assert isinstance(got[2], Msg) and got[2].id == "m3"
        assert await memory.delete("m3") == 1
        assert await memory.delete(0) == 1
        with pytest.raises(BadInputError):
            await memory.delete(5)
        await memory.add(Msg("u", "hint", "user"), marks="hint")
        assert [message_text(m) for m in await memory.get_memory(mark="hint")] == ["hint"]
        assert [message_text(m) for m in await memory.get_memory(exclude_mark="hint")] == ["two"]
        assert await memory.update_messages_mark(COMPRESSED_MARK, old_mark="hint") == 1
        assert [message_text(m) for m in await memory.get_memory()] == ["two"]  # compressed ones are hidden
        await memory.clear()
        assert await memory.size() == 0
        assert not today_file(tmp_path / "dialog").exists(), "clear() does not persist"

    run(scenario())


def test_compressed_messages_reach_the_dialog_file_before_removal(tmp_path, monkeypatch):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        messages = [Msg("u", f"m{i}", "user") for i in range(4)]
        await memory.add(messages)
        seen_during_fsync: list[int] = []
        real_fsync = os.fsync

        def spy(fd):
            seen_during_fsync.append(len(memory.content))
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", spy)
        removed = await memory.mark_messages_compressed(messages[:2])
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert removed == 2 and seen_during_fsync and seen_during_fsync[0] == 4
        lines = today_file(tmp_path / "dialog").read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == [m.to_dict() for m in messages[:2]]
        assert [message_text(m) for m in await memory.get_memory()] == ["m2", "m3"]
        assert await memory.mark_messages_compressed([]) == 0

    run(scenario())


def test_a_failed_save_removes_nothing(tmp_path):
    async def scenario():
        blocker = tmp_path / "dialog"
        blocker.write_text("a file where the folder should be")
        memory = ReMeInMemoryMemory(blocker)
        messages = [Msg("u", "keep me", "user")]
        await memory.add(messages)
        with pytest.raises(ReMeError):
            await memory.mark_messages_compressed(messages)
        with pytest.raises(ReMeError):
            memory.clear_content()
        assert await memory.size() == 1

    run(scenario())


def test_summary_is_prepended(tmp_path):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        await memory.add(Msg("u", "latest", "user"))
        assert len(await memory.get_memory()) == 1
        await memory.update_compressed_summary("## Goal\nship it")
        got = await memory.get_memory()
        assert len(got) == 2 and got[0].role == "user" and message_text(got[1]) == "latest"
        text = got[0].content
        where = text.index("dialog/YYYY-MM-DD.jsonl")
        at = text.index("## Goal\nship it")
        closing = text.index("summary of the previous conversation")
        assert where < at < closing
        assert len(await memory.get_memory(prepend_summary=False)) == 1
        assert memory.get_compressed_summary() == "## Goal\nship it"
        memory.clear_compressed_summary()
        assert memory.get_compressed_summary() == "" and len(await memory.get_memory()) == 1

    run(scenario())


def test_clear_content_persists_then_clears(tmp_path):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        await memory.add([Msg("u", "a", "user"), tool_use_msg("c1"), tool_result_msg("c1", "out")])
        memory.clear_content()
        assert await memory.size() == 0
        rows = [json.loads(x) for x in today_file(tmp_path / "dialog").read_text(encoding="utf-8").splitlines()]
        assert [r["role"] for r in rows] == ["user", "assistant", "system"]
        assert rows[2]["content"][0]["output"] == "out"

    run(scenario())


def test_estimate_tokens_and_history(tmp_path):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        messages = [
            Msg("u", "hello " * 30, "user"),
            tool_use_msg("c1", text="looking"),
            tool_result_msg("c1", "x" * 90),
        ]
        await memory.add(messages)
        await memory.update_compressed_summary("summary text " * 10)
        stats = await memory.estimate_tokens(1000)
        assert {
            "total_messages",
            "compressed_summary_tokens",
            "messages_tokens",
            "estimated_tokens",
            "context_usage_ratio",
            "messages_detail",
        } <= set(stats)
        assert stats["total_messages"] == 3
        assert stats["messages_tokens"] == sum(message_tokens(m) for m in messages)
        assert stats["compressed_summary_tokens"] == rule_token_count("summary text " * 10)
        assert stats["estimated_tokens"] == stats["messages_tokens"] + stats["compressed_summary_tokens"]
        assert stats["context_usage_ratio"] == pytest.approx(stats["estimated_tokens"] / 1000 * 100)
        detail = stats["messages_detail"]
        assert all(isinstance(d, MessageStat) for d in detail)
        assert [b.block_type for b in detail[1].blocks] == ["text", "tool_use"]
        assert detail[1].total_tokens == message_tokens(messages[1])
        assert (await memory.estimate_tokens(0))["context_usage_ratio"] == 0.0
        history = await memory.get_history_str(1000)
        assert "messages: 3" in history and "tool_use=" in history and "preview:" in history

    run(scenario())


def test_state_round_trip(tmp_path):
    async def scenario():
        memory = ReMeInMemoryMemory(tmp_path / "dialog")
        await memory.add([Msg("u", "a", "user"), tool_use_msg("c1")])
        await memory.add(Msg("u", "h", "user"), marks=["hint"])
        await memory.update_compressed_summary("## Goal\nx")
        state = json.loads(json.dumps(memory.state_dict()))
        assert state["_compressed_summary"] == "## Goal\nx"
        other = ReMeInMemoryMemory(tmp_path / "dialog2")
        other.load_state_dict(state)
        assert other.state_dict() == memory.state_dict()
        assert [m.id for m, _ in other.content] == [m.id for m, _ in memory.content]
        assert other.content[2][1] == ["hint"] and other.get_compressed_summary() == "## Goal\nx"
        older = ReMeInMemoryMemory(tmp_path / "d3")
        older.load_state_dict({"content": [Msg("u", "legacy", "user").to_dict()]})
        assert [message_text(m) for m in await older.get_memory()] == ["legacy"]
        with pytest.raises(BadInputError):
            older.load_state_dict({})
        with pytest.raises(BadInputError):
            older.load_state_dict({"content": [42]})

    run(scenario())
