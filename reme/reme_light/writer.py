"""The ReAct memory writer behind ``ReMeLight.summary_memory``: an LLM that reads the conversation, then reads,
writes or edits the day's memory file with three file tools confined to the workspace, or answers ``[SILENT]``.

Every step the writer takes is a ``Decision`` (kind ``write``, policy ``llm-writer``) in the trajectory log: each tool
call, with the summed token log-probability of the ``<tool_call>...</tool_call>`` text that expressed it, and the
final answer (``silent`` or ``done``) with that of its text. The tool protocol is text (a JSON object inside
``<tool_call>`` tags, the Hermes/Qwen convention), not an endpoint's native function calling, so that any
OpenAI-compatible server and the in-process transformers backend work alike and the log-probability covers exactly
the text of the action.

A client that offers native tools (``supports_tools``: an AgentScope chat model a host passed as ``as_llm``) gets the
same three tools as function schemas (arguments ``file_path``, ``content``, ``old_text``, ``new_text``, as hosts name
them) and the instructions without the tag protocol; its tool calls run through the same confined tools and gate,
and each is a decision with ``logprob: null`` (such models return no log-probabilities), never refused. A reply
that carries no native call is still read for a ``<tool_call>`` tag.

When a write gate is configured (a learned write policy), each fact line that a ``write_file`` or ``edit_file`` adds
to a memory file is first put to the write policy through ``Memory.decide_writes``: lines it discards are dropped
from the edit before the file is written. The prompts are this project's own.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reme.errors import BadInputError
from reme.llm.decisions import llm_decision
from reme.llm.types import capped_tokens
from reme.policy.decision import Decision

__all__ = [
    "INTERNAL_PATHS",
    "FileTools",
    "WorkspaceEscapeError",
    "WriterRun",
    "parse_tool_call",
    "run_writer",
    "writer_messages",
]

SILENT = "[SILENT]"
TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)

INTERNAL_PATHS = ("reme.db", "reme.db-wal", "reme.db-shm", "trajectories", "index", "embedding_cache", "policies")
"""Workspace entries the writer may neither read nor write (the store, logs, indexes and checkpoints)."""

_PROMPTS = {
    "en": (
        "You keep an agent's long-term memory in Markdown files. Tools (call one at a time, as a JSON object inside "
        '<tool_call></tool_call> tags, e.g. <tool_call>{"name": "read_file", "arguments": {"path": '
        '"memory/2026-01-31.md"}}</tool_call>):\n'
        "- read_file(path): the file's text, or a note that it does not exist;\n"
        "- write_file(path, content): create or replace a file;\n"
        "- edit_file(path, old_text, new_text): replace one exact occurrence of old_text.\n"
        "Paths are relative to the memory workspace. Record two kinds of memory: facts (who the user is, what they "
        "prefer, project states, events, with dates) and reflections (what worked, what failed, lessons). Read the "
        "day's file first; create it when missing, otherwise add to it with edit_file, without repeating what it "
        f"already says. Keep each fact on its own line starting with '- '. If nothing is worth keeping, answer "
        f"exactly {SILENT}. When you are done, answer with one short sentence saying what you recorded."
    ),
    "zh": (
        "你负责用 Markdown 文件维护智能体的长期记忆。"
        "工具（每次调用一个，把 JSON 对象放在 <tool_call></tool_call> 标签内，例如 "
        '<tool_call>{"name": "read_file", "arguments": {"path": "memory/2026-01-31.md"}}</tool_call>）：\n'
        "- read_file(path)：读取文件；\n- write_file(path, content)：创建或覆盖文件；\n"
        "- edit_file(path, old_text, new_text)：替换一处完全匹配的 old_text。\n"
        "路径相对于记忆工作目录。记录两类内容：事实（用户是谁、偏好、项目状态、带日期的事件）与反思（有效做法、失误、经验）。"
        "先读取当天的文件；不存在则创建，存在则用 edit_file 追加，不要重复已有内容。每条事实单独一行，以 '- ' 开头。"
        f"若没有值得记录的内容，只回答 {SILENT}。完成后用一句话说明记录了什么。"
    ),
}


_NATIVE_PROMPTS = {
    "en": (
        "You keep an agent's long-term memory in Markdown files, with three tools: read_file(file_path) gives a "
        "file's text or says it does not exist; write_file(file_path, content) creates or replaces a file; "
        "edit_file(file_path, old_text, new_text) replaces one exact occurrence of old_text. Paths are relative to "
        "the memory workspace. Record two kinds of memory: facts (who the user is, what they prefer, project states, "
        "events, with dates) and reflections (what worked, what failed, lessons). Read the day's file first; create "
        "it when missing, otherwise add to it with edit_file, without repeating what it already says. Keep each fact "
        f"on its own line starting with '- '. If nothing is worth keeping, answer exactly {SILENT}. When you are "
        "done, answer with one short sentence saying what you recorded."
    ),
    "zh": (
        "你负责用 Markdown 文件维护智能体的长期记忆，可用三个工具：read_file(file_path) 读取文件；"
        "write_file(file_path, content) 创建或覆盖文件；edit_file(file_path, old_text, new_text) 替换一处完全匹配的 "
        "old_text。路径相对于记忆工作目录。记录两类内容：事实（用户是谁、偏好、项目状态、带日期的事件）与反思（有效做法、"
        "失误、经验）。先读取当天的文件；不存在则创建，存在则用 edit_file 追加，不要重复已有内容。"
        "每条事实单独一行，以 '- ' 开头。"
        f"若没有值得记录的内容，只回答 {SILENT}。完成后用一句话说明记录了什么。"
    ),
}


def _tool_schema(name: str, description: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {key: {"type": "string", "description": text} for key, text in params.items()},
                "required": list(params),
            },
        },
    }


WRITER_TOOLS = [
    _tool_schema("read_file", "Read a memory file.", {"file_path": "Path of the file, relative to the workspace."}),
    _tool_schema(
        "write_file",
        "Create or replace a memory file.",
        {"file_path": "Path of the file, relative to the workspace.", "content": "The whole new text."},
    ),
    _tool_schema(
        "edit_file",
        "Replace one exact occurrence of old_text in a memory file.",
        {
            "file_path": "Path of the file, relative to the workspace.",
            "old_text": "Text that occurs exactly once.",
            "new_text": "Its replacement.",
        },
    ),
]
"""The writer's tools as OpenAI function schemas, for clients with native tool calls."""


class WorkspaceEscapeError(BadInputError):
    """A tool named a path outside the workspace, or one of its internal files."""


@dataclass
class FileTools:
    """``read_file``, ``write_file`` and ``edit_file`` confined to ``root`` (no absolute paths out of it, no ``..``
    escape, no symlink out of it, none of ``INTERNAL_PATHS``). Writes are atomic (a temporary file, fsync, rename):
    a crash leaves the old file or the new one, never half of one."""

    root: Path
    max_read_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    def resolve(self, path: Any) -> Path:
        if not isinstance(path, str) or not path.strip():
            raise WorkspaceEscapeError("a tool path must be a non-empty string")
        if "\x00" in path:
            raise WorkspaceEscapeError("a tool path cannot contain NUL")
        try:
            encoded = path.encode("utf-8")
        except UnicodeEncodeError:
            raise WorkspaceEscapeError(f"a tool path must be valid text, got {path!r:.80}") from None
        if len(encoded) > 1024 or any(len(part.encode()) > 200 for part in Path(path).parts):
            raise WorkspaceEscapeError(f"a tool path is too long ({len(encoded)} bytes): {path!r:.80}")
        candidate = Path(path)
        full = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if full != self.root and self.root not in full.parents:
            raise WorkspaceEscapeError(f"refused: {path!r} is outside the memory workspace")
        relative = full.relative_to(self.root)
        if not relative.parts or relative.parts[0] in INTERNAL_PATHS:
            raise WorkspaceEscapeError(f"refused: {path!r} is not a memory file")
        return full

    def read_file(self, path: Any) -> str:
        full = self.resolve(path)
        if not full.exists():
            return f"(file {path} does not exist yet)"
        if not full.is_file():
            raise BadInputError(f"{path} is not a file")
        data = full.read_bytes()[: self.max_read_bytes]
        return data.decode("utf-8", errors="replace")

    def write_file(self, path: Any, content: Any) -> str:
        if not isinstance(content, str):
            raise BadInputError("write_file needs content as a string")
        full = self.resolve(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=f".{full.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, full)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return f"wrote {len(content.encode('utf-8'))} bytes to {path}"

    def edit_file(self, path: Any, old_text: Any, new_text: Any) -> str:
        if not isinstance(old_text, str) or not isinstance(new_text, str) or not old_text:
            raise BadInputError("edit_file needs a non-empty old_text and a new_text, both strings")
        full = self.resolve(path)
        if not full.is_file():
            raise BadInputError(f"{path} does not exist: create it with write_file")
        text = full.read_text(encoding="utf-8")
        count = text.count(old_text)
        if count != 1:
            raise BadInputError(f"old_text occurs {count} times in {path}; it must occur exactly once")
        self.write_file(path, text.replace(old_text, new_text, 1))
        return f"edited {path}"

    def current(self, path: Any) -> str:
        """The file's text now ("" when missing), for the write gate's diff."""
        full = self.resolve(path)
        return full.read_text(encoding="utf-8") if full.is_file() else ""


def parse_tool_call(text: str) -> tuple[re.Match[str] | None, dict[str, Any] | None, str | None]:
    """The first ``<tool_call>`` block of ``text``: ``(match, {"name", "arguments"}, error)``; ``(None, None, None)``
    when there is none."""
    match = TOOL_CALL.search(text)
    if match is None:
        return None, None, None
    try:
        call = json.loads(match.group(1))
    except json.JSONDecodeError as exc:
        return match, None, f"the tool call is not valid JSON: {exc.msg}"
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return match, None, 'a tool call is {"name": ..., "arguments": {...}}'
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return match, None, "the tool call's arguments are not a JSON object"
    if not isinstance(arguments, dict):
        return match, None, "the tool call's arguments are not a JSON object"
    return match, {"name": call["name"], "arguments": arguments}, None


def _fact_lines(before: str, after: str) -> list[str]:
    """Lines of ``after`` that are new (not in ``before``) and hold text, not Markdown headings."""
    old = {line.strip() for line in before.splitlines()}
    return [
        line.strip()
        for line in after.splitlines()
        if line.strip() and line.strip() not in old and not line.lstrip().startswith("#")
    ]


def _drop_lines(text: str, dropped: set[str]) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip() not in dropped) + (
        "\n" if text.endswith("\n") else ""
    )


@dataclass
class WriterRun:
    """What one writer run did."""

    text: str = ""
    """The writer's final answer (``[SILENT]`` when it kept nothing)."""
    silent: bool = False
    decisions: list[Decision] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    facts_dropped: list[str] = field(default_factory=list)
    """Fact lines the write gate discarded."""
    iterations: int = 0
    error: str | None = None


def writer_messages(transcript: str, date: str, language: str = "zh", native: bool = False) -> list[dict[str, str]]:
    """The chat the writer starts from: its instructions (``native``: for native tool calls) and the conversation."""
    prompt = (_NATIVE_PROMPTS if native else _PROMPTS)["zh" if language == "zh" else "en"]
    if language == "zh":
        user = f"今天是 {date}，当天的记忆文件是 memory/{date}.md。\n\n对话记录：\n{transcript}"
    else:
        user = f"Today is {date}; the day's memory file is memory/{date}.md.\n\nConversation:\n{transcript}"
    return [{"role": "system", "content": prompt}, {"role": "user", "content": user}]


async def run_writer(
    transcript: str,
    *,
    llm: Any,
    tools: FileTools,
    date: str,
    record: Callable[[Decision], Any],
    language: str = "zh",
    max_iters: int = 10,
    max_tokens: int | None = 1024,
    gate: Callable[[Sequence[str]], list[Decision]] | None = None,
    episode_id: str | None = None,
) -> WriterRun:
    """Run the ReAct loop until the model answers without a tool call, or ``max_iters`` calls. ``record`` receives
    every decision as it is taken (the caller appends it to the trajectory log). ``gate(facts)`` returns one write
    decision per fact line (``discard`` drops it). LLM errors propagate (the caller reports them); tool errors and
    refusals are returned to the model as the tool's result and recorded, and leave the workspace unchanged."""
    run = WriterRun()
    max_tokens = capped_tokens(llm, max_tokens)  # an in-process model's own smaller cap wins (a CPU's budget)
    native = bool(getattr(llm, "supports_tools", False))
    chat: list[dict[str, Any]] = writer_messages(transcript, date, language, native)
    for iteration in range(max_iters):
        run.iterations = iteration + 1
        asked = [dict(m) for m in chat]  # the prompt of this call (the decision keeps it to be re-scored)
        if native:
            result = await llm.achat(chat, max_tokens=max_tokens, tools=WRITER_TOOLS)
        else:
            result = await llm.achat(chat, max_tokens=max_tokens)
        native_calls = list(getattr(result, "tool_calls", None) or [])
        if native_calls:
            for call in native_calls:
                arguments = dict(call.get("input") or {})
                if "file_path" in arguments and "path" not in arguments:
                    arguments["path"] = arguments.pop("file_path")
                parsed = {"name": str(call.get("name", "")), "arguments": arguments}
                observation, status = _execute(parsed, None, tools, gate, run)
                decision = llm_decision(
                    "write",
                    "llm-writer",
                    {"tool": parsed["name"], "arguments": arguments},
                    result,
                    extra={"iteration": iteration, "tool_status": status, "native_tool_call": True},
                    prompt=asked,
                )
                decision.episode_id = episode_id
                decision.step = iteration
                record(decision)
                run.decisions.append(decision)
                chat.append({"role": "assistant", "content": result.text, "tool_calls": [call]})
                chat.append(
                    {"role": "tool", "tool_call_id": call.get("id", ""), "name": parsed["name"], "content": observation}
                )
            continue
        match, text_call, error = parse_tool_call(result.text)
        if match is None:
            run.text = result.text.strip()
            run.silent = SILENT in run.text
            decision = llm_decision(
                "write", "llm-writer", "silent" if run.silent else "done", result, extra={"iteration": iteration},
                prompt=asked,
            )  # fmt: skip
            decision.episode_id = episode_id
            decision.step = iteration
            record(decision)
            run.decisions.append(decision)
            return run
        action: dict[str, Any] = {
            "tool": text_call["name"] if text_call else "invalid",
            "arguments": text_call["arguments"] if text_call else {},
        }
        observation, status = _execute(text_call, error, tools, gate, run)
        decision = llm_decision(
            "write",
            "llm-writer",
            action,
            result,
            start=match.start(),
            end=match.end(),
            extra={"iteration": iteration, "tool_status": status},
            prompt=asked,
        )
        decision.episode_id = episode_id
        decision.step = iteration
        record(decision)
        run.decisions.append(decision)
        chat.append({"role": "assistant", "content": result.text[: match.end()]})
        chat.append({"role": "user", "content": f"<tool_result>\n{observation}\n</tool_result>"})
    run.error = f"stopped after {max_iters} tool calls without a final answer"
    return run


def _execute(
    call: dict[str, Any] | None,
    error: str | None,
    tools: FileTools,
    gate: Callable[[Sequence[str]], list[Decision]] | None,
    run: WriterRun,
) -> tuple[str, str]:
    """Run one tool call: ``(observation for the model, status)`` with status ``ok``, ``refused`` or ``error``."""
    if call is None:
        return f"error: {error}", "error"
    name, args = call["name"], call["arguments"]
    try:
        if name == "read_file":
            return tools.read_file(args.get("path")), "ok"
        if name not in ("write_file", "edit_file"):
            return f"error: unknown tool {name!r}; use read_file, write_file or edit_file", "error"
        path = args.get("path")
        before = tools.current(path)
        if name == "write_file":
            content = args.get("content")
            after = content if isinstance(content, str) else ""
        else:
            old, new = args.get("old_text"), args.get("new_text")
            after = before.replace(old, new, 1) if isinstance(old, str) and isinstance(new, str) and old else before
        if gate is not None and str(path).endswith(".md"):
            facts = _fact_lines(before, after)
            decisions = gate(facts) if facts else []
            dropped = {fact for fact, d in zip(facts, decisions) if d.action == "discard"}
            if dropped:
                run.facts_dropped.extend(sorted(dropped))
                if name == "write_file":
                    args = {**args, "content": _drop_lines(after, dropped)}
                else:
                    args = {**args, "new_text": _drop_lines(args["new_text"], dropped)}
        if name == "write_file":
            message = tools.write_file(path, args.get("content"))
        else:
            message = tools.edit_file(path, args.get("old_text"), args.get("new_text"))
        if str(path) not in run.files_written:
            run.files_written.append(str(path))
        return message, "ok"
    except WorkspaceEscapeError as exc:
        return f"error: {exc}", "refused"
    except (BadInputError, OSError, UnicodeDecodeError) as exc:
        return f"error: {exc}", "error"
