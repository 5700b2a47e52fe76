"""ReMe 0.4.x's HTTP service (``reme start``): ``POST /<job>`` with the job's keyword arguments as a JSON object
answers the job's ``Response`` as JSON; ``GET /health`` answers ``health_check``; ``GET /jobs`` lists the served jobs
and their JSON-Schema parameters. The application starts with the server and closes with it."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

__all__ = ["create_job_app"]


def create_job_app(app: Any) -> Any:
    """A FastAPI app serving ``app``'s jobs: ``POST /<job>``, ``GET /health``, ``GET /jobs``."""

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        await app.start()
        try:
            yield
        finally:
            await app.close()

    api = FastAPI(title="ReMe 0.4 jobs (reme-rl)", lifespan=lifespan)

    @api.get("/health")
    async def health() -> dict[str, Any]:
        name = "health_check" if "health_check" in app.context.jobs else "version"
        return dict((await app.run_job(name)).model_dump())

    @api.get("/jobs")
    async def jobs() -> dict[str, Any]:
        return {n: {"description": j.description, "parameters": j.parameters} for n, j in app.context.jobs.items()
                if j.enable_serve}  # fmt: skip

    @api.post("/{job}")
    async def run_job(job: str, request: Request) -> dict[str, Any]:
        served = app.context.jobs.get(job)
        if served is None or not served.enable_serve:
            raise HTTPException(status_code=404, detail=f"Job '{job}' not found")
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise HTTPException(status_code=400, detail="the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise HTTPException(status_code=400, detail="the body must be a JSON object")
        return dict((await app.run_job(job, **body)).model_dump(mode="json"))

    return api
