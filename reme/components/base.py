"""The base of ReMe 0.4.x's components and jobs: ``Response`` (what a job answers) and ``Component`` (a configured
component whose config keys are its attributes). ``reme.application`` re-exports both under ReMe's paths."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TYPE_DEFAULTS", "Component", "Response"]


class Response(BaseModel):
    """What a job answers: ``answer`` (a string, or a dict for ``reindex``, ``graph_snapshot``, ``proactive``),
    ``success`` and free ``metadata``. Mutable: hosts re-rank and truncate it in place."""

    model_config = ConfigDict(extra="allow")

    answer: Any = ""
    success: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class Component:
    """A configured component: every key of its config is an attribute (``update_component`` sets them).

    Components with behaviour subclass it (the file store); the rest (``as_llm``, ``as_embedding``,
    ``embedding_store``, ``tokenizer``, ...) hold their settings, and ``as_llm.model`` holds the chat model a host
    injects."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, ctype: str, name: str, config: dict[str, Any], app: Any = None) -> None:
        self.component_type = ctype
        self.name = name
        self.app = app
        for key, value in {**self.defaults, **TYPE_DEFAULTS.get(ctype, {}), **config}.items():
            setattr(self, key, value)

    async def start(self) -> None:
        """Nothing to open for a settings holder."""

    async def close(self) -> None:
        """Nothing to release for a settings holder."""


TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "as_llm": {"backend": "", "model": None, "credential": {}, "parameters": {}, "stream": True},
    "as_embedding": {"backend": "", "model": None, "credential": {}, "parameters": {}, "dimensions": None},
    "embedding_store": {
        "backend": "local",
        "as_embedding": "default",
        "enable_cache": True,
        "max_cache_size": 10000,
        "max_input_length": 8192,
        "max_batch_size": 10,
        "health_check_timeout": 10.0,
    },
}
"""Attributes each component type has before its config is applied (hosts ``update_component`` them)."""
