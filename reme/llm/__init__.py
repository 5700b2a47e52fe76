"""LLM clients whose chat calls return token log-probabilities, so that LLM-made decisions can be trained.

``build_llm(spec)`` picks the backend: an OpenAI-compatible endpoint (``OpenAIChatClient``, configured like ReMe
0.3.1.x by ``$LLM_API_KEY``/``$LLM_BASE_URL`` and a model name) or ``"hf:<local dir>"`` for an in-process
transformers model (``HFChatClient``). torch, transformers and openai are imported only when a client first needs
them.
"""

from __future__ import annotations

from reme.llm.factory import build_llm, build_llm_from_config
from reme.llm.hf_client import HFChatClient
from reme.llm.openai_client import OpenAIChatClient
from reme.llm.types import (
    ChatResult,
    LLMClient,
    LLMConfig,
    LLMError,
    LLMResponseError,
    LLMTimeoutError,
)

__all__ = [
    "ChatResult",
    "HFChatClient",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "LLMResponseError",
    "LLMTimeoutError",
    "OpenAIChatClient",
    "build_llm",
    "build_llm_from_config",
]
