"""``build_llm(spec)``: the LLM client a spec names (an OpenAI-compatible endpoint or an in-process transformers
model). Apart from ``types`` so that the clients, which import ``types``, are imported only here (no cycle)."""

from __future__ import annotations

from typing import Any

from reme.errors import BadInputError
from reme.llm.hf_client import HFChatClient
from reme.llm.openai_client import OpenAIChatClient
from reme.llm.types import _HF_KEYS, _OPENAI_ONLY, HF_PREFIX, OPENAI_PREFIX, LLMClient, LLMConfig

__all__ = ["build_llm"]


def build_llm(spec: str | LLMConfig | None = None, **overrides: Any) -> LLMClient:
    """The client for ``spec``.

    - ``"hf:<local model dir>"``: ``HFChatClient`` (in-process transformers). Overrides ``device``,
      ``max_new_tokens`` (or ``max_tokens``), ``temperature`` and ``seed`` are passed on; endpoint-only keys
      (``api_key``, ``base_url``, ...) are ignored; anything else is a ``BadInputError``.
    - any other string: ``OpenAIChatClient(LLMConfig.from_env(model=spec, **overrides))`` (an ``openai:`` prefix is
      stripped).
    - an ``LLMConfig``: ``OpenAIChatClient(config)`` (``overrides`` that are not ``None`` are applied on a copy).
    - ``None``: ``OpenAIChatClient(LLMConfig.from_env(**overrides))``.
    """
    if isinstance(spec, LLMConfig):
        given = {key: value for key, value in overrides.items() if value is not None}
        config = LLMConfig(**{**spec.model_dump(), **given}) if given else spec
        return OpenAIChatClient(config)
    if spec is None:
        return OpenAIChatClient(LLMConfig.from_env(**overrides))
    if not isinstance(spec, str) or not spec.strip():
        raise BadInputError(f"LLM spec must be a model name, 'hf:<dir>' or an LLMConfig, got {spec!r}")
    spec = spec.strip()
    if spec.startswith(HF_PREFIX):
        kwargs = {key: value for key, value in overrides.items() if value is not None and key not in _OPENAI_ONLY}
        if "max_tokens" in kwargs:
            kwargs.setdefault("max_new_tokens", kwargs.pop("max_tokens"))
        unknown = sorted(set(kwargs) - _HF_KEYS)
        if unknown:
            raise BadInputError(f"options {unknown} do not apply to an in-process model ({spec})")
        return HFChatClient(spec[len(HF_PREFIX) :], **kwargs)
    if spec.startswith(OPENAI_PREFIX):
        spec = spec[len(OPENAI_PREFIX) :]
    return OpenAIChatClient(LLMConfig.from_env(**{**overrides, "model": spec}))
