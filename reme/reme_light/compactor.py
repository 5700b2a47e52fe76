"""The LLM compactor behind ``ReMeLight.compact_memory``: a structured summary of the messages being compacted.

The summary follows ReMe's section structure (``## Goal``, ``## Constraints & Preferences``, ``## Progress`` with
``### Done`` / ``### In Progress`` / ``### Blocked``, ``## Key Decisions``, ``## Next Steps``, ``## Critical
Context``), and ReMe's validity check: a summary is valid when it is non-empty and contains ``##``. An invalid
summary, or a failed call, is reported and returned as ``""``; the caller then keeps every message (nothing is lost).
With a previous summary the model is asked to update it: keep what it says, add what is new, move finished work to
Done. The call is recorded as a ``Decision`` (kind ``compact``, policy ``llm-compactor``, action ``summary`` or
``invalid``) with the summed token log-probability of the summary text. The prompts are this project's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reme.llm.decisions import llm_decision
from reme.llm.types import capped_tokens
from reme.policy.decision import Decision

__all__ = ["SECTIONS", "CompactionSummary", "compactor_messages", "is_valid_summary", "run_compactor"]

SECTIONS = (
    "## Goal",
    "## Constraints & Preferences",
    "## Progress",
    "### Done",
    "### In Progress",
    "### Blocked",
    "## Key Decisions",
    "## Next Steps",
    "## Critical Context",
)

_SYSTEM = {
    "en": (
        "You compact an agent's conversation history into a structured summary that lets the agent continue the "
        "work without the original messages. Keep every fact the work depends on: exact file paths, function "
        "names, commands, error messages, numbers, names and dates. Drop chit-chat and anything superseded. "
        "Answer with the summary only, in Markdown, using exactly these sections:\n" + "\n".join(SECTIONS)
    ),
    "zh": (
        "你把智能体的对话历史压缩成结构化摘要，使智能体无需原始消息即可继续工作。"
        "保留工作所依赖的一切事实：准确的文件路径、函数名、命令、错误信息、数字、人名与日期；"
        "去掉寒暄和已被取代的内容。只输出 Markdown 摘要，并严格使用以下小节：\n" + "\n".join(SECTIONS)
    ),
}


def is_valid_summary(text: str) -> bool:
    """ReMe's check: non-empty and holding at least one ``##`` heading."""
    return bool(text and text.strip()) and "##" in text


def compactor_messages(
    transcript: str, previous_summary: str = "", language: str = "zh", extra_instruction: str = ""
) -> list[dict[str, str]]:
    """The chat sent to the model: instructions, then the transcript (and the summary to update, if any)."""
    zh = language == "zh"
    system = _SYSTEM["zh" if zh else "en"]
    if extra_instruction:
        system += "\n\n" + extra_instruction
    if previous_summary:
        user = (
            f"已有摘要：\n{previous_summary}\n\n新的对话：\n{transcript}\n\n请更新摘要：保留已有信息，加入新信息，"
            "把已完成的进行中事项移到 Done；不再相关的内容可以删除。"
            if zh
            else f"Existing summary:\n{previous_summary}\n\nNew conversation:\n{transcript}\n\nUpdate the summary: "
            "keep what it says, add what is new, move finished In Progress items to Done; you may remove what is no "
            "longer relevant."
        )
    else:
        user = f"对话：\n{transcript}\n\n请写出摘要。" if zh else f"Conversation:\n{transcript}\n\nWrite the summary."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


@dataclass
class CompactionSummary:
    """One compactor call: the summary (``""`` when invalid or failed), its validity, the user message sent, the
    decision recorded (``None`` when the call failed before the model answered) and the error, if any."""

    summary: str = ""
    is_valid: bool = False
    user_message: str = ""
    decision: Decision | None = None
    error: str | None = None
    raw: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """ReMe's ``return_dict`` shape."""
        return {"user_message": self.user_message, "history_compact": self.summary, "is_valid": self.is_valid}


def _strip_thinking(text: str) -> str:
    """Drop a leading ``<think>...</think>`` block (reasoning models) from the summary text."""
    stripped = text.lstrip()
    if stripped.startswith("<think>") and "</think>" in stripped:
        return stripped.split("</think>", 1)[1].strip()
    return text.strip()


async def run_compactor(
    transcript: str,
    *,
    llm: Any,
    previous_summary: str = "",
    language: str = "zh",
    extra_instruction: str = "",
    max_tokens: int | None = 2048,
    record: Any = None,
) -> CompactionSummary:
    """Ask ``llm`` for the summary of ``transcript``. Never raises for a model failure: the error is in the result and
    the summary is ``""``. ``record(decision)`` receives the decision when the model answered."""
    messages = compactor_messages(transcript, previous_summary, language, extra_instruction)
    out = CompactionSummary(user_message=messages[-1]["content"])
    max_tokens = capped_tokens(llm, max_tokens)  # an in-process model's own smaller cap wins (a CPU's budget)
    try:
        result = await llm.achat(messages, max_tokens=max_tokens)
    except Exception as exc:  # a failed call never loses context: the caller keeps the messages
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    out.raw = result.text
    text = _strip_thinking(result.text)
    out.is_valid = is_valid_summary(text)
    cut = getattr(result, "finish_reason", None) == "length"
    if not out.is_valid:
        out.error = "invalid summary (empty or without a ## heading)"
    elif cut:  # stopped by the token cap: an over-long or looping summary, its end lost; the messages stay
        out.is_valid = False
        out.error = f"invalid summary (cut at the token cap of {max_tokens}: over-long or looping)"
    out.summary = text if out.is_valid else ""
    out.decision = llm_decision(
        "compact",
        "llm-compactor",
        "summary" if out.is_valid else "invalid",
        result,
        extra={"is_valid": out.is_valid, "updates_previous": bool(previous_summary), "cut_at_cap": cut},
        prompt=messages,
    )
    if record is not None:
        record(out.decision)
    return out
