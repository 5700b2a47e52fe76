"""ReMe 0.4.x's application: ``ReMe(**config)``, its jobs (``run_job``) and components (``update_component``).

ReMe 0.4 is a job runner over a Markdown workspace: a configuration names components (an LLM, a file store, a
keyword index, ...) and jobs (``search``, ``auto_memory``, ``read``, ``write``, ...), each job a list of steps.
Hosts (QwenPaw 2.x) build it from a config dict, inject their own chat model with
``update_component("as_llm", "default", model=...)``, ``start()`` it and call ``run_job(name, **kwargs)``, which
answers a ``Response`` (``answer``, ``success``, ``metadata``) and never raises for a failing job.

This module re-implements that contract over this project's parts (see ``docs/migrating-from-reme.md``):

- the Markdown notes under ``daily_dir`` and ``digest_dir`` are indexed as chunks in a project ``Memory``
  workspace at ``<workspace>/<metadata_dir>/reme-rl`` (``reme.components.file_store.LocalFileStore``), so the
  ``search`` job is this project's rank decision (FAISS + BM25 candidates, a logged Plackett-Luce ranking whose
  heuristic is ReMe 0.4's RRF fusion, ``reme.policy.rank.RRFRankPolicy``), and the notes that ``auto_memory`` and
  ``auto_dream`` write are LLM write decisions with the model's token log-probabilities (``reme.jobs.agent``);
- the steps a job names are this project's functions (``reme.jobs.registry.STEPS``); a step no function serves (a
  ReMe plugin's, such as ``auto-fin``'s) does not stop the application: its job answers ``success=False`` saying
  which plugin provides it;
- plugins named in ``plugins`` are accepted and recorded, not loaded (this project does not host ReMe's plugin
  entry points; their jobs answer as above).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from reme.components.base import TYPE_DEFAULTS, Component, Response
from reme.jobs.config import ApplicationConfig, ComponentConfig, JobConfig, default_components, default_jobs

__all__ = ["TYPE_DEFAULTS", "Application", "ApplicationContext", "Component", "Job", "Response"]

log = logging.getLogger(__name__)


class Job:
    """A configured job: its JSON-Schema ``parameters``, its steps, and the job-level keyword arguments every run
    gets (``kwargs``); calling it runs the steps in order and answers a ``Response`` (failures included)."""

    def __init__(self, name: str, config: JobConfig, app: Application) -> None:
        self.name = name
        self.app = app
        self.backend = config.backend or "base"
        self.description = config.description
        self.parameters: dict[str, Any] = dict(config.parameters or {})
        self.steps = [step.model_dump() for step in config.steps]
        self.enable_serve = config.enable_serve and self.backend not in ("background", "cron")
        """Listed as an action; background and cron jobs are not (ReMe's rule)."""
        extra = config.model_dump(exclude={"backend", "description", "parameters", "steps", "enable_serve"})
        self.kwargs: dict[str, Any] = extra

    def missing_steps(self) -> list[str]:
        from reme.jobs.registry import STEPS

        return [str(s.get("backend", "")) for s in self.steps if str(s.get("backend", "")) not in STEPS]

    async def __call__(self, **kwargs: Any) -> Response:
        from reme.jobs.registry import STEPS
        from reme.jobs.steps import JobRun, plugin_of

        counter = self.app.context.metadata.setdefault("__job_counter", {})
        counter[self.name] = counter.get(self.name, 0) + 1
        run = JobRun(self.app, self.name, {**self.kwargs, **kwargs})
        try:
            missing = self.missing_steps()
            if missing:
                raise LookupError(
                    f"job {self.name!r} needs step {missing[0]!r}, which {plugin_of(missing[0])}; this project does "
                    "not host ReMe plugins (docs/migrating-from-reme.md)"
                )
            for spec in self.steps:
                options = {k: v for k, v in spec.items() if k != "backend"}
                await STEPS[str(spec["backend"])](run, **options)
                if run.stopped:
                    break
        except Exception as exc:  # a job reports its failure in its response, as ReMe's do
            log.warning("job %s failed: %s", self.name, exc)
            run.response.success = False
            run.response.answer = f"Error: {exc}" if not str(exc).startswith("Error:") else str(exc)
        return run.response


class ApplicationContext:
    """What jobs and hosts read: the config, the components by type and name, the jobs, a free ``metadata``
    dict (alive for the application's lifetime)."""

    def __init__(self, app_config: ApplicationConfig) -> None:
        self.app_config = app_config
        self.components: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.metadata: dict[str, Any] = {}
        self.service: Any = None
        self.registry: Any = None
        self.thread_pool: Any = None


class Application:
    """ReMe 0.4.x's ``Application`` (``reme.ReMe`` when called with 0.4's configuration).

    Args: the fields of ``ApplicationConfig`` (``workspace_dir``, the folder names, ``language``, ``timezone``,
    ``plugins``, ``jobs``, ``components``, ...). Without ``jobs`` / ``components`` it has ReMe 0.4's default jobs
    and components (``reme.jobs.config``); given, exactly those (as ReMe, which merges no defaults into a host's
    config). Unknown keys are ignored.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("jobs", default_jobs())
        kwargs.setdefault("components", default_components())
        config = ApplicationConfig.model_validate(kwargs)
        self.context = ApplicationContext(config)
        self._started = False
        self._lock = asyncio.Lock()
        root = self.workspace_path
        root.mkdir(parents=True, exist_ok=True)
        for folder in ("metadata_dir", "session_dir", "mem_session_dir", "resource_dir", "daily_dir", "digest_dir"):
            value = getattr(config, folder)
            if value:
                (root / value).mkdir(parents=True, exist_ok=True)
        if config.plugins:
            log.info("ReMe plugins %s are accepted, not loaded: their jobs answer success=False", config.plugins)
        for ctype, named in config.components.items():
            for name, component in named.items():
                self.context.components.setdefault(ctype, {})[name] = build_component(ctype, name, component, self)
        for name, job in config.jobs.items():
            self.context.jobs[name] = Job(name, job, self)

    # ------------------------------------------------------------------------------------------- properties
    @property
    def config(self) -> ApplicationConfig:
        return self.context.app_config

    @property
    def workspace_path(self) -> Path:
        return Path(self.config.workspace_dir).expanduser().resolve()

    @property
    def is_started(self) -> bool:
        return self._started

    def component(self, ctype: str, name: str = "default") -> Any:
        """The component ``name`` of type ``ctype`` (``KeyError`` naming it when absent)."""
        try:
            return self.context.components[str(ctype)][name]
        except KeyError:
            raise KeyError(f"Component '{name}' not found in {ctype}") from None

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Open the components (the file store indexes the notes changed since it last ran). Idempotent."""
        async with self._lock:
            if self._started:
                return
            started: list[Any] = []
            try:
                for _, named in sorted(self.context.components.items(), key=lambda kv: _start_order(kv[0])):
                    for component in named.values():
                        await component.start()
                        started.append(component)
            except Exception:
                for component in reversed(started):
                    await _quiet_close(component)
                raise
            for job in self.context.jobs.values():
                if job.backend == "cron":  # no scheduler here: run it by name (run_job) or from the host's cron
                    log.info("cron job %s (%s) is not scheduled by this project", job.name, job.kwargs.get("cron"))
                missing = job.missing_steps()
                if missing:
                    log.info("job %s is not available here (step %s)", job.name, missing[0])
            self._started = True

    async def close(self) -> None:
        """Close the components in reverse order (the file store saves its indexes)."""
        async with self._lock:
            if not self._started:
                return
            for _, named in sorted(self.context.components.items(), key=lambda kv: -_start_order(kv[0])):
                for component in named.values():
                    await _quiet_close(component)
            self._started = False

    async def __aenter__(self) -> Application:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------- calls
    async def run_job(self, name: str, /, **kwargs: Any) -> Response:
        """Run job ``name`` with ``kwargs`` (``KeyError`` for an unknown job; a failing job answers
        ``success=False`` with the error in ``answer``)."""
        if name not in self.context.jobs:
            raise KeyError(f"Job '{name}' not found")
        return await self.context.jobs[name](**kwargs)

    async def update_component(self, component_type: Any, name: str, /, **kwargs: Any) -> Any:
        """Set attributes of an existing component and return it (with no ``kwargs``: just return it).
        ``KeyError`` when there is no such component, ``AttributeError`` for a key it does not have."""
        ctype = str(getattr(component_type, "value", component_type))
        component = self.component(ctype, name)
        for key in kwargs:
            if not hasattr(component, key):
                raise AttributeError(f"{ctype}.{name} has no attribute {key!r}")
        for key, value in kwargs.items():
            setattr(component, key, value)
        return component


def build_component(ctype: str, name: str, config: ComponentConfig, app: Application) -> Any:
    """The component a config entry names: the file store has behaviour, the rest hold settings."""
    fields = config.model_dump()
    if ctype == "file_store":
        from reme.components.file_store import LocalFileStore

        return LocalFileStore(app_context=app, name=name, **fields)
    return Component(ctype, name, fields, app)


def _start_order(ctype: str) -> int:
    return 1 if ctype == "file_store" else 0


async def _quiet_close(component: Any) -> None:
    try:
        await component.close()
    except Exception as exc:  # closing the rest matters more than one component's error
        log.warning("closing %s failed: %s", getattr(component, "name", component), exc)
