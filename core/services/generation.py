"""Generation jobs: prompt assembly, PII redaction, reservation, the model call, settlement.

:meth:`GenerationService.start` does everything that can refuse before a model is touched, in
the order the content service uses (visible 404, role 403, input 400), then the price (503
``model_not_priced`` before anything is reserved), and then, in ONE transaction: content draft or
rejected -> generating (409 otherwise), a pending ``GenerationJob``, and the usage reservation in
every scope (402 ``usage_limit_exceeded``, which rolls the other two back). It returns the
pending job at once; the model call runs as an asyncio task held by the service.

Everything sent (title, rendered prompt, variables, instructions, the body for rewrite and
caption) is one user message redacted with one shared :class:`~core.llm.pii.Redaction`, so the
same value has the same placeholder everywhere and the answer is restored with one mapping.

How a job ends (nothing is ever left ``generating`` by a live process):

* the stream ends with text: a new version (source ``generation``) with the restored answer,
  content back to draft, job succeeded, usage settled and logged; PII findings on the content
  are the larger count per type of what was redacted from the request and what the answer
  holds;
* it fails before the first token (``LlmUnavailable``: 5xx, timeout, ...): job failed with the
  error code, content back to its previous status, the reservation released, on the spot;
* it breaks after some text (``LlmStreamBroken``) or ends empty: as above but what arrived is
  charged: the backend's usage report when it came, else the reserved prompt estimate plus the
  received text's token estimate (capped at ``max_tokens``), so a charge never exceeds the
  reservation. Text that arrived is kept as a version marked ``incomplete`` (content back to
  draft, the job failed and pointing at that version): it was paid for;
* the process is told to stop (SIGTERM, :meth:`GenerationService.wind_down`): no new job is
  accepted (503 ``shutting_down``), running ones get a grace period to finish, and those still
  running after it are cancelled, keeping what arrived as an incomplete version, charged as
  above.

An adapter follows a job with :meth:`GenerationService.watch`: the text so far, then each
piece as it arrives, then the outcome. Deltas are handed to unbounded per-watcher queues with
``put_nowait``, so a slow watcher (a chat being throttled by Telegram) never slows the model
call nor holds a bookkeeping slot; the watcher reads at its own pace.

A database outage never ends a healthy stream: the heartbeat is written beside the stream (a
failed beat is logged and tried again at the next one), and concluding the job (succeeding or
failing it, one transaction safe to repeat) is retried with backoff while the database is
unreachable, for up to ``conclude_patience_seconds`` (two minutes by default), so the draft lands
when the database is back. Only if it never comes back is the job left to the reaper.

A process that dies mid-job leaves it ``running``. Each job names its owner, the process
instance running it, which holds a lease while alive (``core/services/leases.py``); a process
reaps the jobs of owners whose lease expired at start-up (:meth:`GenerationService.recover`) and
from the scheduler (:meth:`GenerationService.reap_orphaned_jobs`). Jobs without an owner, and any
whose owner cannot be judged, are left to :meth:`GenerationService.reap_stale_jobs` and its old
``heartbeat_at``. Reaping fails the job, puts its content back and releases its reservation
(what the dead call consumed is unknown, so it is not guessed at).

A content names its current job (``contents.current_job_id``, set in the transaction that starts
the job): a job finishes or aborts its content only while it is still that job, so a reaped job
answering late is charged for what it consumed but never touches a content that a newer job is
generating.

The answer's PII scan runs once, before the finishing transaction, never under its row locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from core.llm import instructions as llm_instructions
from core.llm.base import LlmClient, LlmStream, LlmStreamBroken, Usage
from core.llm.offline import detect_language
from core.llm.pii import Redaction, redact, restore
from core.llm.pricing import (
    cost,
    estimate_prompt_tokens,
    estimate_tokens,
    price_for,
    worst_case_cost,
)
from core.notify import Notifier
from core.outages import DATABASE, retry_through_outage, unavailable_dependency
from core.security.principal import Principal
from core.services.common import check_characters
from core.services.content import ContentService
from core.services.leases import LEASE_SECONDS, RENEW_EVERY_SECONDS, ProcessLeases
from core.services.permissions import Action, authorize, may, role_of
from core.services.prompts import TEXT_LIMITS, VariableType, render_prompt, visible_prompts
from core.services.unlocking import UnlockHorizon
from core.services.usage import UsageScopes, UsageService
from core.settings import Settings
from db.models import (
    Content,
    ContentStatus,
    ContentVersion,
    GenerationJob,
    GenerationKind,
    JobStatus,
    Language,
    Prompt,
    UsageLog,
)

logger = logging.getLogger(__name__)

MAX_INSTRUCTIONS_CHARS = 4_000
# Bounds on the ``variables`` of one generate request, checked before any other work.
MAX_GENERATE_VARIABLES = 50
MAX_GENERATE_VARIABLE_NAME_CHARS = 64
MAX_GENERATE_VALUE_CHARS = TEXT_LIMITS[VariableType.LONG_TEXT]
MAX_GENERATE_TOTAL_CHARS = 100_000
HEARTBEAT_SECONDS = 10.0
# Jobs doing database bookkeeping at once (starting, finishing). Model calls are not limited;
# this keeps a burst of jobs from taking every pooled connection (Tortoise's default pool
# holds 5) so the rest of the app, /healthz included, still gets one.
BOOKKEEPING_SLOTS = 3
ERROR_EMPTY_ANSWER = "llm_empty_answer"
ERROR_INTERNAL = "generation_failed"
ERROR_CANCELLED = "generation_cancelled"
ERROR_ABANDONED = "job_abandoned"
ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING)
# Concluding a job (job row, content, reservation in one transaction) is retried while the
# database is unreachable, with a doubling backoff from CONCLUDE_BACKOFF_SECONDS up to
# CONCLUDE_MAX_BACKOFF_SECONDS, for this long: a database restart must not leave the content
# generating and the budget held until the reaper runs. Other errors are tried FAIL_ATTEMPTS times.
CONCLUDE_PATIENCE_SECONDS = 120.0
CONCLUDE_BACKOFF_SECONDS = 0.05
CONCLUDE_MAX_BACKOFF_SECONDS = 5.0
FAIL_ATTEMPTS = 4
# A heartbeat write that takes longer than this is given up (tried again at the next beat), so
# a database that hangs rather than refuses never holds the stream up for long.
BEAT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class JobView:
    """A job with its usage log (``None`` until something was charged)."""

    job: GenerationJob
    usage: UsageLog | None


@dataclass(slots=True)
class _Run:
    """Everything the background task needs; the redaction mapping never leaves memory."""

    job: GenerationJob
    stream: LlmStream
    redaction: Redaction
    title: str
    model: str
    prompt_tokens: int
    max_tokens: int
    reserved_at: datetime
    previous_status: ContentStatus
    received: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TextArrived:
    """More of the answer (as the model wrote it; PII placeholders are restored at the end)."""

    text: str


@dataclass(frozen=True, slots=True)
class JobEnded:
    """How a watched job ended: ``succeeded`` (``version_number`` holds the answer) or
    ``failed`` with the ``error`` code (and the backend's ``reason`` when one was given)."""

    status: JobStatus
    version_number: int | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.SUCCEEDED


JobEvent = TextArrived | JobEnded


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How the call ended: ``text`` when it succeeded, else ``error``; ``usage`` when charged."""

    text: str | None
    usage: Usage | None
    error: str | None = None
    reason: str | None = None
    # What arrived of an answer cut short, kept as an incomplete version (it was charged).
    partial: str | None = None


class GenerationService:
    """Starts generation jobs and runs them as tasks of this process."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        llm: LlmClient,
        notifier: Notifier,
        usage: UsageService,
        content: ContentService,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        bookkeeping_slots: int = BOOKKEEPING_SLOTS,
        conclude_patience_seconds: float = CONCLUDE_PATIENCE_SECONDS,
        leases: ProcessLeases | None = None,
        horizon: UnlockHorizon | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._llm = llm
        self._notifier = notifier
        self._usage = usage
        self._content = content
        self._heartbeat_seconds = heartbeat_seconds
        self._conclude_patience_seconds = conclude_patience_seconds
        self._leases = leases or ProcessLeases(clock=clock, redis=None, key_prefix="")
        self._horizon = horizon or UnlockHorizon(
            clock=clock,
            leases=self._leases,
            grace_seconds=settings.generation_unlock_grace_seconds,
        )
        self._follow_up: asyncio.Task[None] | None = None
        self._accepting = True
        self._winding_down = False
        self._bookkeeping = asyncio.Semaphore(bookkeeping_slots)
        # Strong references: the loop keeps only weak ones, and a collected task dies silently.
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._runs: dict[int, _Run] = {}
        self._watchers: dict[int, set[asyncio.Queue[JobEvent]]] = {}

    # --- starting ------------------------------------------------------------------------------

    async def start(
        self,
        *,
        actor: Principal,
        content_id: int,
        kind: GenerationKind | None = None,
        instructions: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> GenerationJob:
        """Reserve usage and start generating for ``content_id``; the pending job at once."""
        if not self._accepting:
            raise ServiceUnavailable("shutting_down")
        await self._leases.hold()  # before any job names this process as its owner
        try:
            async with self._bookkeeping:
                run = await self._begin(
                    actor=actor,
                    content_id=content_id,
                    kind=kind,
                    instructions=instructions,
                    variables=variables,
                )
        except Conflict as error:  # already generating: say when its author may unlock it
            await self._horizon.explain(error, content_id)
            raise
        job = run.job
        self._runs[job.id] = run
        task = asyncio.create_task(self._run(run), name=f"generation-job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))
        return job

    async def _begin(
        self,
        *,
        actor: Principal,
        content_id: int,
        kind: GenerationKind | None,
        instructions: str | None,
        variables: dict[str, Any] | None,
    ) -> _Run:
        """Every check, then the pending job with its reservation; what the task will need.

        Cheap checks first (visible, role, the size of every input), then the usage limits
        (read-only), and only then the work that grows with the input: rendering, PII scanning
        and token estimation, each in a thread, on a prompt already bounded in size.
        """
        content = await self._content.get(actor=actor, content_id=content_id)
        await self._require_generate(actor, content)
        _check_inputs(instructions, variables)
        await self._usage.check_room(
            UsageScopes(
                organization_id=content.organization_id,
                workspace_id=content.workspace_id,
                user_id=actor.user_id,
            )
        )
        prompt = await _prompt_of(content)
        request = await asyncio.to_thread(
            _request,
            content,
            prompt,
            kind,
            instructions,
            variables,
            max_chars=self._settings.max_rendered_chars,
            max_tokens=self._settings.max_rendered_tokens,
        )
        # Threads for the PII scanner: long bodies full of digit runs take it seconds.
        redaction = await asyncio.to_thread(redact, llm_instructions.user_message(request))
        messages = llm_instructions.messages_for(request, user_text=redaction.text)
        max_tokens = min(
            self._settings.llm_max_output_tokens, llm_instructions.MAX_OUTPUT_TOKENS[request.kind]
        )
        stream = self._llm.stream(
            messages=messages, model=self._settings.openai_model, max_tokens=max_tokens
        )
        try:
            # Before anything is reserved: an unpriced model is a configuration error, never free.
            price_for(stream.model)
            prompt_tokens = await asyncio.to_thread(estimate_prompt_tokens, messages)
            job = await self._open_job(
                actor=actor,
                content=content,
                request=request,
                model=stream.model,
                prompt_tokens=prompt_tokens,
                max_tokens=max_tokens,
                pii_sent=redaction.findings,
                has_instructions=bool(instructions and instructions.strip()),
                variable_names=sorted((variables or {}).keys()),
            )
        except BaseException:
            await stream.aclose()  # never iterated: nothing was sent
            raise
        return _Run(
            job=job,
            stream=stream,
            redaction=redaction,
            title=content.title,
            model=stream.model,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            reserved_at=job.heartbeat_at,
            previous_status=ContentStatus(job.params["previous_status"]),
        )

    async def _require_generate(self, actor: Principal, content: Content) -> None:
        """Writers generate for their own content, editors and admins for any (else 403)."""
        role = authorize(actor, content.organization_id, Action.GENERATE)
        own = content.created_by_id == actor.user_id
        if not own and not may(role, Action.EDIT_ANY_CONTENT):
            raise PermissionDenied(action=Action.GENERATE.value)

    async def _open_job(
        self,
        *,
        actor: Principal,
        content: Content,
        request: llm_instructions.Request,
        model: str,
        prompt_tokens: int,
        max_tokens: int,
        pii_sent: dict[str, int],
        has_instructions: bool,
        variable_names: list[str],
    ) -> GenerationJob:
        """Content -> generating, the pending job and the reservation, all or nothing."""
        now = self._clock.now()
        worst_cost = worst_case_cost(model, prompt_tokens, max_tokens)
        async with in_transaction() as conn:
            ticket = await self._content.begin_generation(
                actor=actor, content_id=content.id, connection=conn
            )
            job = await GenerationJob.create(
                using_db=conn,
                organization_id=content.organization_id,
                workspace_id=content.workspace_id,
                content_id=content.id,
                user_id=actor.user_id,
                kind=request.kind,
                status=JobStatus.PENDING,
                model=model,
                params={
                    "previous_status": ticket.previous_status.value,
                    "language": request.language.value,
                    "max_tokens": max_tokens,
                    "prompt_tokens_estimate": prompt_tokens,
                    "instructions": has_instructions,
                    "variables": variable_names,  # names only: values may hold PII
                    "pii_sent": pii_sent,
                },
                heartbeat_at=now,
                owner=self._leases.instance_id,
            )
            await self._content.bind_generation(
                content_id=content.id, job_id=job.id, connection=conn
            )
            await self._usage.reserve(
                connection=conn,
                job_id=job.id,
                scopes=UsageScopes(
                    organization_id=content.organization_id,
                    workspace_id=content.workspace_id,
                    user_id=actor.user_id,
                ),
                tokens=prompt_tokens + max_tokens,
                cost_usd=worst_cost,
                at=now,
            )
        await self._content.totals.changed(content.organization_id)  # now generating
        return job

    # --- reading -------------------------------------------------------------------------------

    async def get_job(self, *, actor: Principal, job_id: int) -> JobView:
        """The job for its requester or an editor+ of its organisation; ``NotFound`` otherwise."""
        job = await GenerationJob.get_or_none(id=job_id)
        if job is None:
            raise NotFound()
        role = role_of(actor, job.organization_id)
        if job.user_id != actor.user_id and not may(role, Action.READ_ANY_CONTENT):
            raise NotFound()
        usage = await UsageLog.filter(job_id=job.id).order_by("-id").first()
        return JobView(job=job, usage=usage)

    async def watch(self, *, actor: Principal, job_id: int) -> AsyncIterator[JobEvent]:
        """The job's text as it arrives, then one :class:`JobEnded`; for whoever may read it.

        A job this process runs yields the text received so far first, then each delta; a job
        that already ended (or runs elsewhere) yields only its outcome as stored. Checks happen
        before the first event (``NotFound`` like :meth:`get_job`).
        """
        await self.get_job(actor=actor, job_id=job_id)
        return self._events(job_id)

    async def _events(self, job_id: int) -> AsyncIterator[JobEvent]:
        run = self._runs.get(job_id)
        if run is None:
            yield await self._stored_end(job_id)
            return
        queue: asyncio.Queue[JobEvent] = asyncio.Queue()
        so_far = "".join(run.received)
        if so_far:
            queue.put_nowait(TextArrived(so_far))
        watchers = self._watchers.setdefault(job_id, set())
        watchers.add(queue)
        try:
            while True:
                event = await queue.get()
                yield event
                if isinstance(event, JobEnded):
                    return
        finally:
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(job_id, None)

    async def _stored_end(self, job_id: int) -> JobEnded:
        job = await GenerationJob.get(id=job_id)
        if job.status in ACTIVE:
            # Running in another process: this one cannot see its text, only wait for it.
            while job.status in ACTIVE:
                await asyncio.sleep(1.0)
                job = await GenerationJob.get(id=job_id)
        return JobEnded(
            status=JobStatus(job.status),
            version_number=job.version_number,
            error=job.error,
            reason=(job.params or {}).get("error_reason"),
        )

    def _publish(self, job_id: int, event: JobEvent) -> None:
        for queue in self._watchers.get(job_id, ()):
            queue.put_nowait(event)

    def is_running(self, job_id: int) -> bool:
        """Whether this process is running job ``job_id`` now."""
        return job_id in self._tasks

    async def cancel(self, *, actor: Principal, job_id: int) -> bool:
        """Stop a job this process runs for its requester (what arrived is charged; the
        content goes back). ``False`` when it is not running here (ended already)."""
        view = await self.get_job(actor=actor, job_id=job_id)
        if view.job.user_id != actor.user_id:
            role = role_of(actor, view.job.organization_id)
            if not may(role, Action.EDIT_ANY_CONTENT):
                raise PermissionDenied(action=Action.GENERATE.value)
        task = self._tasks.get(job_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return True

    # --- running -------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        """How many jobs this process is running now."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every job started so far (and any started meanwhile) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def wind_down(self, grace_seconds: float) -> int:
        """Shutting down: refuse new jobs, let running ones finish within ``grace_seconds``,
        then cancel the rest keeping what arrived as incomplete versions. Returns how many
        were cancelled."""
        self._accepting = False
        running = list(self._tasks.values())
        if running:
            logger.info(
                "waiting up to %s s for %d running generations to finish",
                grace_seconds,
                len(running),
            )
            await asyncio.wait(running, timeout=grace_seconds)
        left = [task for task in self._tasks.values() if not task.done()]
        if left:
            logger.warning("cancelling %d generations still running; keeping their text", len(left))
        self._winding_down = True
        for task in left:
            task.cancel()
        await self.drain()
        return len(left)

    async def aclose(self) -> None:
        """Cancel running jobs (each fails cleanly, settling what it consumed), wait, and give
        up this process's lease."""
        if self._follow_up is not None:
            self._follow_up.cancel()
            await asyncio.gather(self._follow_up, return_exceptions=True)
        for task in list(self._tasks.values()):
            task.cancel()
        await self.drain()
        await self._leases.release()

    @property
    def instance_id(self) -> str:
        """This process instance, the owner its jobs name."""
        return self._leases.instance_id

    async def _run(self, run: _Run) -> None:
        try:
            started = asyncio.get_running_loop().time()
            outcome = await self._call(run)
            duration_ms = int((asyncio.get_running_loop().time() - started) * 1000)
            try:
                await self._finish(run, outcome, duration_ms)
            except asyncio.CancelledError:
                # Shut down before the job was concluded: fail it, charging what was consumed
                # and keeping what arrived.
                partial = _kept(outcome.text or outcome.partial or "")
                await asyncio.shield(self._conclude_cancelled(run, outcome.usage, partial))
                raise
        finally:
            self._runs.pop(run.job.id, None)
            if run.job.id in self._watchers:
                await asyncio.shield(self._announce_end(run.job.id))

    async def _announce_end(self, job_id: int) -> None:
        """Tell the watchers how the job ended, as the database now records it."""
        try:
            end = await self._stored_end(job_id)
        except Exception:
            logger.exception("reading the end of generation job %s failed", job_id)
            end = JobEnded(status=JobStatus.FAILED, error=ERROR_INTERNAL)
        self._publish(job_id, end)

    async def _finish(self, run: _Run, outcome: _Outcome, duration_ms: int) -> None:
        """Conclude the job as the call ended, riding out a database outage.

        Each conclusion writes the requester's notification in its own transaction. An answer
        that cannot be stored for another reason (a bug) fails the job instead.
        """
        try:
            await self._persist(
                run, "concluding", lambda: self._conclude(run, outcome, duration_ms)
            )
        except Exception as exc:
            if unavailable_dependency(exc) == DATABASE:
                logger.error("generation job %s left for the reaper: no database", run.job.id)
                return
            logger.exception("generation job %s could not be concluded", run.job.id)
            failed = (
                outcome
                if outcome.text is None
                else _Outcome(text=None, usage=outcome.usage, error=ERROR_INTERNAL)
            )
            await self._fail_retrying(run, failed, duration_ms)

    async def _fail_retrying(self, run: _Run, outcome: _Outcome, duration_ms: int | None) -> bool:
        """``_fail`` riding out a database outage; False if it never went through, and the
        job is left to ``reap_stale_jobs``."""
        try:
            await self._persist(run, "failing", lambda: self._fail(run, outcome, duration_ms))
        except Exception:
            # The job stays running; its heartbeat ages and reap_stale_jobs recovers it.
            logger.exception("generation job %s left for the reaper", run.job.id)
            return False
        return True

    async def _persist(self, run: _Run, what: str, write: Callable[[], Awaitable[object]]) -> None:
        """``write`` under a bookkeeping slot, retried through an outage (the slot is given
        back between tries, so jobs waiting out an outage hold none of them)."""

        async def booked() -> object:
            async with self._bookkeeping:
                return await write()

        await retry_through_outage(
            booked,
            what=f"{what} generation job {run.job.id}",
            patience_seconds=self._conclude_patience_seconds,
            other_attempts=FAIL_ATTEMPTS,
            first_backoff_seconds=CONCLUDE_BACKOFF_SECONDS,
            max_backoff_seconds=CONCLUDE_MAX_BACKOFF_SECONDS,
        )

    async def _call(self, run: _Run) -> _Outcome:
        """Stream the answer; classify the ending. Never raises except on cancellation."""
        job_id = run.job.id
        loop = asyncio.get_running_loop()
        last_beat = loop.time()
        beats = _Beats(job_id)
        try:
            try:
                await beats.write(self._mark_running(job_id))
                async for delta in run.stream:
                    run.received.append(delta)
                    self._publish(job_id, TextArrived(delta))
                    if loop.time() - last_beat >= self._heartbeat_seconds:
                        last_beat = loop.time()
                        await beats.write(self._beat(job_id))
            finally:
                await run.stream.aclose()
        except asyncio.CancelledError:
            # Cancelled: settle what arrived (kept as an incomplete version when the process
            # is shutting down), then let the cancellation go on.
            received = "".join(run.received)
            consumed = self._charged(run, received) if run.received else None
            partial = _kept(received) if self._winding_down else None
            await asyncio.shield(self._conclude_cancelled(run, consumed, partial))
            raise
        except LlmStreamBroken as exc:
            text = exc.received_text or "".join(run.received)
            return _Outcome(None, self._charged(run, text), exc.code, exc.reason, _kept(text))
        except DomainError as exc:
            received = "".join(run.received)
            consumed = self._charged(run, received) if run.received else None
            reason = getattr(exc, "reason", None)
            return _Outcome(None, consumed, exc.code, reason, _kept(received))
        except Exception as exc:
            logger.exception("generation job %s: model call failed", job_id)
            received = "".join(run.received)
            consumed = self._charged(run, received) if run.received else None
            return _Outcome(None, consumed, ERROR_INTERNAL, type(exc).__name__, _kept(received))
        text = "".join(run.received)
        usage = self._charged(run, text)
        if not text.strip():
            return _Outcome(None, usage, ERROR_EMPTY_ANSWER)
        return _Outcome(text, usage)

    def _charged(self, run: _Run, text: str) -> Usage:
        """The backend's usage report, else an estimate that never exceeds the reservation."""
        if run.stream.usage is not None:
            return run.stream.usage
        return Usage(
            prompt_tokens=run.prompt_tokens,
            completion_tokens=min(estimate_tokens(text), run.max_tokens),
        )

    async def _mark_running(self, job_id: int) -> None:
        async with self._bookkeeping:
            now = self._clock.now()
            await GenerationJob.filter(id=job_id, status=JobStatus.PENDING).update(
                status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
            )

    async def _beat(self, job_id: int) -> None:
        async with self._bookkeeping:
            await GenerationJob.filter(id=job_id, status=JobStatus.RUNNING).update(
                heartbeat_at=self._clock.now()
            )

    async def _conclude(self, run: _Run, outcome: _Outcome, duration_ms: int) -> bool:
        if outcome.text is None:
            await self._fail(run, outcome, duration_ms)
            return False
        answer = restore(outcome.text, run.redaction)
        try:
            await self._succeed(run, outcome, answer, duration_ms)
        except Conflict:
            # Reaped meanwhile (content no longer generating): the tokens were still consumed.
            logger.warning("generation job %s finished after it was reaped", run.job.id)
            await self._fail(run, _Outcome(None, outcome.usage, ERROR_ABANDONED), duration_ms)
            return False
        return True

    async def _succeed(self, run: _Run, outcome: _Outcome, answer: str, duration_ms: int) -> None:
        job = run.job
        assert outcome.usage is not None
        # Findings of what was sent and of the answer, stored on the content: scanned once,
        # here, before the transaction takes its row locks.
        in_answer = await self._content.scan_answer(run.title, answer)
        findings = _merged(run.redaction.findings, in_answer)
        now = self._clock.now()
        async with in_transaction() as conn:
            version = await self._content.finish_generation(
                content_id=job.content_id,
                job_id=job.id,
                actor_id=job.user_id,
                body=answer,
                pii_findings=findings,
                connection=conn,
            )
            done = await (
                GenerationJob.filter(id=job.id, status__in=ACTIVE)
                .using_db(conn)
                .update(
                    status=JobStatus.SUCCEEDED,
                    version_number=version.number,
                    error=None,
                    finished_at=now,
                    heartbeat_at=now,
                )
            )
            if not done:
                raise Conflict("job_not_running")
            await self._usage.settle(
                connection=conn,
                job=job,
                model=run.model,
                usage=outcome.usage,
                cost_usd=cost(outcome.usage, run.model),
                success=True,
                duration_ms=duration_ms,
                at=run.reserved_at,
            )
            await self._notify(conn, job, ok=True)
        await self._content.totals.changed(job.organization_id)  # back to draft

    async def _fail(self, run: _Run, outcome: _Outcome, duration_ms: int | None) -> None:
        job = run.job
        now = self._clock.now()
        params = {**job.params, "error_reason": outcome.reason} if outcome.reason else job.params
        partial, findings = None, {}
        if outcome.partial is not None:
            partial = restore(outcome.partial, run.redaction)
            in_answer = await self._content.scan_answer(run.title, partial)
            findings = _merged(run.redaction.findings, in_answer)
        async with in_transaction() as conn:
            version = None
            if partial is not None:
                version = await self._keep_partial(conn, run, partial, findings)
            await (
                GenerationJob.filter(id=job.id, status__in=ACTIVE)
                .using_db(conn)
                .update(
                    status=JobStatus.FAILED,
                    error=outcome.error,
                    params=params,
                    finished_at=now,
                    heartbeat_at=now,
                    version_number=version.number if version is not None else None,
                )
            )
            if version is None:
                await self._content.abort_generation(
                    content_id=job.content_id,
                    previous_status=run.previous_status,
                    actor_id=job.user_id,
                    job_id=job.id,
                    error=outcome.error,
                    connection=conn,
                )
            if outcome.usage is None:
                await self._usage.release(connection=conn, job_id=job.id)
            else:
                await self._usage.settle(
                    connection=conn,
                    job=job,
                    model=run.model,
                    usage=outcome.usage,
                    cost_usd=cost(outcome.usage, run.model),
                    success=False,
                    error=outcome.error,
                    duration_ms=duration_ms,
                    at=run.reserved_at,
                )
            await self._notify(conn, job, ok=False)
        await self._content.totals.changed(job.organization_id)  # back to draft or rejected

    async def _keep_partial(
        self, conn: BaseDBAsyncClient, run: _Run, partial: str, findings: dict[str, int]
    ) -> ContentVersion | None:
        """What arrived as an incomplete version (content back to draft); None when the job is
        no longer the content's current one (reaped meanwhile): then it touches nothing."""
        try:
            return await self._content.finish_generation(
                content_id=run.job.content_id,
                job_id=run.job.id,
                actor_id=run.job.user_id,
                body=partial,
                pii_findings=findings,
                connection=conn,
                incomplete=True,
            )
        except Conflict:
            return None

    async def _conclude_cancelled(
        self, run: _Run, consumed: Usage | None, partial: str | None = None
    ) -> None:
        """Fail a cancelled job; harmless if it had already been concluded (charged once)."""
        outcome = _Outcome(None, consumed, ERROR_CANCELLED, partial=partial)
        await self._fail_retrying(run, outcome, None)

    async def _notify(self, conn: BaseDBAsyncClient, job: GenerationJob, *, ok: bool) -> None:
        """Write the requester's notification in the transaction that concluded the job.

        Not when someone is watching the job in this process (the bot streaming it into the
        requester's chat shows the end itself: a second message would say it twice). A job
        whose process died is concluded by the reaper, where nobody watches, so it notifies.
        """
        if self._watchers.get(job.id):
            return
        content = await Content.get(id=job.content_id).using_db(conn)
        await self._notifier.generation_finished(
            connection=conn, content=content, job_id=job.id, ok=ok
        )

    # --- recovery ------------------------------------------------------------------------------

    async def unlock_at(self, *, actor: Principal, content_id: int) -> datetime:
        """When whoever may generate for ``content_id`` may unlock it (now, or the grace's end).

        409 ``not_generating`` when it is not locked; 404/403 like :meth:`unlock`.
        """
        content = await self._content.get(actor=actor, content_id=content_id)
        await self._require_generate(actor, content)
        if content.status != ContentStatus.GENERATING:
            raise Conflict("not_generating")
        job = (
            await GenerationJob.get_or_none(id=content.current_job_id)
            if content.current_job_id is not None
            else None
        )
        return self._clock.now() if job is None else await self._horizon.unlock_at(job)

    async def unlock(self, *, actor: Principal, content_id: int) -> Content:
        """Free a content stuck in generating, for whoever may generate for it.

        Allowed at once when the job's owner is dead (its lease lapsed), else once the job has
        shown no life (heartbeat) for ``GENERATION_UNLOCK_GRACE_SECONDS``; before that a 409
        ``generation_still_running`` says in ``retry_after`` how many seconds are left. The job
        is failed as abandoned, the content goes back and the reservation is released; if its
        call answers late it is charged but touches nothing. 409 ``not_generating`` otherwise.
        """
        content = await self._content.get(actor=actor, content_id=content_id)
        await self._require_generate(actor, content)
        if content.status != ContentStatus.GENERATING:
            raise Conflict("not_generating")
        job = (
            await GenerationJob.get_or_none(id=content.current_job_id)
            if content.current_job_id is not None
            else None
        )
        if job is not None:
            await self._abandon(job)
        return await self._content.get(actor=actor, content_id=content_id)

    async def _abandon(self, job: GenerationJob) -> None:
        """Fail ``job`` for :meth:`unlock` (409 while it may still be alive)."""
        grace = timedelta(seconds=self._settings.generation_unlock_grace_seconds)
        now = self._clock.now()
        owner_dead = await self._horizon.owner_dead(job)
        if not owner_dead and self._horizon.grace_ends(job) > now:
            when = self._horizon.grace_ends(job)
            raise Conflict(
                "generation_still_running", **self._horizon.params_at(when, job.content_id)
            )
        task = self._tasks.get(job.id)
        if task is not None:  # ours, stalled past the grace: stop it (charged, content back)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        async with self._bookkeeping:
            if owner_dead:
                await self._reap(job, owner=job.owner)
            else:
                await self._reap(job, cutoff=now - grace)

    async def recover(self) -> int:
        """At start-up: hold this process's lease and reap the jobs of dead owners now.

        An owner whose lease is still running may be this very process's previous run (killed
        a moment ago); its jobs are looked at once more when such a lease would have expired.
        Returns how many were reaped now.
        """
        await self._leases.hold()
        reaped = await self.reap_orphaned_jobs()
        self._follow_up = asyncio.create_task(
            self._reap_when_leases_lapse(), name="generation-recovery"
        )
        return reaped

    async def _reap_when_leases_lapse(self) -> None:
        await asyncio.sleep(LEASE_SECONDS + RENEW_EVERY_SECONDS)
        try:
            await self.reap_orphaned_jobs()
        except Exception:
            logger.warning(
                "reaping dead owners' jobs failed; the scheduler tries again", exc_info=True
            )

    async def reap_orphaned_jobs(self) -> int:
        """Fail the active jobs of other process instances whose lease has expired.

        Returns how many were reaped; each one's content goes back to its previous status and
        its reservation is released. Raises when the lease store cannot be reached (then
        nobody is taken for dead).
        """
        owners = set(
            await GenerationJob.filter(status__in=ACTIVE, owner__isnull=False)
            .exclude(owner=self.instance_id)
            .distinct()
            .values_list("owner", flat=True)
        )
        dead = owners - await self._leases.alive(owners)
        if not dead:
            return 0
        reaped = 0
        for job in await GenerationJob.filter(status__in=ACTIVE, owner__in=sorted(dead)):
            async with self._bookkeeping:
                if await self._reap(job, owner=job.owner):
                    reaped += 1
        return reaped

    async def reap_stale_jobs(self, *, older_than: timedelta) -> int:
        """Fail jobs whose heartbeat is older than ``older_than`` (their process died).

        Jobs this process is running are skipped. ``older_than`` should exceed the model's
        time to the first token (the heartbeat moves with the stream). Returns how many were
        reaped; each one's content goes back to its previous status and its reservation is
        released.
        """
        cutoff = self._clock.now() - older_than
        stale = await GenerationJob.filter(status__in=ACTIVE, heartbeat_at__lt=cutoff).exclude(
            id__in=list(self._tasks)
        )
        reaped = 0
        for job in stale:
            async with self._bookkeeping:
                reaped_this = await self._reap(job, cutoff=cutoff)
            if reaped_this:
                reaped += 1
        return reaped

    async def _reap(
        self, job: GenerationJob, *, cutoff: datetime | None = None, owner: str | None = None
    ) -> bool:
        """Fail ``job`` as abandoned: by heartbeat age (``cutoff``) or by its dead ``owner``."""
        now = self._clock.now()
        # The heartbeat in the WHERE: a job that beat since we looked is alive after all.
        alive_since = {"heartbeat_at__lte": cutoff} if cutoff is not None else {"owner": owner}
        async with in_transaction() as conn:
            done = await (
                GenerationJob.filter(id=job.id, status__in=ACTIVE, **alive_since)
                .using_db(conn)
                .update(status=JobStatus.FAILED, error=ERROR_ABANDONED, finished_at=now)
            )
            if not done:
                return False
            previous = ContentStatus(job.params.get("previous_status", ContentStatus.DRAFT))
            await self._content.abort_generation(
                content_id=job.content_id,
                previous_status=previous,
                actor_id=None,
                job_id=job.id,
                error=ERROR_ABANDONED,
                connection=conn,
            )
            await self._usage.release(connection=conn, job_id=job.id)
            await self._notify(conn, job, ok=False)
        await self._content.totals.changed(job.organization_id)  # back to its previous status
        why = f"no heartbeat since {cutoff}" if cutoff is not None else f"{owner} is gone"
        logger.warning("reaped generation job %s (%s)", job.id, why)
        return True


class _Beats:
    """A job's liveness writes, kept apart from the stream: a failed one is logged (once per
    outage, not per beat) and the next beat simply tries again; the answer keeps streaming."""

    def __init__(self, job_id: int) -> None:
        self._job_id = job_id
        self._failing = False

    async def write(self, beat: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout(BEAT_TIMEOUT_SECONDS):
                await beat
        except Exception as exc:
            if not self._failing:
                logger.warning(
                    "generation job %s: heartbeat not written (%s: %s); the answer streams on",
                    self._job_id,
                    type(exc).__name__,
                    str(exc)[:200],
                )
            self._failing = True
            return
        if self._failing:
            logger.info("generation job %s: heartbeat written again", self._job_id)
        self._failing = False


# --- request assembly ----------------------------------------------------------------------


async def _prompt_of(content: Content) -> Prompt | None:
    """The content's prompt if it is still in the library (a deleted one is simply not used)."""
    if content.prompt_id is None:
        return None
    # Only a prompt of the content's own organisation (and its workspace, or shared by the
    # organisation): an id pointing anywhere else is treated as gone.
    return await (
        visible_prompts()
        .filter(
            Q(workspace_id__isnull=True) | Q(workspace_id=content.workspace_id),
            organization_id=content.organization_id,
        )
        .get_or_none(id=content.prompt_id)
    )


def _check_inputs(instructions: str | None, variables: dict[str, Any] | None) -> None:
    """Size, count and characters of what a generate request carries (400), before any work."""
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidInput("invalid_input", field="instructions")
        if len(instructions) > MAX_INSTRUCTIONS_CHARS:
            raise InvalidInput("too_long", field="instructions", max_length=MAX_INSTRUCTIONS_CHARS)
        check_characters(instructions, field="instructions")
    if variables is None:
        return
    if not isinstance(variables, dict):
        raise InvalidInput("invalid_input", field="variables")
    if len(variables) > MAX_GENERATE_VARIABLES:
        raise InvalidInput("too_many_values", max_count=MAX_GENERATE_VARIABLES)
    total = 0
    for name, value in variables.items():
        if not isinstance(name, str) or len(name) > MAX_GENERATE_VARIABLE_NAME_CHARS:
            raise InvalidInput("invalid_input", field="variables")
        # Before the name can appear in any error: a lone surrogate cannot even be encoded.
        check_characters(name, field="variables")
        if isinstance(value, str):
            if len(value) > MAX_GENERATE_VALUE_CHARS:
                raise InvalidInput(
                    "variable_too_long", name=name, max_length=MAX_GENERATE_VALUE_CHARS
                )
            check_characters(value, field=f"variables.{name}")
            total += len(value)
    if total > MAX_GENERATE_TOTAL_CHARS:
        raise InvalidInput("too_long", field="variables", max_length=MAX_GENERATE_TOTAL_CHARS)


def _request(
    content: Content,
    prompt: Prompt | None,
    kind: GenerationKind | None,
    instructions: str | None,
    variables: dict[str, Any] | None,
    *,
    max_chars: int,
    max_tokens: int,
) -> llm_instructions.Request:
    """The validated request: kind, language, rendered prompt, instructions (400 if invalid).

    CPU-bound with large values (rendering, token estimation): run it in a thread.
    """
    instructions = (instructions or "").strip()
    if len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise InvalidInput("too_long", field="instructions", max_length=MAX_INSTRUCTIONS_CHARS)
    chosen = kind or (prompt.kind if prompt is not None else GenerationKind.DRAFT)
    if chosen is GenerationKind.REWRITE and not content.body.strip():
        raise InvalidInput("nothing_to_rewrite", field="kind")
    brief, details = "", None
    if prompt is not None:
        declared = {v.get("name") for v in prompt.variables if isinstance(v, dict)}
        # Stored values of names the prompt no longer declares are ignored; given ones are checked.
        stored = {k: v for k, v in (content.variables or {}).items() if k in declared}
        brief = render_prompt(
            prompt, {**stored, **(variables or {})}, max_chars=max_chars, max_tokens=max_tokens
        )
        language = Language(prompt.language)
    else:
        merged = {**(content.variables or {}), **(variables or {})}
        details = {str(k): str(v) for k, v in merged.items() if v not in (None, "")}
        if sum(len(k) + len(v) for k, v in details.items()) > max_chars:
            raise InvalidInput("prompt_too_large", max_chars=max_chars, max_tokens=max_tokens)
        sample = " ".join([content.title, content.body, instructions, *details.values()])
        language = Language(detect_language(sample))
    return llm_instructions.Request(
        kind=chosen,
        language=language,
        title=content.title,
        brief=brief,
        details=details,
        body=content.body,
        instructions=instructions,
    )


def _kept(received: str) -> str | None:
    """What arrived, worth keeping as an incomplete version (None when it is only blanks)."""
    return received if received.strip() else None


def _merged(*findings: dict[str, int]) -> dict[str, int]:
    """The larger count per PII type (the same phone sent and restored is one phone)."""
    merged: dict[str, int] = {}
    for found in findings:
        for kind, count in found.items():
            merged[kind] = max(merged.get(kind, 0), count)
    return merged
