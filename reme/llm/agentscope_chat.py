"""An AgentScope chat model as this project's LLM client: what hosts such as CoPaw and QwenPaw pass as ``as_llm``.

ReMe 0.3.1.x accepted ``as_llm: str | ChatModelBase`` and drove an AgentScope model through an agent. Hosts pass their
own chat model (a retry wrapper around an OpenAI-compatible model, streaming) and its formatter. ``AgentScopeChat``
wraps the pair in the ``LLMClient`` protocol: ``achat(messages)`` formats OpenAI-style messages with the host's
formatter, awaits the model (reading a stream to its last, accumulated chunk), and returns the text blocks joined.
With ``tools`` (OpenAI function schemas) the model may answer with native tool calls, returned in
``ChatResult.tool_calls`` as ``{"id", "name", "input"}``.

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

__all__ = ["AgentScopeChat", "is_agentscope_model"]


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
        self.model = str(getattr(model, "model_name", "") or type(model).__name__)

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
        formatter = self.formatter if self.formatter is not None else _default_formatter()
        try:
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
        text = "\n".join(str(b.get("text", "")) for b in blocks if _kind(b) == "text")
        calls = [
            {"id": str(b.get("id", "")), "name": str(b.get("name", "")), "input": _input(b.get("input"))}
            for b in blocks
            if _kind(b) == "tool_use"
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


def _kind(block: Any) -> str:
    return str(block.get("type", "")) if isinstance(block, dict) else ""


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
