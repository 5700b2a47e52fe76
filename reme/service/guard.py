"""What stands in front of every endpoint of ``reme serve``: ``RequestGuard``, a pure ASGI middleware that checks
``Host`` and ``Origin`` for a server without tokens (DNS rebinding: 421/403), enforces the body limit while the
body streams in (413 without reading the rest), and runs the JSON checks of ``reme.service.limits.check_json``
(422); and ``printable``, which makes the input a 422 echoes back printable and short."""

from __future__ import annotations

import json
from typing import Any

from .limits import check_json

__all__ = ["LOOPBACK_HOSTS", "RequestGuard", "printable"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def printable(value: Any) -> Any:
    """``value`` (validation errors) with bytes and unencodable text replaced by a short printable form."""
    if isinstance(value, dict):
        return {str(k): printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable(v) for v in value]
    if isinstance(value, bytes):
        return repr(value[:200])
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:200]
        return value if len(value) <= 500 else value[:500] + "..."
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)[:200]


class RequestGuard:
    """Pure ASGI middleware in front of every endpoint (see the module docstring): a ``Host``/``Origin`` check for a
    server without tokens (421/403), a body limit enforced while the body streams in (413 without reading the
    rest), and the JSON checks of ``reme.service.limits.check_json`` (422)."""

    def __init__(self, app: Any, max_body_bytes: int, hosts: frozenset[str] | set[str] | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.hosts = hosts
        """Host names served (``None``: any, a server with tokens)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.hosts is not None:
            if not _host_name_in(headers.get("host", ""), self.hosts):
                await _reply(send, 421, "this server has no tokens and serves only loopback host names")
                return
            origin = headers.get("origin")
            if origin and origin != "null" and not _host_name_in(origin.split("://", 1)[-1], self.hosts):
                await _reply(send, 403, "cross-origin requests are not served by a server without tokens")
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body and (not kind or kind == "application/json" or kind.endswith("+json")):
            problem = check_json(body)
            if problem is not None:
                await _reply(send, 422, problem)
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


def _host_name_in(host: str, names: frozenset[str] | set[str]) -> bool:
    """Whether a ``Host`` value (``name[:port]``) is one of ``names`` or a 127.0.0.0/8 address."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in names:
        return True
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
