"""An AgentScope chat model as this project's LLM client: what hosts such as CoPaw and QwenPaw pass as ``as_llm``.

ReMe 0.3.1.x accepted ``as_llm: str | ChatModelBase`` and drove an AgentScope model through an agent. Hosts pass their
own chat model (a retry wrapper around an OpenAI-compatible model, streaming) and its formatter. ``AgentScopeChat``
wraps the pair in the ``LLMClient`` protocol: ``achat(messages)`` formats OpenAI-style messages with the host's
formatter, awaits the model (reading a stream to its last, accumulated chunk), and returns the text blocks joined.
With ``tools`` (OpenAI function schemas) the model may answer with native tool calls, returned in
``ChatResult.tool_calls`` as ``{"id", "name", "input"}``.

AgentScope 2.x models format their own messages (no formatter) and answer blocks as pydantic models, tool calls as
``tool_call`` blocks whose ``input`` is a JSON string: both generations are read.

AgentScope's chat responses carry no token log-probabilities, so ``token_logprobs`` is ``None``: decisions made
through this client are logged with ``logprob: null`` and ``trainable: false``, never refused.

AgentScope is imported only when a client is built or a model is tested (``is_agentscope_model``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from reme.errors import BadInputError

from .types import ChatResult, LLMError

__all__ = ["AgentScopeChat", "agentscope_major", "is_agentscope_model", "to_agentscope2_msgs"]


def is_agentscope_model(obj: Any) -> bool:
    """Whether ``obj`` is an AgentScope chat model (``agentscope.model.ChatModelBase``; False without AgentScope)."""
    try:
        from agentscope.model import ChatModelBase
    except Exception:  # not installed, or a broken install: it cannot be one
        return False
    return isinstance(obj, ChatModelBase)


def _default_formatter() -> Any:
    from agentscope.formatter import OpenAIChatFormatter

    return OpenAIChatFormatter()


class AgentScopeChat:
    """``LLMClient`` over an AgentScope ``ChatModelBase`` and its formatter (default ``OpenAIChatFormatter``)."""

    backend = "agentscope"
    supports_tools = True
    """The writer may offer native tools (``achat(..., tools=...)``)."""

    def __init__(self, model: Any, formatter: Any = None) -> None:
        if not is_agentscope_model(model):
            raise BadInputError(f"not an AgentScope chat model: {type(model).__name__}")
        self.agent_model = model
        self.formatter = formatter if formatter is not None and not isinstance(formatter, str) else None
        named = getattr(model, "model_name", "") or getattr(model, "model", "")
        self.model = str(named if isinstance(named, str) and named else type(model).__name__)

    # ----------------------------------------------------------------------------------------------- calls
    async def achat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatResult:
        """One call of the model (see the module docstring). ``temperature`` and ``max_tokens`` are the host
        model's own settings and are left to it; ``stop`` cuts the text at the first stop string."""
        try:
            if agentscope_major() >= 2:  # the model formats its own messages
                prompt: Any = to_agentscope2_msgs(messages)
            else:
                formatter = self.formatter if self.formatter is not None else _default_formatter()
                prompt = await formatter.format(to_agentscope_msgs(messages))
            kwargs: dict[str, Any] = {"tools": tools} if tools else {}
            response = await self.agent_model(prompt, **kwargs)
            if isinstance(response, AsyncIterator):  # streaming: each chunk holds everything so far
                last = None
                async for chunk in response:
                    last = chunk
                response = last
        except Exception as exc:  # a host model raises its own types: report them as this project's
            raise LLMError(f"the AgentScope model {self.model} failed: {type(exc).__name__}: {exc}") from exc
        blocks = list(
            (response.get("content") if isinstance(response, dict) else getattr(response, "content", None)) or []
        )
        text = "\n".join(str(_get(b, "text")) for b in blocks if _kind(b) == "text")
        calls = [
            {"id": str(_get(b, "id")), "name": str(_get(b, "name")), "input": _input(_get(b, "input"))}
            for b in blocks
            if _kind(b) in ("tool_use", "tool_call")
        ]
        for marker in stop or []:
            cut = text.find(marker)
            if cut >= 0:
                text = text[:cut]
        return ChatResult(
            text=text, model=self.model, backend=self.backend, finish_reason="stop", tool_calls=calls or None
        )

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResult:
        """``achat`` from synchronous code (in a worker thread with its own event loop)."""
        out: dict[str, Any] = {}

        def work() -> None:
            try:
                out["result"] = asyncio.run(
                    self.achat(messages, temperature=temperature, max_tokens=max_tokens, stop=stop)
                )
            except BaseException as exc:
                out["error"] = exc

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        if "error" in out:
            raise out["error"]
        result: ChatResult = out["result"]
        return result


def agentscope_major() -> int:
    """AgentScope's major version (1 when it does not say)."""
    import agentscope

    try:
        return int(str(getattr(agentscope, "__version__", "1")).split(".")[0])
    except ValueError:
        return 1


def _get(block: Any, key: str) -> Any:
    """A field of a content block: a dict in AgentScope 1.x, a pydantic model in 2.x."""
    return block.get(key, "") if isinstance(block, dict) else getattr(block, key, "")


def _kind(block: Any) -> str:
    return str(_get(block, "type") or "")


def _input(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def to_agentscope_msgs(messages: list[dict[str, Any]]) -> list[Any]:
    """OpenAI-style messages as AgentScope ``Msg`` objects: ``{"role", "content"}``; an assistant message's
    ``tool_calls`` (``{"id", "name", "input"}``) become tool-use blocks; a ``{"role": "tool", "tool_call_id",
    "name", "content"}`` message a tool-result block (in a ``system`` message, as AgentScope's agents keep them)."""
    from agentscope.message import Msg

    out = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = message.get("content") or ""
        if role == "tool":
            block = {
                "type": "tool_result",
                "id": str(message.get("tool_call_id", "")),
                "name": str(message.get("name", "")),
                "output": [{"type": "text", "text": str(content)}],
            }
            out.append(Msg("system", [block], "system"))
            continue
        if role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": str(content)}] if content else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": str(c.get("id", "")),
                    "name": str(c.get("name", "")),
                    "input": c.get("input") or {},
                }
                for c in message["tool_calls"]
            ]
            out.append(Msg("assistant", blocks, "assistant"))
            continue
        if role not in ("system", "user", "assistant"):
            role = "user"
        out.append(Msg(role, str(content), role))
    return out


def to_agentscope2_msgs(messages: list[dict[str, Any]]) -> list[Any]:
    """OpenAI-style messages as AgentScope 2.x ``Msg`` objects: content is a list of blocks, an assistant's
    ``tool_calls`` become ``ToolCallBlock`` (input as a JSON string), a ``tool`` message a ``ToolResultBlock`` in an
    assistant message (2.x keeps tool results on the assistant's side)."""
    from agentscope.message import Msg, TextBlock, ToolCallBlock, ToolResultBlock

    out = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = str(message.get("content") or "")
        if role == "tool":
            block = ToolResultBlock(
                id=str(message.get("tool_call_id", "")), name=str(message.get("name", "")), output=content
            )
            out.append(Msg(name="assistant", content=[block], role="assistant"))
            continue
        if role == "assistant":
            blocks: list[Any] = [TextBlock(text=content)] if content else []
            blocks += [
                ToolCallBlock(
                    id=str(c.get("id", "")),
                    name=str(c.get("name", "")),
                    input=json.dumps(c.get("input") or {}, ensure_ascii=False),
                )
                for c in message.get("tool_calls") or []
            ]
            out.append(Msg(name="assistant", content=blocks, role="assistant"))
            continue
        role = role if role in ("system", "user") else "user"
        out.append(Msg(name=role, content=[TextBlock(text=content)], role=role))
    return out
