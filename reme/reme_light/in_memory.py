"""``ReMeInMemoryMemory``: an agent's working memory (AgentScope 1.x ``InMemoryMemory``'s async API) with ReMe's
additions: compacted messages move to ``dialog/YYYY-MM-DD.jsonl`` instead of being lost, and a compressed
summary stands in for them at the head of the context.

Durability: ``mark_messages_compressed`` and ``clear_content`` append the messages (``Msg.to_dict()``, one JSON
line each) to today's dialog file with one ``O_APPEND`` write and ``fsync`` it *before* removing anything from
memory, so a crash loses nothing; when the write fails they raise ``ReMeError`` and memory is left as it was.

Where AgentScope 1.x is installed the class *is* an AgentScope ``InMemoryMemory`` (so a ``StateModule``): a host
that assigns it to ``agent.memory`` gets it registered, ``agent.state_dict()`` carries it under ``memory`` and a
session saved with AgentScope's ``JSONSession`` restores it (CoPaw's turns depend on this). Without AgentScope it is
a plain class with the same methods; messages are then the stand-in ``Msg`` (``reme.reme_light.messages``).
OpenAI-format dicts passed to ``add`` are converted; added messages are copied, as AgentScope's memory does.

``_long_term_memory`` is ReMe's slot for what a host recalled before a turn (CoPaw writes its memory search there):
when set, ``get_memory`` opens the context with it under ``# Memories``, in the same leading message as the summary.
It is not part of the saved state.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from reme.atomic import append_durable
from reme.errors import BadInputError, ReMeError
from reme.messages import message_token_count, resolve_token_counter

from .formatting import PREVIEW_CHARS, format_message
from .messages import (
    make_msg,
    msg_classes,
    prepared_counter,
    to_compact_dict,
    to_msg,
    validate_messages,
)

__all__ = [
    "COMPRESSED_MARK",
    "BlockStat",
    "MessageStat",
    "MissingStateError",
    "ReMeInMemoryMemory",
    "memories_preamble",
    "summary_preamble",
]

log = logging.getLogger(__name__)

COMPRESSED_MARK = "compressed"
"""The mark of compressed messages (AgentScope's ``_MemoryMark.COMPRESSED``); ``get_memory`` never returns them."""


def summary_preamble(summary: str) -> str:
    """The text of the user message ``get_memory`` puts before the messages when a summary exists."""
    return (
        "# Summary of the earlier conversation\n\n"
        "The earlier messages of this conversation are no longer in context; their raw log is kept in "
        "dialog/YYYY-MM-DD.jsonl (one JSON line per message, one file per day). What they covered:\n\n"
        f"{summary}\n\n"
        "Everything above is a summary of the previous conversation: rely on it to continue where it left off."
    )


def memories_preamble(recalled: str) -> str:
    """The text that opens the context when a host put recalled memories in ``_long_term_memory``."""
    return f"# Memories\n\n{recalled}"


class MissingStateError(BadInputError, KeyError):
    """A state dict without ``content`` under ``strict`` (a ``KeyError`` as AgentScope's own modules raise, which
    hosts catch as a schema mismatch)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing state"


def _memory_base() -> type:
    """AgentScope 1.x's ``InMemoryMemory`` when it imports, else ``object``."""
    try:
        from agentscope.memory import InMemoryMemory
    except Exception:  # not installed (or AgentScope 2.x, whose memory is another design)
        return object
    return InMemoryMemory if hasattr(InMemoryMemory, "register_state") else object


if TYPE_CHECKING:
    _MemoryBase = object
else:
    _MemoryBase = _memory_base()


class BlockStat(BaseModel):
    """Tokens of one content block."""

    model_config = ConfigDict(frozen=True)

    block_type: str
    """``text``, ``thinking``, ``tool_use``, ``tool_result``, ``image`` ..."""
    token_count: int
    """Its tokens, as the compact policy counts them."""


class MessageStat(BaseModel):
    """One message of ``estimate_tokens``'s ``messages_detail``."""

    model_config = ConfigDict(frozen=True)

    id: str | None
    """The message id."""
    name: str
    """The speaker."""
    role: str
    """``user``, ``assistant`` or ``system``."""
    timestamp: str
    """``YYYY-MM-DD HH:MM:SS.fff``."""
    total_tokens: int
    """Tokens of the whole message (the sum over ``blocks``)."""
    blocks: list[BlockStat]
    """Tokens per content block (a string content is one ``text`` block)."""
    preview: str
    """The message in transcript format, each block cut to 100 characters."""


def _msg_id(message: Any) -> str | None:
    value = message.get("id") if isinstance(message, Mapping) else getattr(message, "id", None)
    return None if value is None else str(value)


def _marks(marks: str | Sequence[str] | None) -> list[str]:
    if marks is None:
        return []
    if isinstance(marks, str):
        return [marks]
    if not all(isinstance(m, str) for m in marks):
        raise BadInputError(f"marks must be strings, got {marks!r}")
    return list(marks)


class ReMeInMemoryMemory(_MemoryBase):
    """Messages of one conversation, in order, each with its marks; plus the compressed summary.

    ReMe's signature: ``ReMeInMemoryMemory(token_counter=None, dialog_path=None)``. ``dialog_path`` (or the older
    ``dialog_dir``; a path given first, positionally, is taken as it) is where compressed and cleared messages go;
    ``token_counter`` counts a text (a callable, an object with ``count_text``, or AgentScope's async counter; default
    ReMe's rule count, ``floor(UTF-8 bytes / 3.75)``). ``content`` holds ``(message, marks)`` pairs (AgentScope 1.x's
    layout)."""

    def __init__(
        self, token_counter: Any = None, dialog_path: str | Path | None = None, *, dialog_dir: str | Path | None = None
    ):
        if isinstance(token_counter, str | os.PathLike) and token_counter != "default":
            token_counter, dialog_path = dialog_path, token_counter  # the older (dialog_dir, token_counter) order
        where = dialog_path if dialog_path is not None else dialog_dir
        if not isinstance(where, str | os.PathLike) or not str(where):
            raise BadInputError(f"dialog_path must be a path, got {where!r}")
        if _MemoryBase is not object:
            super().__init__()  # AgentScope's StateModule: registers content and _compressed_summary
        self.dialog_dir = Path(where).expanduser()
        self._token_counter = token_counter
        self._count = resolve_token_counter(token_counter)
        self.content: list[tuple[Any, list[str]]] = []
        self._compressed_summary = ""
        self._long_term_memory = ""

    # -- AgentScope InMemoryMemory API --------------------------------------------------------------------

    async def add(
        self, memories: Any = None, marks: str | Sequence[str] | None = None, allow_duplicates: bool = False
    ) -> None:
        """Append a message or a list of them (``Msg``, or dicts converted to ``Msg``), each with ``marks``. A
        message whose id is already in memory is skipped unless ``allow_duplicates``."""
        if memories is None:
            return
        batch = validate_messages(memories if isinstance(memories, list | tuple) else [memories])
        tags = _marks(marks)
        present = {_msg_id(m) for m, _ in self.content}
        for i, message in enumerate(batch):
            msg = copy.deepcopy(to_msg(message, i))
            if not allow_duplicates and _msg_id(msg) in present:
                continue
            present.add(_msg_id(msg))
            self.content.append((msg, list(tags)))

    async def delete(self, index: int | str | Iterable[int | str]) -> int:
        """Remove messages by position (an int, negative from the end) or by id (a string), one or several;
        returns how many were removed. An out-of-range position removes nothing and raises ``BadInputError``."""
        targets = [index] if isinstance(index, int | str) else list(index)
        n = len(self.content)
        positions: set[int] = set()
        ids: set[str] = set()
        for target in targets:
            if isinstance(target, bool) or not isinstance(target, int | str):
                raise BadInputError(f"delete takes positions (int) or message ids (str), got {target!r}")
            if isinstance(target, str):
                ids.add(target)
            elif not -n <= target < n:
                raise BadInputError(f"position {target} is out of range for {n} messages")
            else:
                positions.add(target % n)
        kept = [(m, t) for i, (m, t) in enumerate(self.content) if i not in positions and _msg_id(m) not in ids]
        removed = n - len(kept)
        self.content = kept
        return removed

    async def delete_by_mark(self, mark: str | Sequence[str]) -> int:
        """Remove the messages carrying any of the marks; returns how many."""
        wanted = set(_marks(mark))
        before = len(self.content)
        self.content = [(m, t) for m, t in self.content if not wanted.intersection(t)]
        return before - len(self.content)

    async def update_messages_mark(
        self, new_mark: str | None, old_mark: str | None = None, msg_ids: Sequence[str] | None = None
    ) -> int:
        """Give ``new_mark`` to the messages with ``old_mark`` (any when ``None``) and an id in ``msg_ids`` (any
        when ``None``), replacing ``old_mark``; ``new_mark=None`` just removes ``old_mark``. Returns how many."""
        ids = None if msg_ids is None else {str(x) for x in msg_ids}
        changed = 0
        for message, tags in self.content:
            if ids is not None and _msg_id(message) not in ids:
                continue
            if old_mark is not None and old_mark not in tags:
                continue
            if old_mark is not None:
                tags.remove(old_mark)
            if new_mark is not None and new_mark not in tags:
                tags.append(new_mark)
            changed += 1
        return changed

    async def size(self) -> int:
        """Number of messages held (compressed-marked ones included)."""
        return len(self.content)

    async def clear(self) -> None:
        """Forget every message (not persisted: see ``clear_content``); the summary stays."""
        self.content = []

    async def get_memory(
        self,
        mark: str | None = None,
        exclude_mark: str | None = None,
        prepend_summary: bool = True,
        **_kwargs: Any,
    ) -> list[Any]:
        """The messages, oldest first, without compressed ones (and only those with ``mark`` / without
        ``exclude_mark`` when given). One user ``Msg`` comes first when there is something to open with: the
        recalled memories of ``_long_term_memory`` (``memories_preamble``) and, with ``prepend_summary``, the summary
        (``summary_preamble``)."""
        messages = [
            m
            for m, tags in self.content
            if COMPRESSED_MARK not in tags
            and (mark is None or mark in tags)
            and (exclude_mark is None or exclude_mark not in tags)
        ]
        parts = []
        recalled = getattr(self, "_long_term_memory", "")
        if isinstance(recalled, str) and recalled.strip():
            parts.append(memories_preamble(recalled))
        if prepend_summary and self._compressed_summary:
            parts.append(summary_preamble(self._compressed_summary))
        if parts:
            return [make_msg("user", "\n\n".join(parts), "user"), *messages]
        return messages

    # -- compressed summary ---------------------------------------------------------------------------------

    async def update_compressed_summary(self, summary: str) -> None:
        """Replace the compressed summary."""
        if not isinstance(summary, str):
            raise BadInputError(f"a summary must be a string, got {type(summary).__name__}")
        self._compressed_summary = summary

    def get_compressed_summary(self) -> str:
        """The compressed summary (``""`` when none)."""
        return self._compressed_summary

    def clear_compressed_summary(self) -> None:
        """Drop the compressed summary."""
        self._compressed_summary = ""

    # -- persistence to dialog/ ------------------------------------------------------------------------------

    def dialog_path(self) -> Path:
        """Today's dialog file, ``dialog_dir/YYYY-MM-DD.jsonl`` (local date)."""
        return self.dialog_dir / f"{datetime.now():%Y-%m-%d}.jsonl"

    def _persist(self, messages: Sequence[Any]) -> Path:
        """Append the messages to today's dialog file, one JSON line each, and fsync it."""
        path = self.dialog_path()
        lines = []
        for i, message in enumerate(messages):
            msg = to_msg(message, i)
            lines.append(json.dumps(msg.to_dict(), ensure_ascii=False, default=str) + "\n")
        data = "".join(lines).encode("utf-8")
        try:
            self.dialog_dir.mkdir(parents=True, exist_ok=True)
            append_durable(path, data)
        except OSError as exc:
            raise ReMeError(f"cannot save {len(messages)} messages to {path}: {exc}") from exc
        log.info("saved %d messages to %s", len(messages), path)
        return path

    async def mark_messages_compressed(self, messages: Sequence[Any]) -> int:
        """Save ``messages`` to today's dialog file, then remove them from memory (matched by id, or by identity
        for a message without one); returns how many were removed. ``ReMeError`` when saving fails (nothing
        is removed then)."""
        batch = validate_messages(messages)
        if not batch:
            return 0
        self._persist(batch)
        ids = {i for i in (_msg_id(m) for m in batch) if i is not None}
        objects = {id(m) for m in batch}
        before = len(self.content)
        self.content = [(m, t) for m, t in self.content if id(m) not in objects and _msg_id(m) not in ids]
        return before - len(self.content)

    def clear_content(self) -> None:
        """Save every message held to today's dialog file, then forget them (``ReMeError`` if saving fails)."""
        if self.content:
            self._persist([m for m, _ in self.content])
        self.content = []

    # -- token estimates --------------------------------------------------------------------------------------

    def message_stat(self, message: Any, count: Any = None) -> MessageStat:
        """Tokens of one message, per block (``to_compact_dict`` and the compact policy's count; ``count`` a
        ``text -> tokens`` function, default the memory's)."""
        count = count or self._count
        record = to_compact_dict(message)
        content = record.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        stats = [
            BlockStat(
                block_type=str(b.get("type", "unknown")),
                token_count=message_token_count({"role": record["role"], "content": [b]}, count),
            )
            for b in blocks
        ]
        return MessageStat(
            id=_msg_id(message),
            name=str(getattr(message, "name", "") or record["role"]),
            role=str(record["role"]),
            timestamp=str(getattr(message, "timestamp", "") or ""),
            total_tokens=sum(s.token_count for s in stats),
            blocks=stats,
            preview=format_message(message, max_chars=PREVIEW_CHARS),
        )

    async def estimate_tokens(self, max_input_length: int) -> dict[str, Any]:
        """Token use of the context ``get_memory`` would give: ``total_messages``, ``compressed_summary_tokens``,
        ``messages_tokens``, ``estimated_tokens`` (their sum), ``max_input_length``, ``context_usage_ratio``
        (``estimated_tokens / max_input_length * 100``, a percentage as in ReMe; 0 when the length is not
        positive) and ``messages_detail`` (a ``MessageStat`` per message)."""
        if isinstance(max_input_length, bool) or not isinstance(max_input_length, int | float):
            raise BadInputError(f"max_input_length must be a number, got {max_input_length!r}")
        messages = await self.get_memory(prepend_summary=False)
        summary = self._compressed_summary
        extra = [make_msg("user", summary, "user")] if summary else []
        count = await prepared_counter(self._token_counter, [*messages, *extra])  # one pass over every text
        summary_tokens = count(summary) if summary else 0
        detail = [self.message_stat(m, count) for m in messages]
        messages_tokens = sum(s.total_tokens for s in detail)
        estimated = messages_tokens + summary_tokens
        return {
            "total_messages": len(messages),
            "compressed_summary_tokens": summary_tokens,
            "messages_tokens": messages_tokens,
            "estimated_tokens": estimated,
            "max_input_length": max_input_length,
            "context_usage_ratio": estimated / max_input_length * 100 if max_input_length > 0 else 0.0,
            "messages_detail": detail,
        }

    async def get_history_str(self, max_input_length: int = 128 * 1024) -> str:
        """A readable report of the context: totals, then one entry per message with its tokens per block and a
        one-line preview."""
        stats = await self.estimate_tokens(max_input_length)
        entries = []
        for i, stat in enumerate(stats["messages_detail"], start=1):
            blocks = ", ".join(f"{b.block_type}={b.token_count}" for b in stat.blocks)
            preview = stat.preview.replace("\n", " | ")
            entries.append(
                f"{i}. {stat.role} ({stat.name}), {stat.total_tokens} tokens [{blocks}]\n   preview: {preview}"
            )
        header = (
            "Context history\n"
            f"- messages: {stats['total_messages']}\n"
            f"- estimated tokens: {stats['estimated_tokens']} of {stats['max_input_length']} "
            f"({stats['context_usage_ratio']:.1f}%)\n"
            f"- compressed summary tokens: {stats['compressed_summary_tokens']}"
        )
        return header + ("\n\n" + "\n".join(entries) if entries else "")

    # -- state --------------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"content": [[msg dict, marks], ...], "_compressed_summary": str}`` (JSON-able)."""
        return {
            "content": [[to_msg(m).to_dict(), list(tags)] for m, tags in self.content],
            "_compressed_summary": self._compressed_summary,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Restore what ``state_dict`` returned (also a plain list of message dicts, AgentScope's older layout).
        ``MissingStateError`` (a ``KeyError``) when ``strict`` and ``content`` is missing, ``BadInputError`` when an
        entry is malformed."""
        if not isinstance(state_dict, Mapping):
            raise BadInputError(f"a state dict must be a dict, got {type(state_dict).__name__}")
        if strict and "content" not in state_dict:
            raise MissingStateError("the state dict has no 'content'")
        from_dict = msg_classes().Msg.from_dict
        content: list[tuple[Any, list[str]]] = []
        for i, item in enumerate(state_dict.get("content") or []):
            if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], Mapping):
                data, tags = item
            elif isinstance(item, Mapping):
                data, tags = item, []
            else:
                raise BadInputError(f"state entry {i} is neither [message dict, marks] nor a message dict")
            try:
                content.append((from_dict(dict(data)), _marks(tags)))
            except (KeyError, TypeError, ValueError) as exc:
                raise BadInputError(f"state entry {i}: {exc}") from None
        summary = state_dict.get("_compressed_summary", "")
        if not isinstance(summary, str):
            raise BadInputError(f"_compressed_summary must be a string, got {type(summary).__name__}")
        self.content = content
        self._compressed_summary = summary
