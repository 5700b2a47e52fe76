"""What every LLM backend shares: errors, configuration, the result of one chat call, the client protocol.

A chat call returns the text *and* the log-probability of each generated token, because the library's decisions
are reinforcement-learning policies: a decision made by an LLM is recorded with the log-probability the model gave
it, and that number is only trainable when it is real. Backends never invent one; when an endpoint returns no
log-probabilities, ``ChatResult.token_logprobs`` is ``None``.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reme.errors import ReMeError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ChatResult",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMResponseError",
    "LLMTimeoutError",
]

DEFAULT_MODEL = "qwen3.5-plus"
"""The model name of ReMe 0.3.1.x's ``light.yaml`` (``as_llms.default.model_name``)."""

HF_PREFIX = "hf:"
"""``build_llm("hf:<local model dir>")`` runs a transformers model in-process."""

OPENAI_PREFIX = "openai:"
"""``build_llm("openai:<model>")`` is the same as ``build_llm("<model>")``."""


class LLMError(ReMeError):
    """An LLM call failed; the message says what failed and where (endpoint, model, HTTP status)."""


class LLMTimeoutError(LLMError):
    """The endpoint did not answer in time, after all retries."""


class LLMResponseError(LLMError):
    """The endpoint answered something unusable: not JSON, no ``choices``, no ``message``, malformed log-probs."""


class LLMConfig(BaseModel):
    """How to reach an OpenAI-compatible chat endpoint (OpenAI, DashScope, vLLM, SGLang, Ollama, ...).

    ``model_name`` is accepted as an alias of ``model`` (ReMe's ``default_as_llm_config={"model_name": ...}``).
    Unknown keys (ReMe's ``backend``, ...) are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    model: str = DEFAULT_MODEL
    """Model name sent to the endpoint."""
    base_url: str | None = None
    """Endpoint root, e.g. ``http://localhost:8000/v1`` (default: ``$LLM_BASE_URL`` via ``from_env``; without
    either, the openai SDK's own default, ``$OPENAI_BASE_URL`` or api.openai.com)."""
    api_key: str | None = Field(default=None, repr=False)
    """Bearer key (default: ``$LLM_API_KEY`` via ``from_env``). ``None`` sends a placeholder: local servers need
    none. Never logged."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds allowed for each attempt."""
    max_retries: int = Field(default=3, ge=0)
    """Retries of transient failures (connection errors, timeouts, HTTP 408/409/429/5xx), with exponential backoff."""
    temperature: float | None = Field(default=None, ge=0)
    """Sampling temperature; ``None`` leaves the endpoint's default."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Cap on generated tokens; ``None`` leaves the endpoint's default."""
    logprobs: bool = True
    """Ask for token log-probabilities (``logprobs=true``)."""

    @model_validator(mode="before")
    @classmethod
    def _model_name_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model_name" in data:
            data = dict(data)
            alias = data.pop("model_name")
            if alias is not None and data.get("model") is None:
                data["model"] = alias
        return data

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMConfig:
        """A config from ``$LLM_API_KEY``, ``$LLM_BASE_URL`` and ``$LLM_MODEL`` (all optional; empty means unset),
        then ``overrides`` (``None`` values are ignored, so callers can pass optional arguments straight through)."""
        values: dict[str, Any] = {}
        for field, var in (("api_key", "LLM_API_KEY"), ("base_url", "LLM_BASE_URL"), ("model", "LLM_MODEL")):
            value = os.environ.get(var, "").strip()
            if value:
                values[field] = value
        given = {key: value for key, value in overrides.items() if value is not None}
        if "model_name" in given:
            name = given.pop("model_name")
            given.setdefault("model", name)
        values.update(given)
        return cls(**values)


class ChatResult(BaseModel):
    """One chat completion: the text and, when the backend gave them, the per-token log-probabilities."""

    text: str
    """The assistant message's content."""
    tokens: list[str] | None = None
    """Output tokens as text pieces, in order. Usually ``"".join(tokens) == text``; a piece is ``""`` for a token
    that holds only part of a multi-byte character (the character goes to the token that completes it)."""
    token_logprobs: list[float] | None = None
    """Natural-log probability of each token in ``tokens`` under the distribution it was drawn from; ``None`` when
    the backend returned none (the decision is then recorded with logprob null and is not trainable)."""
    model: str = ""
    """The model that answered, as the backend names it."""
    backend: str = ""
    """``"openai"`` (an OpenAI-compatible endpoint) or ``"hf"`` (in-process transformers)."""
    finish_reason: str | None = None
    """``"stop"`` (end of sequence or a stop string), ``"length"`` (token cap), or what the endpoint said."""
    tool_calls: list[dict[str, Any]] | None = None
    """Native tool calls of the answer, ``{"id", "name", "input"}`` each (clients offered ``tools``: the AgentScope
    model of a host); ``None`` when there were none."""
    token_ids: list[int] | None = None
    """The generated token ids, one per entry of ``tokens`` (an in-process model: ``HFChatClient``), so that the
    audit can re-score exactly these tokens (``reme.llm.replay``); ``None`` from an endpoint."""
    temperature: float | None = None
    """The temperature the tokens were drawn at (0: greedy), when the backend knows it."""

    @model_validator(mode="after")
    def _aligned(self) -> ChatResult:
        if self.tokens is not None and self.token_logprobs is not None and len(self.tokens) != len(self.token_logprobs):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.token_logprobs)} token_logprobs")
        return self

    @property
    def logprob(self) -> float | None:
        """Log-probability of the whole output (sum over tokens); ``None`` when log-probs are absent."""
        if self.token_logprobs is None:
            return None
        return math.fsum(self.token_logprobs)

    def span_logprob(self, start: int, end: int) -> float | None:
        """Sum of the log-probs of the tokens overlapping ``text[start:end]``; ``None`` when log-probs are absent.

        Tokens are located by the cumulative character offsets of ``tokens``. When the pieces do not concatenate to
        ``text`` (some servers), each piece is located with ``str.find`` from the end of the previous one; a piece
        that cannot be found is treated as empty at that point. A zero-length token at offset ``p`` belongs to the
        character at ``p`` (the character it starts). ``start``/``end`` are clamped to ``[0, len(text)]``.
        """
        picked = self.span_token_logprobs(start, end)
        return None if picked is None else math.fsum(picked)

    def span_token_logprobs(self, start: int, end: int) -> list[float] | None:
        """The log-probs of the tokens overlapping ``text[start:end]``, in order (the terms ``span_logprob`` sums);
        ``None`` when log-probs or tokens are absent."""
        if self.token_logprobs is None or self.tokens is None:
            return None
        start = max(0, min(start, len(self.text)))
        end = max(0, min(end, len(self.text)))
        if end <= start:
            return []
        return [self.token_logprobs[i] for i in self.span_token_indices(start, end)]

    def span_token_indices(self, start: int, end: int) -> list[int]:
        """The positions in ``tokens`` of the tokens overlapping ``text[start:end]`` (see ``span_logprob``)."""
        if self.tokens is None:
            return []
        start = max(0, min(start, len(self.text)))
        end = max(0, min(end, len(self.text)))
        if end <= start:
            return []
        return [
            i
            for i, (lo, hi) in enumerate(self.token_offsets())
            if (lo < end and hi > start) or (lo == hi and start <= lo < end)
        ]

    def token_offsets(self) -> list[tuple[int, int]]:
        """``(start, end)`` character offsets of each token in ``text`` (see ``span_logprob``); ``[]`` without
        tokens."""
        return list(_locate(self.text, self.tokens or []))


def _locate(text: str, tokens: list[str]) -> Iterator[tuple[int, int]]:
    if "".join(tokens) == text:
        pos = 0
        for piece in tokens:
            yield pos, pos + len(piece)
            pos += len(piece)
        return
    pos = 0
    for piece in tokens:
        found = text.find(piece, pos) if piece else -1
        if found < 0:
            yield pos, pos
            continue
        yield found, found + len(piece)
        pos = found + len(piece)


@runtime_checkable
class LLMClient(Protocol):
    """A chat model. ``messages`` are OpenAI-format dicts (``{"role": ..., "content": ...}``)."""

    model: str
    """The model's name (endpoint model name, or the local directory of an in-process model)."""

    def chat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResult:
        """One completion; ``None`` arguments mean the client's configured default. Raises ``LLMError``."""
        ...

    async def achat(
        self,
        messages: list[dict],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
    ) -> ChatResult:
        """``chat`` without blocking the event loop."""
        ...


def capped_tokens(llm: Any, max_tokens: int | None) -> int | None:
    """The ``max_tokens`` a face asks of ``llm``: its own, unless the client has a smaller ``max_new_tokens`` of its
    own (an in-process model set up for a CPU's budget), which then wins."""
    cap = getattr(llm, "max_new_tokens", None)
    if isinstance(cap, int) and cap > 0:
        return cap if max_tokens is None else min(max_tokens, cap)
    return max_tokens


_OPENAI_ONLY = frozenset({"api_key", "base_url", "timeout", "max_retries", "logprobs", "model", "model_name"})
_HF_KEYS = frozenset({"device", "max_new_tokens", "temperature", "seed"})
