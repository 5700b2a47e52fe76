"""ReMe 0.4.x's command line: ``reme start`` serves the application, ``reme <job> key=value ...`` calls it.

- ``reme start [config=FILE] [key=value ...]``: build ``ReMe(**config)`` (a YAML or JSON ``config`` file, then the
  overrides deep-merged; ``workspace_dir`` defaults to ``.reme``) and serve it on ``service.host`` /
  ``service.port`` (default ``127.0.0.1:2333``, loopback only): ``POST /<job>`` with the job's keyword arguments as
  a JSON object answers the job's ``Response`` as JSON; ``GET /health`` answers ``health_check``'s.
- ``reme start job=NAME key=value ...``: run one job in this process, print its answer, exit 1 when it failed.
- ``reme <job> key=value ...`` (``reme search query="green tea" limit=5``, ``reme version``): call the running
  service (``host=``, ``port=``, ``timeout=`` choose it; ``show_metadata=true`` prints the metadata too); exit 1 when
  the job failed or no service answers. ``reme help`` lists the served jobs.

``reme.cli.main`` sends a command line here when it is in this form (``is_job_command``); everything else is this
project's own command line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from reme.config import parse_action, parse_kwargs

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "is_job_command", "run"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2333
CLIENT_KEYS = ("host", "port", "timeout", "show_metadata", "backend", "transport", "command", "args")
"""Keywords of ``reme <job> ...`` that choose the service, not arguments of the job."""
BARE_JOBS = frozenset({"version", "health_check", "status", "graph_snapshot", "reindex", "daily_list", "proactive",
                       "help"})  # fmt: skip
"""Jobs ``reme <job>`` calls with no arguments (none of them is a command of this project's own CLI)."""


def is_job_command(argv: list[str]) -> bool:
    """Whether a command line is ReMe 0.4's form: ``start`` (not an option), or a name followed only by
    ``key=value`` arguments (at least one, or a job that takes none)."""
    if not argv or argv[0].startswith("-"):
        return False
    if argv[0] == "start":
        return True
    rest = argv[1:]
    if not rest:
        return argv[0] in BARE_JOBS
    return all("=" in a and not a.startswith("-") and " " not in a.split("=", 1)[0] for a in rest)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The application config of ``reme start``: ``config=FILE`` (YAML or JSON), then the other keys over it."""
    kwargs = dict(kwargs)
    source = kwargs.pop("config", None)
    config: dict[str, Any] = {}
    if source:
        import yaml

        path = Path(str(source))
        if not path.is_file():
            raise SystemExit(f"error: config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"error: config file {path} does not hold a mapping")
        config = loaded
    config = _deep_merge(config, kwargs)
    config.setdefault("workspace_dir", ".reme")
    return config


def _print_response(response: dict[str, Any], show_metadata: bool) -> int:
    answer = response.get("answer", "")
    print(answer if isinstance(answer, str) else json.dumps(answer, indent=2, ensure_ascii=False))
    if show_metadata:
        print(json.dumps(response.get("metadata", {}), indent=2, ensure_ascii=False, default=str))
    return 0 if response.get("success", True) else 1


def _start(kwargs: dict[str, Any]) -> int:
    from reme.application import Application
    from reme.jobs.config import ApplicationConfig

    job = kwargs.pop("job", None)
    fields = {*ApplicationConfig.model_fields, "config"}
    args = {k: v for k, v in kwargs.items() if k not in fields}  # the job's own arguments (with job=)
    config = load_config({k: v for k, v in kwargs.items() if k in fields})
    service = dict(config.get("service") or {})
    host, port = str(service.get("host", DEFAULT_HOST)), int(service.get("port", DEFAULT_PORT))
    app = Application(**config)
    if job is None and args:
        print(f"error: unknown settings {sorted(args)} (job arguments need job=NAME)", file=sys.stderr)
        return 2
    if job is not None:

        async def once() -> dict[str, Any]:
            async with app:
                return dict((await app.run_job(str(job), **args)).model_dump(mode="json"))

        return _print_response(asyncio.run(once()), False)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"error: refusing to serve on {host}: reme start binds to a loopback address only", file=sys.stderr)
        return 2
    from reme.service.jobs_app import create_job_app
    from reme.service.server import run_server

    print(f"ReMe 0.4 jobs of {app.workspace_path} on http://{host}:{port}", file=sys.stderr)
    run_server(create_job_app(app), host, port)
    return 0


def _call(action: str, kwargs: dict[str, Any]) -> int:
    import httpx

    host = str(kwargs.pop("host", DEFAULT_HOST))
    port = int(kwargs.pop("port", DEFAULT_PORT))
    timeout = float(kwargs.pop("timeout", 300.0))
    show = bool(kwargs.pop("show_metadata", False))
    for key in CLIENT_KEYS:
        kwargs.pop(key, None)
    url = f"http://{host}:{port}/{'jobs' if action == 'help' else action}"
    try:
        reply = httpx.get(url, timeout=timeout) if action == "help" else httpx.post(url, json=kwargs, timeout=timeout)
    except httpx.HTTPError as exc:
        print(f"error: no ReMe service answers at {host}:{port} ({exc}); start one with `reme start`", file=sys.stderr)
        return 1
    if reply.status_code != 200:
        detail = (
            reply.json().get("detail", reply.text) if "json" in reply.headers.get("content-type", "") else reply.text
        )
        print(f"error: {action}: HTTP {reply.status_code}: {detail}", file=sys.stderr)
        return 1
    if action == "help":  # the served jobs and their parameters
        for name, job in sorted(reply.json().items()):
            params = ", ".join(job.get("parameters", {}).get("properties", {}))
            print(f"{name}({params}): {job.get('description', '')}")
        return 0
    return _print_response(reply.json(), show)


def run(argv: list[str]) -> int:
    """Run a ReMe 0.4 command line (``is_job_command`` must hold); the exit code. ``./.env`` is read first (its
    ``LLM_*`` variables configure the LLM, as ReMe's)."""
    from reme.settings import load_dotenv

    load_dotenv(Path.cwd() / ".env")
    try:
        action, kwargs = parse_action(argv[0]), parse_kwargs(*argv[1:])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if action == "start":
        return _start(kwargs)
    return _call(action, kwargs)
