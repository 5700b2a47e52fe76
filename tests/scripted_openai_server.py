"""Test helper: an OpenAI-compatible chat endpoint that answers from a queue of scripted assistant messages.

``tests/llm_server.py`` serves text with real log-probabilities from a tiny model; agent frameworks need something
else from their endpoint: replies that *call tools*. ``ScriptedOpenAIServer`` serves ``POST /v1/chat/completions``
(plain JSON, or server-sent events when the request asks for ``stream``) and ``GET /v1/models`` on 127.0.0.1 from a
background thread (standard library ``ThreadingHTTPServer``). Each request takes the next queued message:

- ``server.say("text")``: an assistant message with that content (``finish_reason: "stop"``);
- ``server.call_tool("name", {"arg": ...})``: an assistant message with one tool call (``finish_reason:
  "tool_calls"``), its ``id`` generated unless given;
- ``server.queue({...})``: any assistant message, as the raw dict of OpenAI's ``choices[0].message``.

With the queue empty a request gets HTTP 400 (``script exhausted``), which the OpenAI SDK does not retry, so a test
whose agent asks more than it scripted fails at once. Every request body is appended to ``server.requests``.

For a host application whose calls interleave (its agent, its compactor, its memory writer), ``router`` answers
instead of the queue: ``ScriptedOpenAIServer(router=lambda body: {"content": ...})`` replies to each request with
the assistant message the function builds from the request body (``None``: the queue answers).

Example::

    with ScriptedOpenAIServer() as server:
        server.call_tool("recall", {"query": "Alice"})
        server.say("Alice lives in Lisbon.")
        client = AsyncOpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedOpenAIServer", "request_text"]


def request_text(body: dict[str, Any]) -> str:
    """Every text of a chat request's messages (string contents and text blocks), joined by newlines."""
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [str(b.get("text", "")) for b in content if isinstance(b, dict)]
    return "\n".join(out)


class ScriptedOpenAIServer:
    """An OpenAI-compatible chat endpoint whose replies are queued by the test (see the module docstring).

    Use as a context manager (``with ScriptedOpenAIServer() as server: server.base_url``) or ``start()``/``stop()``.
    """

    def __init__(self, *, model_name: str = "scripted-model", port: int = 0, router: Any = None) -> None:
        self.model_name = model_name
        self.router = router
        """``body -> assistant message dict`` (or ``None``), consulted before the queue (see the module docstring)."""
        """Answered as ``model`` when a request names none, and listed by ``/v1/models``."""
        self.requests: list[dict[str, Any]] = []
        """Body of every chat request received (answered or not), in order."""
        self._script: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the script -----------------------------------------------------------------------------------------------

    def queue(self, message: dict[str, Any]) -> None:
        """Queue one raw assistant message (``{"role": "assistant", "content": ..., "tool_calls": [...]}``)."""
        with self._lock:
            self._script.append({"role": "assistant", **message})

    def say(self, text: str) -> None:
        """Queue a plain text answer."""
        self.queue({"content": text})

    def call_tool(
        self, name: str, arguments: dict[str, Any], *, call_id: str | None = None, text: str | None = None
    ) -> str:
        """Queue an assistant message calling tool ``name`` with ``arguments`` (sent JSON-encoded, as OpenAI does);
        ``text`` is its optional content. Returns the tool call's id."""
        call_id = call_id or f"call_{uuid.uuid4().hex[:24]}"
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        self.queue({"content": text, "tool_calls": [call]})
        return call_id

    @property
    def pending(self) -> int:
        """How many scripted messages are still queued."""
        with self._lock:
            return len(self._script)

    def _next(self) -> dict[str, Any] | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, the ``base_url`` for an OpenAI client."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedOpenAIServer:
        """Bind (port 0: an ephemeral port) and serve from a daemon thread."""
        if self._httpd is None:
            self._httpd = _HTTPServer(("127.0.0.1", self._port), _Handler, self)
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-openai", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _finish_reason(message: dict[str, Any]) -> str:
    return "tool_calls" if message.get("tool_calls") else "stop"


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    """Rough token counts (4 characters a token); frameworks only add them up."""
    prompt = len(json.dumps(body.get("messages", []))) // 4 + 1
    completion = len(json.dumps(message)) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: ScriptedOpenAIServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection; a stream ends when the connection closes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.server.owner.model_name, "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON")
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._error(400, "'messages' must be a list")
            return
        with owner._lock:
            owner.requests.append(body)
        routed = owner.router(body) if owner.router is not None else None
        message = {"role": "assistant", **routed} if routed is not None else owner._next()
        if message is None:
            self._error(400, "script exhausted: the test queued no reply for this request")
            return
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        model = body.get("model") or owner.model_name
        if body.get("stream"):
            self._stream(body, message, completion_id, model)
            return
        choice = {"index": 0, "message": message, "finish_reason": _finish_reason(message), "logprobs": None}
        self._json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": _usage(body, message),
            },
        )

    def _stream(self, body: dict[str, Any], message: dict[str, Any], completion_id: str, model: str) -> None:
        """The message as server-sent events: one delta with everything, one with the finish reason, the usage
        when ``stream_options.include_usage`` asks for it, then ``[DONE]``."""
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
        chunks: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": _finish_reason(message)}]},
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": _usage(body, message)})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
