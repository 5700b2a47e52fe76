"""``build_llm(spec)``: the LLM client a spec names (an OpenAI-compatible endpoint or an in-process transformers
model), and ``build_llm_from_config``: the client of ReMe's LLM settings (the faces' ``default_llm_config`` /
``default_as_llm_config`` with an API key and base URL). Apart from ``types`` so that the clients, which import
``types``, are imported only here (no cycle)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reme.errors import BadInputError
from reme.llm.hf_client import HFChatClient
from reme.llm.local_model import LOCAL_SPECS
from reme.llm.openai_client import OpenAIChatClient
from reme.llm.types import _HF_KEYS, _OPENAI_ONLY, HF_PREFIX, OPENAI_PREFIX, LLMClient, LLMConfig

__all__ = ["build_llm", "build_llm_from_config", "configured_model", "endpoint_configured", "local_by_default"]

BACKENDS = ("auto", "local", "endpoint")
"""``$LLM_BACKEND``: what a face with no model and no endpoint uses. ``auto`` (or unset): the local model when the
``local-llm`` extra is installed; ``local``: always the local model; ``endpoint``: never (the call then fails as an
unreachable endpoint, which the faces turn into their logged no-LLM outcome)."""


def local_by_default() -> bool:
    """Whether a face with no model and no endpoint runs the local model (``$LLM_BACKEND``, see ``BACKENDS``)."""
    from reme.llm.local_model import local_model_available

    backend = os.environ.get("LLM_BACKEND", "").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise BadInputError(f"LLM_BACKEND={backend!r}: use one of {', '.join(BACKENDS)}")
    return backend == "local" or (backend == "auto" and local_model_available())


def endpoint_configured(api_key: str | None = None, base_url: str | None = None) -> bool:
    """Whether an OpenAI-compatible endpoint is configured: a key or a base URL, given or in ``$LLM_API_KEY`` /
    ``$LLM_BASE_URL``."""
    return bool(
        api_key or base_url or os.environ.get("LLM_API_KEY", "").strip() or os.environ.get("LLM_BASE_URL", "").strip()
    )


def build_llm(spec: str | LLMConfig | None = None, **overrides: Any) -> LLMClient:
    """The client for ``spec``.

    - ``"local"`` or ``"hf:smollm2"``: the local SmolLM2 model (``reme.llm.local_model``, converted once into
      reme's cache), through ``HFChatClient``; also no spec, no model and no endpoint when ``local_by_default()``.
    - ``"hf:<local model dir>"``: ``HFChatClient`` (in-process transformers). Overrides ``device``,
      ``max_new_tokens`` (or ``max_tokens``), ``temperature`` and ``seed`` are passed on; endpoint-only keys
      (``api_key``, ``base_url``, ...) are ignored; anything else is a ``BadInputError``.
    - any other string: ``OpenAIChatClient(LLMConfig.from_env(model=spec, **overrides))`` (an ``openai:`` prefix is
      stripped).
    - an ``LLMConfig``: ``OpenAIChatClient(config)`` (``overrides`` that are not ``None`` are applied on a copy).
    - ``None``: ``OpenAIChatClient(LLMConfig.from_env(**overrides))``.
    """
    named = overrides.get("model") or overrides.get("model_name")
    unconfigured = _unconfigured(named, overrides.get("api_key"), overrides.get("base_url"))
    if spec is None and unconfigured and local_by_default():
        spec, overrides = "local", {k: v for k, v in overrides.items() if k not in _OPENAI_ONLY}
    if isinstance(spec, str) and spec.strip().lower() in LOCAL_SPECS:
        from reme.llm.local_model import converted_dir

        spec = f"{HF_PREFIX}{converted_dir()}"
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


def _unconfigured(model: Any, api_key: str | None, base_url: str | None) -> bool:
    """No model named (argument or ``$LLM_MODEL``) and no endpoint configured."""
    return not model and not os.environ.get("LLM_MODEL", "").strip() and not endpoint_configured(api_key, base_url)


def configured_model(config: Mapping[str, Any]) -> Any:
    """The model ReMe's LLM settings name: ``model_name``, else ``model`` (``None`` when neither is set)."""
    return config.get("model_name") or config.get("model")


def build_llm_from_config(
    config: Mapping[str, Any], *, api_key: str | None = None, base_url: str | None = None
) -> LLMClient:
    """The client of ReMe's LLM settings (``ReMe``'s ``default_llm_config``, ``ReMeLight``'s
    ``default_as_llm_config``): an ``hf:<dir>`` model name runs that model in-process, ``local`` / ``hf:smollm2``
    the local SmolLM2, and so does no model with no endpoint when ``local_by_default()`` (the ``local-llm`` extra is
    installed, ``$LLM_BACKEND`` is not ``endpoint``); any other is an OpenAI-compatible endpoint at ``base_url`` with
    ``api_key`` (each falling back to ``$LLM_BASE_URL`` / ``$LLM_API_KEY``; the model to ``$LLM_MODEL``)."""
    model = configured_model(config)
    if isinstance(model, str) and (model.startswith(HF_PREFIX) or model.strip().lower() in LOCAL_SPECS):
        return build_llm(model)
    if _unconfigured(model, api_key, base_url) and local_by_default():
        return build_llm("local")
    return build_llm(LLMConfig.from_env(api_key=api_key, base_url=base_url, model=model))
