"""A chat client for any OpenAI-compatible ``/chat/completions`` endpoint, with token log-probabilities.

Retries are the openai SDK's: ``LLMConfig.max_retries`` and ``LLMConfig.timeout`` (seconds per attempt) are passed
to ``openai.OpenAI``/``openai.AsyncOpenAI``, which retry connection errors, timeouts and HTTP 408, 409, 429 and 5xx
with exponential backoff (0.5 s doubling up to 8 s, with jitter, or what a ``Retry-After``/``retry-after-ms``
header asks for). Other statuses (400, 401, 404, ...) fail at once.

The response body is parsed here rather than by the SDK's models, so that a body that is not JSON, or lacks
``choices`` or a ``message``, is an ``LLMResponseError`` instead of an obscure attribute error. Log-probabilities
are taken from ``choices[0].logprobs.content``; an endpoint that returns none still answers (with
``token_logprobs=None``) and a warning is logged once per client. An endpoint that refuses the ``logprobs``
parameter (HTTP 400/422 whose body names it) is asked again without it, and is not asked for log-probs again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from typing import TYPE_CHECKING, Any

from reme.llm.types import ChatResult, LLMConfig, LLMError, LLMResponseError, LLMTimeoutError

if TYPE_CHECKING:
    import openai

__all__ = ["PLACEHOLDER_API_KEY", "OpenAIChatClient"]

logger = logging.getLogger("reme.llm")

PLACEHOLDER_API_KEY = "EMPTY"
"""Sent when no key is configured: local servers (vLLM, SGLang, Ollama) accept any key."""

_BODY_EXCERPT = 300


class OpenAIChatClient:
    """``LLMClient`` over an OpenAI-compatible endpoint. The SDK clients are created on first use.

    Thread-safe for ``chat``; ``achat`` keeps one async SDK client per event loop.
    """

    backend = "openai"

    def __init__(self, config: LLMConfig | None = None, *, http_client: Any = None) -> None:
        self.config: LLMConfig = config if config is not None else LLMConfig.from_env()
        self.http_client = http_client
        """An ``httpx.AsyncClient`` for the async SDK client (AReaL's proxy injects one); ``None``: the SDK's own."""
        """Endpoint, model and request defaults."""
        self.model: str = self.config.model
        """Model name sent to the endpoint."""
        self._lock = threading.Lock()
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._warned_no_logprobs = False
        self._logprobs_rejected = False

    def __repr__(self) -> str:
        return f"OpenAIChatClient(model={self.model!r}, base_url={self.config.base_url!r})"

    @property
    def where(self) -> str:
        """The endpoint, as error messages name it."""
        return self.config.base_url or "the openai SDK's default endpoint"

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.config.api_key or PLACEHOLDER_API_KEY,
            "base_url": self.config.base_url,
            "timeout": self.config.timeout,
            "max_retries": self.config.max_retries,
        }

    def _sync_client(self) -> openai.OpenAI:
        with self._lock:
            if self._sync is None:
                import openai

                self._sync = openai.OpenAI(**self._client_kwargs())
            return self._sync

    def _async_client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            import openai

            # an httpx async pool is bound to the loop that opened it; asyncio.run() makes a new loop each time
            kwargs = self._client_kwargs()
            if self.http_client is not None:
                kwargs["http_client"] = self.http_client
            self._async = openai.AsyncOpenAI(**kwargs)
            self._async_loop = loop
        return self._async

    def close(self) -> None:
        """Close the synchronous SDK client's connections (the async one is dropped)."""
        with self._lock:
            if self._sync is not None:
                self._sync.close()
            self._sync = None
            self._async = None
            self._async_loop = None

    def _request(
        self, messages: list[dict], temperature: float | None, max_tokens: int | None, stop: list[str] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        temperature = temperature if temperature is not None else self.config.temperature
        max_tokens = max_tokens if max_tokens is not None else self.config.max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stop:
            body["stop"] = list(stop)
        if self.config.logprobs and not self._logprobs_rejected:
            body["logprobs"] = True
        return body

    def chat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResult:
        """One completion. Raises ``LLMTimeoutError``, ``LLMResponseError`` or ``LLMError``."""
        body = self._request(messages, temperature, max_tokens, stop)
        try:
            try:
                raw = self._sync_client().chat.completions.with_raw_response.create(**body)
            except Exception as exc:
                if not self._rejects_logprobs(exc, body):
                    raise
                raw = self._sync_client().chat.completions.with_raw_response.create(**self._without_logprobs(body))
            text = raw.text
        except Exception as exc:
            raise self._map_error(exc) from exc
        return self._result(text)

    async def achat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> ChatResult:
        """``chat`` on the SDK's async client. With ``tools`` (OpenAI function schemas) the model may answer with
        native tool calls (``ChatResult.tool_calls``, ``{"id", "name", "input"}``); messages may then hold an
        assistant's ``tool_calls`` in that form and ``{"role": "tool", "tool_call_id", "content"}`` results."""
        body = self._request(_openai_messages(messages), temperature, max_tokens, stop)
        if tools:
            body["tools"] = list(tools)
        try:
            try:
                raw = await self._async_client().chat.completions.with_raw_response.create(**body)
            except Exception as exc:
                if not self._rejects_logprobs(exc, body):
                    raise
                raw = await self._async_client().chat.completions.with_raw_response.create(
                    **self._without_logprobs(body)
                )
            text = raw.text
        except Exception as exc:
            raise self._map_error(exc) from exc
        return self._result(text)

    def _rejects_logprobs(self, exc: Exception, body: dict[str, Any]) -> bool:
        """Whether ``exc`` is the endpoint refusing the ``logprobs`` parameter (HTTP 400/422 naming it)."""
        import openai

        if "logprobs" not in body or not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
            return False
        detail = exc.response.text if exc.response is not None else str(exc)
        return "logprob" in detail.lower()

    def _without_logprobs(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` without ``logprobs``; later calls of this client stop asking for them."""
        self._logprobs_rejected = True
        self._warn_no_logprobs("rejected the logprobs parameter")
        return {key: value for key, value in body.items() if key != "logprobs"}

    def _warn_no_logprobs(self, what: str) -> None:
        if self._warned_no_logprobs:
            return
        self._warned_no_logprobs = True
        logger.warning(
            "LLM endpoint %s (model %r) %s; decisions made with it will be recorded with logprob null and "
            "trainable false",
            self.where,
            self.model,
            what,
        )

    def _map_error(self, exc: Exception) -> LLMError:
        import openai

        if isinstance(exc, LLMError):
            return exc
        attempts = self.config.max_retries + 1
        if isinstance(exc, openai.APITimeoutError):
            return LLMTimeoutError(
                f"LLM endpoint {self.where} (model {self.model!r}) did not answer within {self.config.timeout:g} s "
                f"({attempts} attempt{'s' if attempts != 1 else ''})"
            )
        if isinstance(exc, openai.APIStatusError):
            excerpt = _excerpt(exc.response.text if exc.response is not None else str(exc))
            return LLMError(
                f"LLM endpoint {self.where} (model {self.model!r}) answered HTTP {exc.status_code}"
                f" after {attempts} attempt{'s' if attempts != 1 else ''}: {excerpt}"
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(
                f"cannot reach LLM endpoint {self.where} (model {self.model!r}) after {attempts} "
                f"attempt{'s' if attempts != 1 else ''}: {exc.__cause__ or exc}"
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return LLMResponseError(f"LLM endpoint {self.where} (model {self.model!r}) answered garbage: {exc}")
        return LLMError(f"LLM call to {self.where} (model {self.model!r}) failed: {type(exc).__name__}: {exc}")

    def _result(self, body: str) -> ChatResult:
        where = f"LLM endpoint {self.where} (model {self.model!r})"
        try:
            data = json.loads(body)
        except ValueError:
            raise LLMResponseError(f"{where} answered a body that is not JSON: {_excerpt(body)}") from None
        if not isinstance(data, dict):
            raise LLMResponseError(f"{where} answered JSON that is not an object: {_excerpt(body)}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LLMResponseError(f"{where} answered no choices: {_excerpt(body)}")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            raise LLMResponseError(f"{where} answered a choice without a message: {_excerpt(body)}")
        content = message.get("content")
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        elif isinstance(content, list):  # content parts
            text = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        else:
            raise LLMResponseError(f"{where} answered a message whose content is not text: {_excerpt(body)}")
        tokens, logprobs = _parse_logprobs(choice.get("logprobs"), text, where)
        if logprobs is None and self.config.logprobs:
            self._warn_no_logprobs("returned no token log-probabilities")
        finish = choice.get("finish_reason")
        model = data.get("model")
        calls = [_tool_call(c) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        return ChatResult(
            tool_calls=calls or None,
            text=text,
            tokens=tokens,
            token_logprobs=logprobs,
            model=model if isinstance(model, str) and model else self.model,
            backend=self.backend,
            finish_reason=finish if isinstance(finish, str) else None,
        )


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call as ``{"id", "name", "input"}`` (arguments that are not a JSON object give ``{}``)."""
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        arguments = {}
    return {"id": str(call.get("id", "")), "name": str(function.get("name", "")),
            "input": arguments if isinstance(arguments, dict) else {}}  # fmt: skip


def _openai_messages(messages: list[dict]) -> list[dict]:
    """Messages whose assistant ``tool_calls`` are ``{"id", "name", "input"}`` in OpenAI's wire form."""
    out = []
    for message in messages:
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls and "function" not in calls[0]:
            message = {
                **message,
                "content": message.get("content") or None,
                "tool_calls": [
                    {"id": c.get("id", ""), "type": "function",
                     "function": {"name": c.get("name", ""), "arguments": json.dumps(c.get("input") or {})}}
                    for c in calls
                ],
            }  # fmt: skip
        elif message.get("role") == "tool":
            message = {k: v for k, v in message.items() if k in ("role", "tool_call_id", "content")}
        out.append(message)
    return out


def _parse_logprobs(section: Any, text: str, where: str) -> tuple[list[str] | None, list[float] | None]:
    """``(tokens, token_logprobs)`` from ``choices[0].logprobs``; ``(None, None)`` when absent.

    Token pieces are rebuilt from each entry's ``bytes`` when every entry has them and they decode to ``text``
    (OpenAI names partial UTF-8 tokens ``bytes:\\xe2...``); otherwise the ``token`` strings are used.
    """
    if not isinstance(section, dict):
        return None, None
    content = section.get("content")
    if content is None:
        return None, None
    if not isinstance(content, list):
        raise LLMResponseError(f"{where} answered logprobs.content that is not a list")
    tokens: list[str] = []
    logprobs: list[float] = []
    raw_bytes: list[bytes] | None = []
    for entry in content:
        if not isinstance(entry, dict):
            raise LLMResponseError(f"{where} answered a logprobs entry that is not an object: {entry!r}")
        token, logprob = entry.get("token"), entry.get("logprob")
        if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, int | float):
            raise LLMResponseError(f"{where} answered a malformed logprobs entry: {_excerpt(json.dumps(entry))}")
        value = float(logprob)
        if math.isnan(value) or value > 1e-3:
            raise LLMResponseError(f"{where} answered an impossible log-probability {value} for {token!r}")
        tokens.append(token)
        logprobs.append(min(value, 0.0))
        piece = entry.get("bytes")
        if (
            raw_bytes is not None
            and isinstance(piece, list)
            and all(isinstance(b, int) and 0 <= b < 256 for b in piece)
        ):
            raw_bytes.append(bytes(piece))
        else:
            raw_bytes = None
    if raw_bytes is not None and "".join(tokens) != text:
        pieces = _pieces_from_bytes(raw_bytes)
        if pieces is not None and "".join(pieces) == text:
            tokens = pieces
    return tokens, logprobs


def _pieces_from_bytes(chunks: list[bytes]) -> list[str] | None:
    """Text pieces of consecutive byte chunks: a chunk ending inside a UTF-8 character gives ``""`` and the character
    goes to the chunk that completes it. ``None`` when the bytes are not UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        pieces = [decoder.decode(chunk) for chunk in chunks]
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if tail and pieces:
        pieces[-1] += tail
    return pieces


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "..."
