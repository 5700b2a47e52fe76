"""``ReMeLight`` (ReMe 0.3.1.x's file-based memory, ``from reme.reme_light import ReMeLight``) and its parts: message
handling (AgentScope ``Msg`` or OpenAI dicts), ReMe's transcript format, tool-result compaction, the context check,
the in-memory working memory, the LLM compactor and the ReAct memory writer.
"""

from __future__ import annotations

from reme.messages import resolve_token_counter

from .compactor import CompactionSummary, is_valid_summary, run_compactor
from .context import build_compact_state, calculate_memory_compact_threshold, check_context
from .formatting import format_message, format_messages
from .in_memory import COMPRESSED_MARK, BlockStat, MessageStat, ReMeInMemoryMemory, summary_preamble
from .light import ReMeLight, RuleTokenCounter
from .messages import (
    TRUNCATION_MARKER,
    MessageView,
    Msg,
    MsgClasses,
    TextBlock,
    ThinkingBlock,
    ToolResponse,
    ToolResultBlock,
    ToolUseBlock,
    is_msg_like,
    is_system_prompt,
    is_tool_result_message,
    make_msg,
    make_tool_response,
    message_text,
    message_tokens,
    msg_classes,
    to_compact_dict,
    to_msg,
    validate_messages,
    view_message,
)
from .tool_result import (
    TruncationNotice,
    clean_expired_tool_results,
    compact_tool_results,
    cut_head,
    parse_notice,
    read_tool_result,
    truncate_tool_text,
)
from .writer import FileTools, WorkspaceEscapeError, WriterRun, run_writer

__all__ = [
    "COMPRESSED_MARK",
    "TRUNCATION_MARKER",
    "BlockStat",
    "CompactionSummary",
    "FileTools",
    "MessageStat",
    "MessageView",
    "Msg",
    "MsgClasses",
    "ReMeInMemoryMemory",
    "ReMeLight",
    "RuleTokenCounter",
    "TextBlock",
    "ThinkingBlock",
    "ToolResponse",
    "ToolResultBlock",
    "ToolUseBlock",
    "TruncationNotice",
    "WorkspaceEscapeError",
    "WriterRun",
    "build_compact_state",
    "calculate_memory_compact_threshold",
    "check_context",
    "clean_expired_tool_results",
    "compact_tool_results",
    "cut_head",
    "format_message",
    "format_messages",
    "is_msg_like",
    "is_system_prompt",
    "is_tool_result_message",
    "is_valid_summary",
    "make_msg",
    "make_tool_response",
    "message_text",
    "message_tokens",
    "msg_classes",
    "parse_notice",
    "read_tool_result",
    "resolve_token_counter",
    "run_compactor",
    "run_writer",
    "summary_preamble",
    "to_compact_dict",
    "to_msg",
    "truncate_tool_text",
    "validate_messages",
    "view_message",
]
