"""Running the service's ASGI apps under uvicorn with limits a slow or hostile client cannot outlast.

Uvicorn times out idle keep-alive connections, but not a connection that sends its request slowly: a client that
opens a socket and dribbles a header byte every few seconds holds a file descriptor forever, and about a thousand of
them (the usual open-files limit) stop the server from accepting anyone. ``run_server`` serves with
``guarded_protocol``, uvicorn's h11 protocol plus:

- a **request-read deadline**: the whole request, headers and body, must arrive within ``request_timeout`` seconds
  of the connection opening (or of the previous response on a kept-alive connection); otherwise the connection is
  closed;
- a **connection cap**: past ``max_connections`` open connections, or ``max_per_client`` from one client address,
  a new one is answered 503 and closed at once, so descriptors stay below the process's limit (which is raised to
  its hard maximum at start) and one host's slow connections cannot take every slot (behind a reverse proxy every
  client has the proxy's address: raise ``max_per_client`` there).

Both ``reme serve`` and ``reme mcp --transport http`` run through here.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PER_CLIENT",
    "DEFAULT_REQUEST_TIMEOUT",
    "guarded_protocol",
    "raise_open_files",
    "run_server",
    "run_workers",
]

log = logging.getLogger(__name__)

DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_MAX_PER_CLIENT = 64

_BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def raise_open_files() -> int:
    """Raise this process's soft open-files limit to its hard limit; returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 1 << 16
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


def guarded_protocol(
    request_timeout: float, max_connections: int, max_per_client: int = DEFAULT_MAX_PER_CLIENT
) -> type:
    """Uvicorn's h11 protocol with a request-read deadline and connection caps (see the module docstring)."""
    from collections import Counter

    from uvicorn.protocols.http.h11_impl import H11Protocol

    per_client: Counter[str] = Counter()  # open connections per client address, of this server

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._reme_timer: Any = None
            self._reme_cycle: Any = None
            self._reme_host = str(self.client[0]) if self.client else ""
            self._reme_counted = False
            full = len(self.connections) > max_connections
            if full or per_client[self._reme_host] >= max_per_client:
                log.warning(
                    "refusing a connection from %s: %d open (limit %d), %d from it (limit %d)", self._reme_host,
                    len(self.connections), max_connections, per_client[self._reme_host], max_per_client,
                )  # fmt: skip
                transport.write(_BUSY)
                transport.close()
                return
            per_client[self._reme_host] += 1
            self._reme_counted = True
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._reme_timer = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if getattr(self, "_reme_timer", None) is not None:
                self._reme_timer.cancel()
                self._reme_timer = None

        def _expire(self) -> None:
            self._reme_timer = None
            if not self.transport.is_closing():
                log.info("closing a connection that did not send its request within %.0f s", request_timeout)
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            cycle = self.cycle
            if cycle is not None and cycle is not self._reme_cycle and not cycle.more_body:
                self._reme_cycle = cycle  # this request has fully arrived: the app has it now
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this kept-alive connection has the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if getattr(self, "_reme_counted", False):
                self._reme_counted = False
                per_client[self._reme_host] -= 1
                if per_client[self._reme_host] <= 0:
                    del per_client[self._reme_host]
            super().connection_lost(exc)

    return GuardedH11Protocol


def run_server(
    app: Any,
    host: str,
    port: int,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    log_level: str = "info",
) -> None:
    """Serve ``app`` until stopped, with the limits above (``max_connections`` is lowered to fit the open-files
    limit, leaving room for the workspace's own files)."""
    import uvicorn

    protocol = _capped_protocol(request_timeout, max_connections, max_per_client)
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=protocol, timeout_keep_alive=5)


def _capped_protocol(request_timeout: float, max_connections: int, max_per_client: int) -> type:
    """``guarded_protocol`` with ``max_connections`` lowered to fit the open-files limit (raised first)."""
    limit = raise_open_files()
    cap = max(1, min(max_connections, limit - 64))
    if cap < max_connections:
        log.warning("open-files limit %d: serving at most %d connections", limit, cap)
    return guarded_protocol(request_timeout, cap, max_per_client)


def run_workers(
    build_app: Any,
    host: str,
    port: int,
    workers: int,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_per_client: int = DEFAULT_MAX_PER_CLIENT,
    log_level: str = "info",
    restart_delay: float = 1.0,
) -> None:
    """Serve with ``workers`` processes on one listening socket, until stopped: the parent binds ``host:port``,
    forks the workers (each calls ``build_app()`` itself, so each has its own ``Memory``, caches and connection pool)
    and restarts one that dies (after ``restart_delay`` seconds); SIGINT or SIGTERM stops them all. The kernel
    spreads connections over the workers. The limits are per worker."""
    import multiprocessing
    import signal
    import socket
    import time

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    context = multiprocessing.get_context("fork")

    def start(index: int) -> Any:
        process = context.Process(
            target=_worker, args=(build_app, sock, request_timeout, max_connections, max_per_client, log_level),
            name=f"reme-worker-{index}", daemon=False,
        )  # fmt: skip
        process.start()
        return process

    running = {i: start(i) for i in range(workers)}
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info("serving on %s:%d with %d workers", host, port, workers)
    try:
        while not stopping:
            time.sleep(0.2)
            for index, process in list(running.items()):
                if not process.is_alive() and not stopping:
                    log.warning("worker %d (pid %s) exited with %s: starting another", index, process.pid,
                                process.exitcode)  # fmt: skip
                    time.sleep(restart_delay)
                    running[index] = start(index)
    finally:
        for process in running.values():
            if process.is_alive():
                process.terminate()
        for process in running.values():
            process.join(timeout=15)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(
    build_app: Any, sock: Any, request_timeout: float, max_connections: int, max_per_client: int, log_level: str
) -> None:
    """One worker process: its own app on the shared socket."""
    import signal

    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    protocol = _capped_protocol(request_timeout, max_connections, max_per_client)
    config = uvicorn.Config(build_app(), log_level=log_level, http=protocol, timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[sock])
