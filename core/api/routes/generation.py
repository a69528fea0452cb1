"""Generation: start a job for a content item, and read a job's status."""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import json_response, parse_body, path_id
from core.api.keys import SERVICES_KEY
from core.api.routing import ApiRoutes
from core.api.schemas.content import LOCK_CONFLICT
from core.api.schemas.generation import GenerateIn, JobOut, StartedJobOut
from core.services.generation import JobView

api = ApiRoutes(tag="generation")


@api.post(
    "/api/contents/{id}/generate",
    summary="Generate text for a content item (a background job)",
    body=GenerateIn,
    response=StartedJobOut,
    status=202,
    errors=(402, 403, 409, 503),
    error_bodies=LOCK_CONFLICT,
)
async def generate(request: web.Request) -> web.Response:
    """202 with the job (and ``Location`` to poll); 402 over a limit; 409 unless draft/rejected."""
    actor = await current_user(request)
    body = await parse_body(request, GenerateIn)
    job = await request.app[SERVICES_KEY].generation.start(
        actor=actor,
        content_id=path_id(request),
        kind=body.kind,
        instructions=body.instructions,
        variables=body.variables,
    )
    started = StartedJobOut.started(JobView(job=job, usage=None))
    return json_response(started, 202, headers={"Location": f"/api/jobs/{job.id}"})


@api.get("/api/jobs/{id}", summary="A generation job's status", response=JobOut)
async def get_job(request: web.Request) -> web.Response:
    """The job for its requester or an editor+ of its organisation."""
    actor = await current_user(request)
    view = await request.app[SERVICES_KEY].generation.get_job(actor=actor, job_id=path_id(request))
    return json_response(JobOut.from_view(view))
