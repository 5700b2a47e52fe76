"""``reme mcp``: the memory of one workspace as Model Context Protocol tools (the ``service`` extra).

Built on the official MCP Python SDK: its ``FastMCP`` server (``mcp.server.fastmcp``, mcp 1.x), which mcp 2.x
renamed ``MCPServer`` (``mcp.server.mcpserver``); whichever is installed is used, with the same tools.

The tools are the operations of the HTTP service (``reme serve``) under the same rules: one workspace per server,
every ``Memory`` call under one lock (SQLite, the indexes and the trajectory log see one writer), a target left
out means ``default``. Library errors come back as MCP tool errors (``isError``) whose text names the problem;
they never stop the server.

There is no auth on MCP here: over stdio the client that spawned the server owns it; over streamable HTTP
anything that can reach the port can read and write every target, so ``run_mcp`` binds only to a loopback
address (and keeps the SDK's DNS-rebinding protection on, so a web page cannot drive it through the browser).

Every search is a ranking decision appended to the workspace's trajectory log; ``feedback`` appends a reward
that names that decision (or a memory, credited to the write that stored it), which ``reme train-policy`` and
``reme trajectories`` join to the decision.

This module owns the server: the SDK it is built on, ``create_mcp_server`` and the transports (``run_mcp``); the
tools themselves are ``reme.service.mcp_tools``, thin adapters over the operations ``reme serve`` shares.
"""

from __future__ import annotations

import importlib
import ipaddress
from pathlib import Path
from typing import Any, Literal

from reme.errors import BadInputError

from .compaction import Compaction
from .limits import FairLock
from .mcp_tools import ToolRunner, compaction_tool, memory_tools, personal_and_tool_flow_tools, task_flow_tools
from .personal_tool_flows import PersonalToolFlows
from .task_flows import TaskFlows

__all__ = ["create_mcp_server", "is_loopback", "run_mcp"]

SERVER_NAME = "reme"
DEFAULT_PORT = 8001

INSTRUCTIONS = """\
Long-term memory. Memories belong to a target: 'default', 'user:NAME', 'agent:NAME', 'task:NAME', 'tool:NAME' or
'file:NAME' (left out: 'default'). Call search_memory before answering from memory; it returns a decision_id.
Afterwards call feedback with that decision_id and a value (1 when the results helped, 0 or -1 when they did not):
the ranking policy is trained on these rewards. Store durable facts with add_memory.\
"""


# ------------------------------------------------------------------------------------------------- SDK
def _sdk() -> tuple[Any, type[Exception]]:
    """The SDK's server class and the exception it turns into a tool error with our message: mcp 2.x's
    ``MCPServer``, else mcp 1.x's ``FastMCP``. Imported by name, so type checking works with either."""
    try:
        module = importlib.import_module("mcp.server.mcpserver")
        errors = importlib.import_module("mcp.server.mcpserver.exceptions")
        return module.MCPServer, errors.ToolError
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("mcp.server"):
            raise
    module = importlib.import_module("mcp.server.fastmcp")
    errors = importlib.import_module("mcp.server.fastmcp.exceptions")
    return module.FastMCP, errors.ToolError


_SERVER_CLASS, _TOOL_ERROR = _sdk()  # importing this module without the SDK fails here, before any workspace opens


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------ server
def create_mcp_server(
    workspace: str | Path, *, memory: Any = None, llm: Any = None, dump_dir: str | Path | None = None
) -> Any:
    """The MCP server over ``workspace`` (or an already open ``memory``, for tests), with the memory tools
    registered. Returns the SDK's server object (``FastMCP`` on mcp 1.x, ``MCPServer`` on mcp 2.x); its tools'
    parameter types and docstrings are the tool schemas clients see. ``llm`` summarises for ``compact_messages``
    and ``summary_task_memory``; ``dump_dir`` is the only directory ``load_memory`` / ``dump_memory`` touch."""
    from reme.memory import Memory

    mem = memory if memory is not None else Memory(workspace)
    runner = ToolRunner(FairLock(), _TOOL_ERROR)
    server = _SERVER_CLASS(SERVER_NAME, instructions=INSTRUCTIONS)
    memory_tools(server, mem, runner)
    compaction_tool(server, Compaction(mem, llm), runner)
    flows = TaskFlows(mem, runner.locked, llm=llm, dump_dir=dump_dir)
    task_flow_tools(server, flows, runner)
    personal_and_tool_flow_tools(server, PersonalToolFlows(flows), runner)
    return server


# --------------------------------------------------------------------------------------------------- run
def _transport_security(host: str) -> Any:
    """DNS-rebinding protection for a loopback bind: only Host and Origin headers naming a loopback address
    (with any port) are served. ``None`` where the SDK has no such setting."""
    try:
        module = importlib.import_module("mcp.server.transport_security")
    except ModuleNotFoundError:
        return None
    names = ["127.0.0.1", "localhost", "[::1]"]
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    if shown not in names:
        names.append(shown)
    return module.TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names],
    )


def run_mcp(
    workspace: str | Path,
    transport: Literal["stdio", "http", "sse"] | str = "stdio",
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    llm: Any = None,
    dump_dir: str | Path | None = None,
    request_timeout: float | None = None,
    max_connections: int | None = None,
    max_per_client: int | None = None,
) -> None:
    """Serve the workspace's memory tools until the client disconnects (stdio) or the process is stopped (http).

    ``stdio``: JSON-RPC on stdin/stdout, for clients that spawn the server (desktop assistants, IDEs); nothing
    else may write to stdout. ``http``: the SDK's streamable HTTP transport at ``http://HOST:PORT/mcp``; ``sse``:
    its server-sent events transport (ReMe 0.3.x's default) at ``/sse`` and ``/messages/``. Neither has auth, so a
    host that is not a loopback address is refused with ``BadInputError``; it runs under the request-read
    deadline and connection caps of ``reme.service.server`` (``request_timeout``, ``max_connections``,
    ``max_per_client``)."""
    if transport not in ("stdio", "http", "sse"):
        raise BadInputError(f"unknown transport {transport!r}: use stdio, http or sse")
    if transport in ("http", "sse"):
        if not is_loopback(host):
            raise BadInputError(
                f"refusing to serve MCP on {host}: the MCP transport has no auth, so it binds only to a loopback "
                "address (127.0.0.1, ::1, localhost); use `reme serve --token-file` for remote access"
            )
        if not 0 < port < 65536:
            raise BadInputError(f"invalid port {port}")
    from reme.memory import Memory

    memory = Memory(workspace)
    server = create_mcp_server(workspace, memory=memory, llm=llm, dump_dir=dump_dir)
    try:
        if transport == "stdio":
            server.run("stdio")
            return
        from .server import run_server

        security = _transport_security(host)
        settings = getattr(server, "settings", None)
        make_app = server.sse_app if transport == "sse" else server.streamable_http_app
        if settings is not None and hasattr(settings, "host"):  # mcp 1.x: the app reads its settings
            settings.host, settings.port = host, port
            if security is not None:
                settings.transport_security = security
            app = make_app()
        else:  # mcp 2.x: options go to the app
            app = make_app(transport_security=security, host=host)
        limits: dict[str, Any] = {}
        if request_timeout is not None:
            limits["request_timeout"] = request_timeout
        if max_connections is not None:
            limits["max_connections"] = max_connections
        if max_per_client is not None:
            limits["max_per_client"] = max_per_client
        run_server(app, host, port, **limits)  # the request-read deadline and connection cap of ``reme serve``
    finally:
        memory.close()
