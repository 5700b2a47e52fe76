"""The LLM clients against a local OpenAI-compatible server backed by a real tiny model, and the in-process client."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest
from llm_server import LocalLLMServer, make_tiny_model
from pydantic import ValidationError

from reme.errors import BadInputError, ReMeError
from reme.llm import (
    ChatResult,
    HFChatClient,
    LLMClient,
    LLMConfig,
    LLMError,
    LLMResponseError,
    LLMTimeoutError,
    OpenAIChatClient,
    build_llm,
)
from reme.llm.hf_client import render_plain_prompt

MESSAGES = [
    {"role": "system", "content": "You keep notes."},
    {"role": "user", "content": "Remember that the meeting moved to Friday."},
]
TOL = 1e-4


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def hf(tiny_model_dir: str) -> HFChatClient:
    return HFChatClient(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def _server(tiny_model_dir: str):
    with LocalLLMServer(tiny_model_dir) as server:
        yield server


@pytest.fixture
def server(_server: LocalLLMServer) -> LocalLLMServer:
    _server.reset()
    return _server


def client_for(server: LocalLLMServer, **kw) -> OpenAIChatClient:
    return OpenAIChatClient(LLMConfig(base_url=server.base_url, model="tiny", **{"timeout": 10.0, **kw}))


def assert_close(got: list[float] | None, want: list[float]) -> None:
    assert got is not None
    assert len(got) == len(want)
    assert max((abs(a - b) for a, b in zip(got, want)), default=0.0) < TOL


# -- OpenAI-compatible endpoint --------------------------------------------------------------------------------------


def test_scripted_reply_carries_teacher_forced_logprobs(server: LocalLLMServer, hf: HFChatClient) -> None:
    text = "Hello, world! héllo ✓"
    server.reply(text)
    result = client_for(server).chat(MESSAGES)
    assert result.text == text
    assert result.backend == "openai" and result.model == "tiny" and result.finish_reason == "stop"
    assert result.tokens is not None and "".join(result.tokens) == text
    expected = hf.score(MESSAGES, text)
    assert_close(result.token_logprobs, expected)
    assert result.logprob == pytest.approx(sum(expected), abs=TOL)
    start = text.index("world")
    assert result.span_logprob(start, start + 5) == pytest.approx(sum(expected[start : start + 5]), abs=TOL)
    e = text.index("é")  # two byte tokens: "" then "é"; both belong to the character
    assert result.span_logprob(e, e + 1) == pytest.approx(expected[e] + expected[e + 1], abs=TOL)
    request = server.requests[-1]
    assert request["logprobs"] is True and request["model"] == "tiny" and request["messages"] == MESSAGES
    assert "temperature" not in request and "max_tokens" not in request


def test_request_options_are_forwarded(server: LocalLLMServer) -> None:
    server.reply("ok")
    client = client_for(server, temperature=0.3, max_tokens=50, logprobs=False)
    result = client.chat(MESSAGES, max_tokens=7, stop=["\n"])
    assert result.text == "ok" and result.token_logprobs is None
    request = server.requests[-1]
    assert request["temperature"] == 0.3 and request["max_tokens"] == 7 and request["stop"] == ["\n"]
    assert "logprobs" not in request


def test_generated_reply_when_script_is_empty(server: LocalLLMServer, hf: HFChatClient) -> None:
    result = client_for(server).chat(MESSAGES, max_tokens=8)
    assert result.finish_reason == "length"
    assert result.tokens is not None and len(result.tokens) == 8 and "".join(result.tokens) == result.text
    assert_close(result.token_logprobs, hf.score(MESSAGES, result.text))


def test_openai_style_partial_byte_token_names(server: LocalLLMServer, hf: HFChatClient) -> None:
    text = "naïve ✓"
    server.reply(text)
    server.bytes_token_names = True
    result = client_for(server).chat(MESSAGES)
    assert result.tokens is not None and "".join(result.tokens) == text
    assert_close(result.token_logprobs, hf.score(MESSAGES, text))


def test_transient_failures_are_retried(server: LocalLLMServer) -> None:
    server.fail_next(2, status=500)
    server.reply("third time lucky")
    result = client_for(server, max_retries=2).chat(MESSAGES)
    assert result.text == "third time lucky"
    assert len(server.requests) == 3


def test_failure_without_retries_raises(server: LocalLLMServer) -> None:
    server.fail_next(1, status=503)
    with pytest.raises(LLMError) as info:
        client_for(server, max_retries=0).chat(MESSAGES)
    assert not isinstance(info.value, LLMTimeoutError | LLMResponseError)
    assert isinstance(info.value, ReMeError)
    assert "503" in str(info.value) and server.base_url in str(info.value)
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(server: LocalLLMServer) -> None:
    server.fail_next(1, status=400)
    with pytest.raises(LLMError, match="400"):
        client_for(server, max_retries=3).chat(MESSAGES)
    assert len(server.requests) == 1


def test_timeout(server: LocalLLMServer) -> None:
    server.delay_next(2.0)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError):
        client_for(server, timeout=0.5, max_retries=0).chat(MESSAGES)
    assert time.monotonic() - started < 1.8


def test_unreachable_endpoint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(LLMError, match=url.replace(".", r"\.")):
        OpenAIChatClient(LLMConfig(base_url=url, max_retries=0, timeout=2.0)).chat(MESSAGES)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>bad gateway</html>", "text/html"),
        ("{not json", "application/json"),
        ('{"object": "chat.completion", "choices": []}', "application/json"),
        ('{"choices": [{"index": 0, "finish_reason": "stop"}]}', "application/json"),
        ('{"choices": [{"message": {"content": "x"}, "logprobs": {"content": [{"token": "x"}]}}]}', "application/json"),
    ],
)
def test_garbage_is_a_response_error(server: LocalLLMServer, body: str, content_type: str) -> None:
    server.garbage_next(body=body, content_type=content_type)
    with pytest.raises(LLMResponseError):
        client_for(server, max_retries=2).chat(MESSAGES)
    assert len(server.requests) == 1


def test_missing_logprobs_warn_once(server: LocalLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    server.logprobs_enabled = False
    server.reply("first", "second")
    client = client_for(server)
    with caplog.at_level(logging.WARNING, logger="reme.llm"):
        results = [client.chat(MESSAGES), client.chat(MESSAGES)]
    assert [r.text for r in results] == ["first", "second"]
    assert all(r.token_logprobs is None and r.tokens is None for r in results)
    assert results[0].logprob is None and results[0].span_logprob(0, 3) is None
    warnings = [r for r in caplog.records if r.name == "reme.llm" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "logprob null" in warnings[0].getMessage() and "trainable false" in warnings[0].getMessage()


def test_refused_logprobs_option_is_dropped(server: LocalLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    server.reject_logprobs = True
    server.reply("one", "two")
    client = client_for(server, max_retries=0)
    with caplog.at_level(logging.WARNING, logger="reme.llm"):
        first = client.chat(MESSAGES)
        second = asyncio.run(client.achat(MESSAGES))
    assert (first.text, second.text) == ("one", "two")
    assert first.token_logprobs is None and second.token_logprobs is None
    assert [bool(r.get("logprobs")) for r in server.requests] == [True, False, False]
    assert len([r for r in caplog.records if r.name == "reme.llm" and r.levelno == logging.WARNING]) == 1


def test_achat(server: LocalLLMServer, hf: HFChatClient) -> None:
    server.reply("async one", "async two")
    client = client_for(server)
    first = asyncio.run(client.achat(MESSAGES))
    second = asyncio.run(client.achat(MESSAGES))  # a new event loop gets a new async SDK client
    assert (first.text, second.text) == ("async one", "async two")
    assert_close(second.token_logprobs, hf.score(MESSAGES, "async two"))


def test_achat_maps_errors(server: LocalLLMServer) -> None:
    server.garbage_next()
    with pytest.raises(LLMResponseError):
        asyncio.run(client_for(server).achat(MESSAGES))


# -- in-process transformers model -----------------------------------------------------------------------------------


def test_hf_greedy_logprobs_match_score(hf: HFChatClient) -> None:
    result = hf.chat(MESSAGES, max_tokens=12)
    assert result.backend == "hf" and result.finish_reason == "length"
    assert result.tokens is not None and len(result.tokens) == 12
    assert "".join(result.tokens) == result.text
    assert_close(result.token_logprobs, hf.score(MESSAGES, result.text))
    again = hf.chat(MESSAGES, max_tokens=12)
    assert again.text == result.text and again.token_logprobs == result.token_logprobs


def test_hf_stop_string(hf: HFChatClient) -> None:
    full = hf.chat(MESSAGES, max_tokens=12).text
    stop = full[4:6]
    cut = full.find(stop)
    assert 0 < cut < len(full)
    result = hf.chat(MESSAGES, max_tokens=12, stop=[stop])
    assert result.finish_reason == "stop"
    assert result.text == full[:cut]
    assert result.tokens is not None and "".join(result.tokens) == result.text
    assert_close(result.token_logprobs, hf.score(MESSAGES, result.text))


def test_hf_sampling_is_seeded_and_scored_at_its_temperature(tiny_model_dir: str) -> None:
    runs = [HFChatClient(tiny_model_dir, device="cpu", temperature=0.7, seed=3).chat(MESSAGES, max_tokens=10)]
    runs.append(HFChatClient(tiny_model_dir, device="cpu", temperature=0.7, seed=3).chat(MESSAGES, max_tokens=10))
    assert runs[0].text == runs[1].text and runs[0].token_logprobs == runs[1].token_logprobs
    result = runs[0]
    assert result.tokens is not None and "".join(result.tokens) == result.text
    scorer = HFChatClient(tiny_model_dir, device="cpu")
    if len(scorer.completion_ids(result.text)) == len(result.tokens):  # the sample re-tokenises to the same ids
        assert_close(result.token_logprobs, scorer.score(MESSAGES, result.text, temperature=0.7))
        assert not all(
            abs(a - b) < TOL for a, b in zip(result.token_logprobs or [], scorer.score(MESSAGES, result.text))
        )


def test_hf_achat(hf: HFChatClient) -> None:
    result = asyncio.run(hf.achat(MESSAGES, max_tokens=5))
    assert result.text == hf.chat(MESSAGES, max_tokens=5).text


def test_hf_plain_prompt_without_chat_template(tmp_path: Path) -> None:
    client = HFChatClient(make_tiny_model(tmp_path / "plain", chat_template=False), device="cpu")
    prompt = render_plain_prompt(MESSAGES)
    assert prompt.endswith("\nassistant: ") and prompt.startswith("system: You keep notes.\n")
    assert client.prompt_ids(MESSAGES) == client.tokenizer(prompt)["input_ids"]
    result = client.chat(MESSAGES, max_tokens=4)
    assert_close(result.token_logprobs, client.score(MESSAGES, result.text))


def test_hf_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(LLMError, match="no local model directory"):
        HFChatClient(str(tmp_path / "nowhere"))
    with pytest.raises(LLMError):
        build_llm("hf:" + str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(LLMError, match="cannot load"):
        HFChatClient(str(tmp_path / "empty")).chat(MESSAGES)


# -- configuration and construction ----------------------------------------------------------------------------------


def test_build_llm(tiny_model_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_MODEL", raising=False)
    local = build_llm("hf:" + tiny_model_dir, device="cpu", max_tokens=9, api_key="ignored")
    assert isinstance(local, HFChatClient) and isinstance(local, LLMClient) and local.max_new_tokens == 9
    with pytest.raises(BadInputError):
        build_llm("hf:" + tiny_model_dir, top_k=5)
    remote = build_llm("qwen-max", timeout=5.0)
    assert isinstance(remote, OpenAIChatClient) and isinstance(remote, LLMClient)
    assert remote.model == "qwen-max" and remote.config.timeout == 5.0
    assert build_llm("openai:gpt-x").model == "gpt-x"
    assert build_llm().model == "qwen3.5-plus"
    config = LLMConfig(model="m", base_url="http://x/v1")
    assert build_llm(config).config is config  # type: ignore[attr-defined]
    assert build_llm(config, max_retries=0).config.max_retries == 0  # type: ignore[attr-defined]


def test_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-test")
    monkeypatch.setenv("LLM_BASE_URL", "http://localhost:9999/v1")
    monkeypatch.setenv("LLM_MODEL", "env-model")
    config = LLMConfig.from_env()
    assert (config.api_key, config.base_url, config.model) == ("sk-test", "http://localhost:9999/v1", "env-model")
    assert "sk-test" not in repr(config)
    assert LLMConfig.from_env(model=None, base_url=None).model == "env-model"
    assert LLMConfig.from_env(model_name="qwen3.5-35b-a3b").model == "qwen3.5-35b-a3b"
    assert LLMConfig.from_env(model="a", temperature=0.2).temperature == 0.2
    monkeypatch.delenv("LLM_MODEL")
    monkeypatch.setenv("LLM_API_KEY", "")
    config = LLMConfig.from_env()
    assert config.model == "qwen3.5-plus" and config.api_key is None
    assert (config.timeout, config.max_retries, config.logprobs) == (60.0, 3, True)
    assert LLMConfig(model_name="x", backend="openai").model == "x"


def test_chat_result_spans() -> None:
    result = ChatResult(text="ab cd", tokens=["ab", " c", "d"], token_logprobs=[-1.0, -2.0, -4.0])
    assert result.logprob == -7.0
    assert result.span_logprob(0, 2) == -1.0
    assert result.span_logprob(1, 4) == -3.0
    assert result.span_logprob(4, 99) == -4.0
    assert result.span_logprob(3, 3) == 0.0
    # pieces that do not concatenate to the text: located one after the other with str.find
    odd = ChatResult(text="  ab  cd", tokens=["ab", "cd"], token_logprobs=[-1.0, -2.0])
    assert odd.token_offsets() == [(2, 4), (6, 8)]
    assert odd.span_logprob(5, 8) == -2.0
    assert ChatResult(text="x").span_logprob(0, 1) is None
    with pytest.raises(ValidationError):
        ChatResult(text="ab", tokens=["a", "b"], token_logprobs=[-1.0])
