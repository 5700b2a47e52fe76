"""Test helpers: a tiny real causal LM built on the spot, and an OpenAI-compatible server backed by it.

``make_tiny_model(dir)`` saves a 2-layer GPT-2 with random weights and a byte-level tokenizer (the 256 byte symbols,
no merges, token id = byte value, ``<|endoftext|>`` = 256) in well under a second; nothing is downloaded.

``LocalLLMServer(model_dir)`` serves ``POST /v1/chat/completions`` on 127.0.0.1 from a background thread
(standard library ``ThreadingHTTPServer``). Its log-probabilities are real: a scripted reply (``server.reply(...)``)
is returned with its teacher-forced token log-probs under the tiny model (``HFChatClient.score``), and with an
empty script the tiny model generates the reply (``HFChatClient.chat``). Faults for tests are queued and consumed one
per request, in order: ``fail_next``, ``delay_next``, ``garbage_next``. ``logprobs_enabled = False`` omits
log-probs, as some endpoints do. Every chat request body is appended to ``server.requests``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reme.llm.hf_client import HFChatClient
from reme.llm.types import LLMError

__all__ = ["CHAT_TEMPLATE", "EOS_TOKEN", "LocalLLMServer", "byte_symbols", "make_tiny_model"]

EOS_TOKEN = "<|endoftext|>"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""A minimal chat template for the tiny tokenizer (its markers are plain bytes, not special tokens)."""


def byte_symbols() -> list[str]:
    """The printable stand-in character of each byte 0..255 used by byte-level BPE: bytes that are printable
    Latin-1 characters stand for themselves, the others take code points 256, 257, ... in byte order."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    kept = set(keep)
    symbols: list[str] = []
    extra = 0
    for byte in range(256):
        if byte in kept:
            symbols.append(chr(byte))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def make_tiny_model(
    directory: str | Path, *, seed: int = 0, chat_template: bool = True, ascii_bias: bool = True
) -> str:
    """Build and save a tiny causal LM + tokenizer in ``directory``; return the directory as a string.

    With ``ascii_bias`` the output embeddings of all tokens but printable ASCII are zero (the others are scaled up),
    so the model mostly emits printable ASCII and greedy output re-tokenises to the ids that produced it.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {symbol: byte for byte, symbol in enumerate(byte_symbols())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS_TOKEN, pad_token=EOS_TOKEN)
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out))

    eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    assert isinstance(eos_id, int)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=16384,  # long enough for a writer prompt in bytes
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=False,  # tied, a random model mostly repeats its input token
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
        if ascii_bias:
            with torch.no_grad():
                weight = model.get_output_embeddings().weight
                printable = torch.zeros(weight.shape[0], dtype=torch.bool)
                printable[ord(" ") : ord("~") + 1] = True
                weight[printable] = torch.randn(int(printable.sum()), weight.shape[1]) * 0.5
                weight[~printable] = 0.0
    model.save_pretrained(str(out))
    return str(out)


@dataclass
class _Fault:
    """One queued misbehaviour: ``fail`` (HTTP error), ``delay`` (sleep, then answer), ``garbage`` (a bad 200)."""

    kind: str
    status: int = 500
    seconds: float = 0.0
    retry_after_ms: float | None = None
    body: str = ""
    content_type: str = "text/html"


class LocalLLMServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 backed by a real tiny transformers model.

    Use as a context manager (``with LocalLLMServer(dir) as server: server.base_url``) or ``start()``/``stop()``.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        port: int = 0,
        model_name: str = "tiny-test-lm",
        logprobs_enabled: bool = True,
        max_new_tokens: int = 32,
    ) -> None:
        self.lm = HFChatClient(str(model_dir), device="cpu", max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
        """The tiny model that scores scripted replies and generates the others."""
        self.model_name = model_name
        """Answered as ``model`` when a request names none."""
        self.logprobs_enabled = logprobs_enabled
        """False: never return ``logprobs`` (an endpoint without log-prob support)."""
        self.reject_logprobs = False
        """True: answer HTTP 400 to any request that asks for ``logprobs`` (an endpoint that refuses the option)."""
        self.bytes_token_names = False
        """True: name tokens that end inside a UTF-8 character ``bytes:\\xNN...`` as OpenAI does (else ``""``)."""
        self.requests: list[dict[str, Any]] = []
        """Body of every chat request received (failed and delayed ones included), in order."""
        self._script: deque[str] = deque()
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._port = port
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, the ``base_url`` for an OpenAI client."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def reply(self, *texts: str) -> None:
        """Queue scripted replies, answered in order (one per successful request)."""
        with self._lock:
            self._script.extend(texts)

    def fail_next(self, n: int = 1, status: int = 500, *, retry_after_ms: float | None = 1.0) -> None:
        """The next ``n`` requests get HTTP ``status`` with an OpenAI-style error body. ``retry_after_ms`` is sent as
        the ``retry-after-ms`` header (the openai SDK then waits that long instead of its backoff; ``None``: no
        header)."""
        with self._lock:
            self._faults.extend(_Fault("fail", status=status, retry_after_ms=retry_after_ms) for _ in range(n))

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """The next ``n`` requests are answered after sleeping ``seconds``."""
        with self._lock:
            self._faults.extend(_Fault("delay", seconds=seconds) for _ in range(n))

    def garbage_next(
        self, n: int = 1, *, body: str = "<html>bad gateway</html>", content_type: str = "text/html"
    ) -> None:
        """The next ``n`` requests get HTTP 200 with ``body`` (by default not JSON)."""
        with self._lock:
            self._faults.extend(_Fault("garbage", body=body, content_type=content_type) for _ in range(n))

    def reset(self) -> None:
        """Forget scripted replies, queued faults and recorded requests; log-probs back on."""
        with self._lock:
            self._script.clear()
            self._faults.clear()
            self.requests.clear()
        self.logprobs_enabled = True
        self.reject_logprobs = False
        self.bytes_token_names = False

    def start(self) -> LocalLLMServer:
        """Bind (port 0: an ephemeral port) and serve from a daemon thread."""
        if self._httpd is not None:
            return self
        self.lm.tokenizer  # load the model before the first request  # noqa: B018
        self._closing.clear()
        self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop delayed answers, wait for in-flight requests, close the socket."""
        if self._httpd is None:
            return
        self._closing.set()  # wakes delayed answers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ------------------------------------------------------------------------------------------------

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _next_script(self) -> str | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise ValueError("'messages' must be a list")
        scripted = self._next_script()
        if scripted is not None:
            text = scripted
            ids = self.lm.completion_ids(text)
            pieces = self.lm.decode_pieces(ids)
            logprobs = self.lm.score(messages, text)
            finish = "stop"
        else:
            stop = body.get("stop")
            result = self.lm.chat(
                messages,
                temperature=body.get("temperature"),
                max_tokens=body.get("max_tokens"),
                stop=[stop] if isinstance(stop, str) else stop,
            )
            text = result.text
            pieces = result.tokens or []
            logprobs = result.token_logprobs or []
            finish = result.finish_reason or "stop"
            ids = self.lm.completion_ids(text)
        if len(ids) != len(pieces):  # a stop string cut a token: fall back to the pieces' own bytes
            raw = [piece.encode("utf-8") for piece in pieces]
        else:
            raw = _token_bytes(self.lm.tokenizer, ids)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
        }
        if self.logprobs_enabled and body.get("logprobs"):
            entries = []
            for piece, chunk, logprob in zip(pieces, raw, logprobs):
                name = piece
                if self.bytes_token_names and not piece and chunk:
                    name = "bytes:" + "".join(f"\\x{b:02x}" for b in chunk)
                entries.append({"token": name, "logprob": logprob, "bytes": list(chunk), "top_logprobs": []})
            choice["logprobs"] = {"content": entries, "refusal": None}
        else:
            del choice["logprobs"]
        prompt_tokens = len(self.lm.prompt_ids(messages))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model_name,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(pieces),
                "total_tokens": prompt_tokens + len(pieces),
            },
        }


def _token_bytes(tokenizer: Any, ids: list[int]) -> list[bytes]:
    """The raw bytes of each token of a byte-level tokenizer (each symbol of a token stands for one byte)."""
    inverse = {symbol: byte for byte, symbol in enumerate(byte_symbols())}
    out: list[bytes] = []
    for token in tokenizer.convert_ids_to_tokens(ids):
        if isinstance(token, str) and all(ch in inverse for ch in token):
            out.append(bytes(inverse[ch] for ch in token))
        else:
            out.append(b"")
    return out


class _HTTPServer(ThreadingHTTPServer):
    # handler threads are joined by server_close(), so none is left running (in torch, or asleep) at exit
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: LocalLLMServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) makes the delayed answer fail to send; that is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive thread to wait for at stop
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json", headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            owner = self.server.owner
            self._json(200, {"object": "list", "data": [{"id": owner.model_name, "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON")
            return
        with owner._lock:
            owner.requests.append(body)
        if owner.reject_logprobs and body.get("logprobs"):
            self._error(400, "logprobs is not supported by this model")
            return
        fault = owner._next_fault()
        if fault is not None:
            if fault.kind == "fail":
                headers = {} if fault.retry_after_ms is None else {"retry-after-ms": f"{fault.retry_after_ms:g}"}
                self._error(fault.status, f"injected failure (HTTP {fault.status})", headers)
                return
            if fault.kind == "garbage":
                self._send(200, fault.body.encode("utf-8"), fault.content_type)
                return
        try:
            data = owner._completion(body)  # before any delay: the reply is taken from the state at arrival
        except (ValueError, TypeError, LLMError) as exc:
            self._error(400, str(exc))
            return
        if fault is not None and fault.kind == "delay" and owner._closing.wait(fault.seconds):
            return  # the server is stopping: drop the late answer
        self._json(200, data)
