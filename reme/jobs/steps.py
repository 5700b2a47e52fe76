"""What a step of ReMe 0.4.x's jobs gets: ``JobRun`` (the run's application, arguments and response); the steps
themselves are this project's functions, ``reme.jobs.registry.STEPS[name](run, **options)``.

A step reads its inputs from ``run.kwargs`` (the job's keyword arguments and the call's), writes
``run.response`` and may set ``run.stopped`` to end its job early (``auto_dream`` with nothing new). The functions
live in ``reme.jobs.files`` (the file jobs), ``reme.jobs.index`` (search, index, status) and ``reme.jobs.evolve``
(``auto_memory``, ``auto_dream``, ``proactive``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reme.components.base import Response

__all__ = ["JobRun", "Step", "plugin_of"]

Step = Callable[..., Awaitable[None]]

PLUGIN_STEPS = {"daily_paper_": "the ReMe plugin reme-daily-paper provides", "auto_fin_": "the ReMe plugin "
                "reme-auto-fin provides"}  # fmt: skip


def plugin_of(step: str) -> str:
    """Who provides a step this project has no function for (for the job's error)."""
    for prefix, who in PLUGIN_STEPS.items():
        if step.startswith(prefix):
            return who
    return "no component of this project provides"


class JobRun:
    """One run of a job: the application, the keyword arguments, the response being built."""

    def __init__(self, app: Any, job: str, kwargs: dict[str, Any]) -> None:
        self.app = app
        """The ``reme.application.Application`` running the job."""
        self.job = job
        self.kwargs = kwargs
        self.response: Response = Response()
        self.stopped = False
        self.state: dict[str, Any] = {}

    @property
    def root(self) -> Path:
        return self.app.workspace_path

    def folder(self, name: str) -> str:
        """An application folder's name (``daily_dir`` -> ``memory`` in QwenPaw's config)."""
        return str(getattr(self.app.config, name))

    def arg(self, key: str, default: Any = None) -> Any:
        value = self.kwargs.get(key)
        return default if value is None else value

    def fail(self, message: str, **metadata: Any) -> None:
        self.response.success = False
        self.response.answer = f"Error: {message}"
        self.response.metadata.update(metadata)
        self.stopped = True

    def today(self) -> str:
        return self.now().strftime("%Y-%m-%d")

    def now(self) -> datetime:
        zone = self.app.config.timezone
        if not zone:
            return datetime.now().astimezone()
        try:
            return datetime.now(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return datetime.now().astimezone()

    @property
    def file_store(self) -> Any:
        return self.app.component("file_store", str(self.kwargs.get("file_store", "default")))

    async def run_job(self, name: str, **kwargs: Any) -> Response:
        """Another job of the application, with the injected path constraint of this run passed on."""
        return await self.app.run_job(name, **kwargs)
