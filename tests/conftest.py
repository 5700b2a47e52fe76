import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def minilm():
    """The real default encoder (all-MiniLM-L6-v2 from the installed package), loaded once per run."""
    from reme.config import EmbeddingConfig
    from reme.retrieval.embedding import build_encoder

    enc = build_encoder(EmbeddingConfig(device="cpu"))
    enc.encode(["warm up"])
    return enc


@pytest.fixture
def random_encoder():
    from reme.retrieval.embedding import RandomEncoder

    return RandomEncoder(32)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Evaluation's cross-run embedding cache goes to a temporary folder in tests."""
    monkeypatch.setenv("REME_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def locomo_path() -> Path:
    path = Path(os.environ.get("REME_LOCOMO_PATH", REPO.parent / "shared" / "data" / "locomo" / "locomo_train.json"))
    if not path.is_file():
        pytest.skip(f"LoCoMo file not found at {path}")
    return path
