"""Messages as ReMeLight sees them: AgentScope 1.x types (real or stand-in), OpenAI dicts, and ReMe's transcript.

Hosts hand ReMeLight three shapes of message, and every function here accepts all of them:

- an AgentScope ``Msg`` (the real class when ``agentscope`` is installed, else the stand-in ``Msg`` below; any
  object with ``.content``, ``.role`` and ``.name`` is taken as one);
- an OpenAI chat dict: ``role``, ``content`` (a string, ``None`` or a list of parts), ``tool_calls`` (each with
  ``id`` and ``function{name, arguments}``) on assistant messages, ``tool_call_id`` on ``role: "tool"``;
- an AgentScope-like dict: ``role``, ``name``, ``content`` as a list of content blocks (``text``, ``thinking``,
  ``tool_use``, ``tool_result``, ``image`` ...), as ``Msg.to_dict()`` writes it.

A malformed message raises ``BadInputError`` naming its index and what is wrong. Token counts are those of
``reme.messages`` (the compaction state is built from ``to_compact_dict`` and read by the same functions), so a
count here and the count the compact policy sees are the same number. ReMe's transcript for the compactor and the
memory writer (``format_messages``) is written by ``reme.reme_light.formatting``.

AgentScope puts a tool's result in a message of role ``system`` (named ``system``) holding ``tool_result``
blocks; such a message is conversation, not a system prompt (see ``is_system_prompt``).
"""

from __future__ import annotations

import importlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, NotRequired, TypedDict

from reme.errors import BadInputError
from reme.messages import (
    TokenCounter,
    is_async_counter,
    message_token_count,
    resolve_token_counter,
    rule_token_count,
)

__all__ = [
    "AGENTSCOPE_ROLES",
    "MESSAGE_ROLES",
    "TRUNCATION_MARKER",
    "AudioBlock",
    "ContentBlock",
    "ImageBlock",
    "MessageView",
    "Msg",
    "MsgClasses",
    "TextBlock",
    "ThinkingBlock",
    "ToolResponse",
    "ToolResultBlock",
    "ToolUseBlock",
    "VideoBlock",
    "is_msg_like",
    "is_system_prompt",
    "is_tool_result_message",
    "make_msg",
    "make_tool_response",
    "message_text",
    "message_tokens",
    "msg_classes",
    "now_timestamp",
    "prepared_counter",
    "to_compact_dict",
    "to_msg",
    "validate_messages",
    "view_message",
]

log = logging.getLogger(__name__)

TRUNCATION_MARKER = "<<<TRUNCATED>>>"
"""Opens the notice that follows a truncated tool result (see ``reme.reme_light.tool_result``)."""

AGENTSCOPE_ROLES = ("user", "assistant", "system")
"""Roles an AgentScope ``Msg`` may have."""

MESSAGE_ROLES = ("system", "user", "assistant", "tool", "developer", "function")
"""Roles accepted in a dict message (AgentScope's plus OpenAI's ``tool``, ``developer`` and legacy ``function``)."""


# --------------------------------------------------------------------------------------------------------------
# AgentScope 1.x content blocks (the same keys as agentscope.message's TypedDicts)
# --------------------------------------------------------------------------------------------------------------


class TextBlock(TypedDict):
    """Plain text."""

    type: Literal["text"]
    text: str


class ThinkingBlock(TypedDict):
    """A model's reasoning."""

    type: Literal["thinking"]
    thinking: str


class ToolUseBlock(TypedDict):
    """A tool call: ``id`` pairs it with its ``tool_result``; ``input`` holds the arguments."""

    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]
    raw_input: NotRequired[str]


class ToolResultBlock(TypedDict):
    """A tool's result: ``id`` of the call it answers, and its output (a string or a list of blocks)."""

    type: Literal["tool_result"]
    id: str
    name: str
    output: str | list[Any]


class ImageBlock(TypedDict):
    """An image: ``source`` is ``{"type": "url", "url": ...}`` or ``{"type": "base64", "media_type", "data"}``."""

    type: Literal["image"]
    source: dict[str, Any]


class AudioBlock(TypedDict):
    """Audio, with a ``source`` like ``ImageBlock``'s."""

    type: Literal["audio"]
    source: dict[str, Any]


class VideoBlock(TypedDict):
    """Video, with a ``source`` like ``ImageBlock``'s."""

    type: Literal["video"]
    source: dict[str, Any]


ContentBlock = TextBlock | ThinkingBlock | ToolUseBlock | ToolResultBlock | ImageBlock | AudioBlock | VideoBlock


def now_timestamp() -> str:
    """Local time as AgentScope writes it: ``YYYY-MM-DD HH:MM:SS.fff``."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# --------------------------------------------------------------------------------------------------------------
# Stand-ins for agentscope.message.Msg and agentscope.tool.ToolResponse
# --------------------------------------------------------------------------------------------------------------


class Msg:
    """A structural stand-in for AgentScope 1.x's ``Msg``, used when ``agentscope`` is not installed.

    ``name`` is the speaker, ``content`` a string or a list of content blocks, ``role`` one of ``user``,
    ``assistant``, ``system``; ``metadata`` a free dict, ``timestamp`` local time ``YYYY-MM-DD HH:MM:SS.fff``
    and ``id`` a uuid4 hex string (assigned at creation; ``from_dict`` restores a saved one)."""

    def __init__(
        self,
        name: str,
        content: str | Sequence[Any],
        role: str,
        metadata: dict[str, Any] | None = None,
        timestamp: str | None = None,
        invocation_id: str | None = None,
    ):
        if not isinstance(name, str):
            raise BadInputError(f"Msg: name must be a string, got {type(name).__name__}")
        if role not in AGENTSCOPE_ROLES:
            raise BadInputError(f"Msg: role must be one of {AGENTSCOPE_ROLES}, got {role!r}")
        if isinstance(content, str):
            body: str | list[Any] = content
        elif isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
            body = list(content)
        else:
            raise BadInputError(f"Msg: content must be a string or a list of blocks, got {type(content).__name__}")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadInputError(f"Msg: metadata must be a dict, got {type(metadata).__name__}")
        self.name = name
        self.content = body
        self.role = role
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.timestamp = timestamp or now_timestamp()
        self.invocation_id = invocation_id
        self.id = uuid.uuid4().hex

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "name", "role", "content", "metadata", "timestamp"}``: one line of ``dialog/*.jsonl``."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "content": self.content,
            "metadata": self.metadata,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Msg:
        """The message ``to_dict`` wrote (its ``id`` and ``timestamp`` included)."""
        if not isinstance(data, Mapping):
            raise BadInputError(f"Msg.from_dict needs a dict, got {type(data).__name__}")
        missing = [k for k in ("name", "content", "role") if k not in data]
        if missing:
            raise BadInputError(f"Msg.from_dict: missing {missing}")
        msg = cls(
            name=data["name"],
            content=data["content"],
            role=data["role"],
            metadata=data.get("metadata"),
            timestamp=data.get("timestamp"),
            invocation_id=data.get("invocation_id"),
        )
        if data.get("id"):
            msg.id = str(data["id"])
        return msg

    def get_text_content(self, separator: str = "\n") -> str | None:
        """The text: the string content, or the ``text`` blocks joined by ``separator``; ``None`` if there is no
        text block (as AgentScope's)."""
        if isinstance(self.content, str):
            return self.content
        texts = [str(b.get("text", "")) for b in self.content if isinstance(b, Mapping) and b.get("type") == "text"]
        return separator.join(texts) if texts else None

    def get_content_blocks(self, block_type: str | None = None) -> list[Any]:
        """The content as blocks (a string content is one ``text`` block), only those of ``block_type`` if given."""
        if isinstance(self.content, str):
            blocks: list[Any] = [TextBlock(type="text", text=self.content)]
        else:
            blocks = [b for b in self.content if isinstance(b, Mapping)]
        if block_type is None:
            return blocks
        return [b for b in blocks if b.get("type") == block_type]

    def has_content_blocks(self, block_type: str | None = None) -> bool:
        """Whether the message has a block of ``block_type`` (any block when ``None``)."""
        return bool(self.get_content_blocks(block_type))

    def __repr__(self) -> str:
        return (
            f"Msg(id={self.id!r}, name={self.name!r}, role={self.role!r}, content={self.content!r}, "
            f"metadata={self.metadata!r}, timestamp={self.timestamp!r})"
        )


@dataclass
class ToolResponse:
    """A stand-in for AgentScope's ``ToolResponse``: what a tool function returns."""

    content: list[Any]
    """Content blocks (``TextBlock`` for ReMeLight's tools)."""
    metadata: dict[str, Any] | None = None
    """Free-form data for the caller, not shown to the model."""
    stream: bool = False
    """Whether this is one chunk of a streamed response."""
    is_last: bool = True
    """Whether this is the last chunk."""
    is_interrupted: bool = False
    """Whether the tool was interrupted."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Identifies the response."""


class MsgClasses(NamedTuple):
    """The message classes in use: AgentScope's when it is importable, else this module's stand-ins."""

    Msg: Any
    ToolResponse: Any
    TextBlock: Any
    agentscope: bool
    """Whether they are AgentScope's own."""


@lru_cache(maxsize=1)
def msg_classes() -> MsgClasses:
    """AgentScope's ``Msg`` / ``ToolResponse`` / ``TextBlock`` when ``agentscope`` imports, else the stand-ins
    (cached; ``msg_classes.cache_clear()`` looks again)."""
    try:
        message_module = importlib.import_module("agentscope.message")
        tool_module = importlib.import_module("agentscope.tool")
        classes = MsgClasses(message_module.Msg, tool_module.ToolResponse, message_module.TextBlock, True)
    except Exception:  # not installed, or an install that does not import (see the API reference, section 0)
        return MsgClasses(Msg, ToolResponse, TextBlock, False)
    return classes


def make_msg(
    name: str,
    content: str | Sequence[Any],
    role: str,
    metadata: dict[str, Any] | None = None,
    timestamp: str | None = None,
) -> Any:
    """A ``Msg`` of the classes in use (``msg_classes``)."""
    cls = msg_classes().Msg
    if timestamp is None:
        return cls(name=name, content=content, role=role, metadata=metadata)
    return cls(name=name, content=content, role=role, metadata=metadata, timestamp=timestamp)


def make_tool_response(text: str) -> Any:
    """A ``ToolResponse`` of the classes in use holding one ``TextBlock`` with ``text``."""
    classes = msg_classes()
    return classes.ToolResponse(content=[classes.TextBlock(type="text", text=text)])


# --------------------------------------------------------------------------------------------------------------
# Token counters
# --------------------------------------------------------------------------------------------------------------


async def prepared_counter(counter: Any, messages: Sequence[Any]) -> TokenCounter:
    """A ``text -> tokens`` function for counting ``messages`` with any counter: an async-only counter is awaited
    once per distinct text piece of the messages, ahead (as ReMe calls it, ``count(messages=[], text=...)``); a
    failure or a count of 0 or less falls back to the rule count for that piece, as ReMe does."""
    if not is_async_counter(counter):
        return resolve_token_counter(counter)
    pieces: dict[str, int] = {}

    def collect(text: str) -> int:
        pieces.setdefault(text, 0)
        return rule_token_count(text)

    for i, message in enumerate(validate_messages(list(messages))):
        message_token_count(to_compact_dict(message, i), collect)
    for text in pieces:
        try:
            value = int(await counter.count(messages=[], text=text))
        except Exception as exc:
            log.debug("the token counter failed on a text (%s): the rule count is used", exc)
            value = 0
        pieces[text] = value if value > 0 else rule_token_count(text)
    return lambda text: pieces[text] if text in pieces else rule_token_count(text)


# --------------------------------------------------------------------------------------------------------------
# Validation and the common view
# --------------------------------------------------------------------------------------------------------------


def is_msg_like(message: Any) -> bool:
    """Whether ``message`` is taken as an AgentScope ``Msg``: not a dict, with ``content``, ``role`` and ``name``."""
    return not isinstance(message, Mapping) and all(hasattr(message, k) for k in ("content", "role", "name"))


def _check_blocks(content: list[Any], where: str) -> None:
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise BadInputError(f"{where}: content block {j} must be a dict with a string 'type', got {block!r:.80}")
        if block["type"] == "tool_result":
            output = block.get("output")
            if output is not None and not isinstance(output, str | list):
                raise BadInputError(
                    f"{where}: the output of tool_result block {j} must be a string or a list of blocks, "
                    f"got {type(output).__name__}"
                )


def _check(message: Any, index: int) -> None:
    """Raise ``BadInputError`` naming ``index`` when ``message`` is not a usable message."""
    where = f"message {index}"
    if is_msg_like(message):
        role, content = message.role, message.content
        if not isinstance(role, str) or not role:
            raise BadInputError(f"{where}: role must be a non-empty string, got {role!r}")
        if not isinstance(content, str | list):
            raise BadInputError(f"{where}: content must be a string or a list of blocks, got {type(content).__name__}")
        if isinstance(content, list):
            _check_blocks(content, where)
        return
    if not isinstance(message, Mapping):
        raise BadInputError(
            f"{where}: expected an AgentScope Msg or a dict with 'role' and 'content', got {type(message).__name__}"
        )
    if "role" not in message:
        raise BadInputError(f"{where}: missing 'role' (keys: {sorted(map(str, message))})")
    role = message["role"]
    if role not in MESSAGE_ROLES:
        raise BadInputError(f"{where}: role must be one of {MESSAGE_ROLES}, got {role!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise BadInputError(
            f"{where}: content must be a string, a list of blocks or null, got {type(content).__name__}"
        )
    if isinstance(content, list):
        _check_blocks(content, where)
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise BadInputError(f"{where}: tool_calls must be a list, got {type(calls).__name__}")
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                raise BadInputError(f"{where}: tool_calls[{j}] must be a dict with function{{name, arguments}}")
    call_id = message.get("tool_call_id")
    if call_id is not None and not isinstance(call_id, str):
        raise BadInputError(f"{where}: tool_call_id must be a string, got {type(call_id).__name__}")


def validate_messages(messages: Any) -> list[Any]:
    """``messages`` as a list, every entry checked (``BadInputError`` naming the first bad index)."""
    if isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence):
        raise BadInputError(f"messages must be a list of messages, got {type(messages).__name__}")
    out = list(messages)
    for i, message in enumerate(out):
        _check(message, i)
    return out


@dataclass
class MessageView:
    """One message in AgentScope terms, whatever shape it came in (read-only: the blocks may be shared)."""

    role: str
    """``system``, ``user``, ``assistant`` or ``tool`` (OpenAI tool results keep role ``tool``)."""
    name: str
    """The speaker: ``name`` when given, else the role."""
    timestamp: str
    """``YYYY-MM-DD HH:MM:SS.fff``, or ``""`` when the message has none."""
    id: str | None
    """The message id, if any."""
    blocks: list[dict[str, Any]]
    """Content as AgentScope blocks: OpenAI text parts as ``text``, ``image_url`` parts as ``image``,
    ``reasoning_content`` as ``thinking``, ``tool_calls`` as ``tool_use`` (``input`` parsed from the JSON
    arguments, ``raw_input`` the string), a ``role: tool`` message as one ``tool_result``."""
    source: Literal["msg", "dict"]
    """Whether it came as a Msg-like object or as a dict."""


def _parse_arguments(arguments: Any) -> tuple[dict[str, Any], str]:
    if isinstance(arguments, Mapping):
        return dict(arguments), json.dumps(arguments, ensure_ascii=False, default=str)
    raw = "" if arguments is None else str(arguments)
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        parsed = None
    return (parsed if isinstance(parsed, dict) else {}), raw


def _dict_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text"):
            blocks.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            blocks.append({"type": "image", "source": {"type": "url", "url": str(url or "")}})
        else:
            blocks.append(dict(part))
    return blocks


def view_message(message: Any, index: int = 0) -> MessageView:
    """The ``MessageView`` of one message (``BadInputError`` naming ``index`` when it is malformed)."""
    _check(message, index)
    if is_msg_like(message):
        content = message.content
        own: list[dict[str, Any]] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
        )
        role = str(message.role)
        msg_id = getattr(message, "id", None)
        return MessageView(
            role=role,
            name=str(message.name or role),
            timestamp=str(getattr(message, "timestamp", "") or ""),
            id=None if msg_id is None else str(msg_id),
            blocks=own,
            source="msg",
        )
    role = str(message["role"])
    blocks: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning})
    if role == "tool":
        content = message.get("content")
        output: Any = content if isinstance(content, str) else _dict_blocks(content)
        blocks.append(
            {
                "type": "tool_result",
                "id": str(message.get("tool_call_id") or ""),
                "name": str(message.get("name") or ""),
                "output": output,
            }
        )
    else:
        blocks.extend(_dict_blocks(message.get("content")))
    for call in message.get("tool_calls") or []:
        fn = call["function"]
        parsed, raw = _parse_arguments(fn.get("arguments"))
        blocks.append(
            {"type": "tool_use", "id": str(call.get("id") or ""), "name": fn["name"], "input": parsed, "raw_input": raw}
        )
    msg_id = message.get("id")
    return MessageView(
        role=role,
        name=str(message.get("name") or role),
        timestamp=str(message.get("timestamp") or ""),
        id=None if msg_id is None else str(msg_id),
        blocks=blocks,
        source="dict",
    )


def to_compact_dict(message: Any, index: int = 0) -> dict[str, Any]:
    """A plain dict that ``CompactState.from_messages`` reads with the same tokens and tool ids as ``message``:
    a Msg's ``id``/``role``/``name``/``content`` (content blocks carry ``tool_use`` / ``tool_result`` ids); a
    dict's OpenAI or AgentScope fields as they are (``tool_calls[].id``, ``tool_call_id``)."""
    _check(message, index)
    if is_msg_like(message):
        content = message.content
        msg_id = getattr(message, "id", None)
        return {
            "id": None if msg_id is None else str(msg_id),
            "role": str(message.role),
            "name": message.name,
            "content": content if isinstance(content, str) else list(content),
        }
    keys = ("id", "role", "name", "content", "tool_calls", "tool_call_id")
    return {k: message[k] for k in keys if k in message}


def message_tokens(message: Any, counter: Any = None, index: int = 0) -> int:
    """Tokens of one message, exactly as the compact policy counts it (``reme.messages``: the counter
    summed over text, thinking, tool-call name + arguments, and tool-result output; ReMe's rule count when
    ``counter`` is ``None``)."""
    return message_token_count(to_compact_dict(message, index), resolve_token_counter(counter))


def message_text(message: Any, index: int = 0) -> str:
    """The message's ``text`` blocks (a string content is one), joined by newlines; ``""`` when it has none."""
    view = view_message(message, index)
    return "\n".join(str(b.get("text") or "") for b in view.blocks if b.get("type") == "text")


def is_tool_result_message(message: Any) -> bool:
    """Whether the message carries a tool result (a ``tool_result`` block, or OpenAI ``role: "tool"``)."""
    if isinstance(message, Mapping):
        if message.get("role") == "tool":
            return True
        content = message.get("content")
    else:
        content = getattr(message, "content", None)
    return isinstance(content, list) and any(isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content)


def is_system_prompt(message: Any, index: int = 0) -> bool:
    """A ``system`` message that carries no tool call or tool result: an instruction, not conversation
    (AgentScope's agents put tool results in ``system`` messages; those are conversation)."""
    view = view_message(message, index)
    return view.role == "system" and not any(b.get("type") in ("tool_use", "tool_result") for b in view.blocks)


def to_msg(message: Any, index: int = 0) -> Any:
    """The message as a ``Msg`` of the classes in use: a Msg-like object is returned as it is; a dict becomes a
    new Msg with its blocks (``tool`` / ``developer`` / ``function`` roles map to ``system``, as AgentScope's
    agents store tool results), keeping its ``id``, ``timestamp`` and ``metadata`` when present."""
    if is_msg_like(message):
        _check(message, index)
        return message
    view = view_message(message, index)
    role = view.role if view.role in AGENTSCOPE_ROLES else "system"
    blocks: list[dict[str, Any]] = []
    for block in view.blocks:
        if block.get("type") == "tool_use":  # keep the fields AgentScope's ToolUseBlock knows
            blocks.append({k: block[k] for k in ("type", "id", "name", "input") if k in block})
        else:
            blocks.append(block)
    plain = isinstance(message.get("content"), str) and len(blocks) == 1 and blocks[0].get("type") == "text"
    content: str | list[dict[str, Any]] = str(blocks[0]["text"]) if plain else blocks
    metadata = message.get("metadata")
    msg = make_msg(
        name=view.name,
        content=content,
        role=role,
        metadata=dict(metadata) if isinstance(metadata, Mapping) else None,
        timestamp=view.timestamp or None,
    )
    if view.id:
        msg.id = view.id
    return msg
