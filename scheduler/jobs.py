"""The periodic jobs: each is an async function of the services, safe to run at any time."""

from __future__ import annotations

import logging
from datetime import timedelta

from tortoise.models import Model

from core.container import Services
from core.services.limit_warnings import LimitWarningService
from core.services.period_reports import PeriodReportNotices
from core.services.review_reminders import ReviewReminderService
from db.models import OtpCode, RefreshToken

logger = logging.getLogger(__name__)

OTP_RETENTION = timedelta(days=1)
REFRESH_TOKEN_RETENTION = timedelta(days=1)
# Far longer than a model's time to first token with retries (60 s timeout x 3 attempts), so a
# live job elsewhere is never taken for a dead one.
STALE_JOB_AFTER = timedelta(minutes=15)
# Deletes go in batches of this many rows, each its own short statement, so a sweep of a large
# backlog never holds a long lock on a table that sign-in writes to.
DELETE_BATCH = 1000


async def delete_in_batches(model: type[Model], batch: int = DELETE_BATCH, **filters) -> int:
    """Delete every row matching ``filters``, ``batch`` rows per statement; the count deleted."""
    deleted = 0
    while True:
        ids = await model.filter(**filters).order_by("id").limit(batch).values_list("id", flat=True)
        if not ids:
            return deleted
        deleted += await model.filter(id__in=ids).delete()


async def cleanup_expired_otps(services: Services) -> dict[str, int]:
    """Delete one-time codes that expired more than a day ago (kept that long for support)."""
    cutoff = services.clock.now() - OTP_RETENTION
    return {"deleted": await delete_in_batches(OtpCode, expires_at__lt=cutoff)}


async def prune_refresh_tokens(services: Services) -> dict[str, int]:
    """Delete refresh tokens that expired more than a day ago; revoked ones expire too."""
    cutoff = services.clock.now() - REFRESH_TOKEN_RETENTION
    return {"deleted": await delete_in_batches(RefreshToken, expires_at__lt=cutoff)}


async def reap_stale_generation_jobs(services: Services) -> dict[str, int]:
    """Fail generation jobs whose process died: content back, reservation released.

    First the jobs of owners whose lease expired, then any still running with an old heartbeat
    (jobs without an owner, or an owner that cannot be judged).
    """
    try:
        orphaned = await services.generation.reap_orphaned_jobs()
    except Exception as exc:  # leases unreadable (Redis down): nobody is taken for dead
        logger.warning("could not judge generation owners' leases: %s", exc)
        orphaned = 0
    reaped = await services.generation.reap_stale_jobs(older_than=STALE_JOB_AFTER)
    return {"reaped": orphaned + reaped}


async def clear_expired_conversations(services: Services) -> dict[str, int]:
    """Drop expired bot conversation state (the chat's language stays)."""
    return {"cleared": await services.conversations.clear_expired(batch=DELETE_BATCH)}


async def purge_delivered_outbox(services: Services) -> dict[str, int]:
    """Delete sent and given-up notifications older than ``OUTBOX_KEEP_DAYS``."""
    return {"deleted": await services.outbox.purge(batch=DELETE_BATCH)}


async def usage_rollover(services: Services) -> dict[str, int]:
    """Send each organisation's admins the usage report of the billing period just ended."""
    notices = PeriodReportNotices(
        settings=services.settings, reports=services.reports, outbox=services.outbox
    )
    return await notices.send_period_ended(services.clock.now())


async def limit_warnings(services: Services) -> dict[str, int]:
    """Tell admins (and the person) of each scope past 80% of a limit, once per period."""
    warnings = LimitWarningService(
        usage=services.usage, outbox=services.outbox, clock=services.clock
    )
    return await warnings.check()


async def review_reminders(services: Services) -> dict[str, int]:
    """Send editors and admins a digest of content waiting in review for over a day."""
    reminders = ReviewReminderService(outbox=services.outbox, clock=services.clock)
    return await reminders.remind()
