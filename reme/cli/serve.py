"""``reme serve`` (HTTP) and ``reme mcp`` (MCP tools): serve a workspace, with the connection limits and the LLM
both servers share."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from reme.cli import json_command, stderr
from reme.cli.options import WorkspaceOpt, workspace_path
from reme.errors import BadInputError, ReMeError

commands: typer.Typer = typer.Typer()

LLMBaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-base-url",
        help="OpenAI-compatible endpoint that summarises for compaction and summary_task_memory "
        "(default $LLM_BASE_URL; the key is read from $LLM_API_KEY only). 'hf:<dir>' runs a local model, "
        "'local' SmolLM2.",
    ),
]
LLMModelOpt = Annotated[str | None, typer.Option("--llm-model", help="Model name (default $LLM_MODEL).")]
DumpDirOpt = Annotated[
    str | None,
    typer.Option("--dump-dir", help="The only directory load_memory and dump_memory use (default WS/dumps)."),
]


RequestTimeoutOpt = Annotated[
    float, typer.Option("--request-timeout", help="Seconds a client has to send a whole request (HTTP).")
]
MaxConnectionsOpt = Annotated[int, typer.Option("--max-connections", help="Open connections served at once (HTTP).")]
MaxPerClientOpt = Annotated[
    int,
    typer.Option(
        "--max-connections-per-client", help="Open connections from one address (HTTP; raise behind a proxy)."
    ),
]


def _check_limits(request_timeout: float, max_connections: int, max_per_client: int, rate_limit: float = 0.0) -> None:
    if rate_limit < 0 or request_timeout <= 0 or max_connections < 1 or max_per_client < 1:
        raise BadInputError(
            "--rate-limit must be >= 0, --request-timeout > 0, --max-connections and --max-connections-per-client >= 1"
        )


def _service_llm(base_url: str | None, model: str | None) -> Any:
    """The servers' LLM client: ``hf:<dir>`` or ``local`` (in-process), an endpoint (option or ``$LLM_BASE_URL``), or
    ``None`` (a server never starts a model nobody asked for)."""
    from reme.llm import LLMConfig, build_llm
    from reme.llm.local_model import LOCAL_SPECS

    if base_url and (base_url.startswith("hf:") or base_url.strip().lower() in LOCAL_SPECS):
        return build_llm(base_url)
    if base_url or os.environ.get("LLM_BASE_URL", "").strip():
        return build_llm(LLMConfig.from_env(base_url=base_url, model=model))
    return None


@commands.command()
@json_command
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback unless a token file is given).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8002,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="YAML: each bearer token -> the targets it may use.")
    ] = None,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    dump_dir: DumpDirOpt = None,
    rate_limit: Annotated[
        float,
        typer.Option("--rate-limit", help="Requests a second per token (0: unlimited; none without --token-file)."),
    ] = 20.0,
    request_timeout: RequestTimeoutOpt = 30.0,
    max_connections: MaxConnectionsOpt = 512,
    max_per_client: MaxPerClientOpt = 64,
    learn: Annotated[
        bool, typer.Option("--learn", help="Run `reme learn` in the background and serve what it promotes.")
    ] = False,
    learn_every: Annotated[float, typer.Option("--learn-every", help="Seconds between learning passes.")] = 600.0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", help="Worker processes on one port, each with its own caches (restarted if one dies)."
        ),
    ] = 1,
    concurrent_writes: Annotated[
        bool,
        typer.Option(
            "--concurrent-writes",
            help="Run writes at once instead of one at a time in arrival order (slower on 2 cores: docs/service.md).",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the workspace over HTTP (FastAPI; OpenAPI schema at /docs). Without --token-file it binds only to a
    loopback address. With --learn, a background learner runs `reme learn` every --learn-every seconds; a version
    it promotes or rolls back serves from the next request on."""
    import ipaddress

    from reme.service import create_app, load_tokens
    from reme.service.server import run_server

    _check_limits(request_timeout, max_connections, max_per_client, rate_limit)
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and learn:
        raise BadInputError(
            "--learn runs with one worker: with --workers, run `reme learn` beside the service (e.g. from cron) and "
            "restart or signal the workers to serve what it promotes"
        )

    tokens = load_tokens(token_file) if token_file else None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if tokens is None and not loopback:
        raise BadInputError(f"refusing to serve on {host} without --token-file: only loopback runs without auth")
    llm = _service_llm(llm_base_url, llm_model)
    root = workspace_path(ctx, workspace)
    if workers > 1:
        from reme.service.server import run_workers

        def build() -> Any:  # in each worker process: its own Memory, caches and database connections
            return create_app(root, tokens, llm=llm, dump_dir=dump_dir, rate_limit=rate_limit,
                              concurrent_writes=concurrent_writes)  # fmt: skip

        run_workers(build, host, port, workers, request_timeout=request_timeout, max_connections=max_connections,
                    max_per_client=max_per_client)  # fmt: skip
        return
    app_ = create_app(root, tokens, llm=llm, dump_dir=dump_dir, rate_limit=rate_limit,
                      concurrent_writes=concurrent_writes)  # fmt: skip
    if learn:
        from reme.train.learn import learn_in_background

        def reload(rows: list[Any]) -> None:
            served = app_.state.memory.reload_policies()
            stderr(f"reme learn: {', '.join(f'{r.kind} {r.outcome}' for r in rows)}; serving {served}")

        learn_in_background(root, learn_every, reload)
    run_server(
        app_,
        host,
        port,
        request_timeout=request_timeout,
        max_connections=max_connections,
        max_per_client=max_per_client,
    )


@commands.command("mcp")
@json_command
def mcp_cmd(
    ctx: typer.Context,
    transport: Annotated[
        str,
        typer.Option(
            "--transport",
            help="stdio (spawned by the client), http (streamable HTTP at /mcp) or sse (ReMe 0.3.x's, at /sse).",
        ),
    ] = "stdio",
    host: Annotated[
        str, typer.Option("--host", help="Address to bind with --transport http or sse (loopback only).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option("--port", help="Port for --transport http or sse.")] = 8001,
    llm_base_url: LLMBaseUrlOpt = None,
    llm_model: LLMModelOpt = None,
    dump_dir: DumpDirOpt = None,
    request_timeout: RequestTimeoutOpt = 30.0,
    max_connections: MaxConnectionsOpt = 512,
    max_per_client: MaxPerClientOpt = 64,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the workspace as MCP tools (add, search, get, list, update, delete, feedback, export trajectories)
    with the MCP Python SDK. Over http there is no auth, so it binds only to a loopback address (see docs/mcp.md)."""
    _check_limits(request_timeout, max_connections, max_per_client)
    try:
        from reme.service.mcp_server import run_mcp
    except ModuleNotFoundError as exc:
        raise ReMeError(
            f"`reme mcp` needs the MCP SDK ({exc.name} is not installed): pip install 'reme-rl[service]'"
        ) from None
    run_mcp(
        workspace_path(ctx, workspace),
        transport,
        host,
        port,
        llm=_service_llm(llm_base_url, llm_model),
        dump_dir=dump_dir,
        request_timeout=request_timeout,
        max_connections=max_connections,
        max_per_client=max_per_client,
    )
