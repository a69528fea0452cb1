"""The periodic jobs: each is an async function of the services, safe to run at any time."""

from __future__ import annotations

from datetime import timedelta

from core.container import Services
from db.models import OtpCode, RefreshToken

OTP_RETENTION = timedelta(days=1)
REFRESH_TOKEN_RETENTION = timedelta(days=1)
# Far longer than a model's time to first token with retries (60 s timeout x 3 attempts), so a
# live job elsewhere is never taken for a dead one.
STALE_JOB_AFTER = timedelta(minutes=15)


async def cleanup_expired_otps(services: Services) -> dict[str, int]:
    """Delete one-time codes that expired more than a day ago (kept that long for support)."""
    cutoff = services.clock.now() - OTP_RETENTION
    deleted = await OtpCode.filter(expires_at__lt=cutoff).delete()
    return {"deleted": deleted}


async def prune_refresh_tokens(services: Services) -> dict[str, int]:
    """Delete refresh tokens that expired more than a day ago; revoked ones expire too."""
    cutoff = services.clock.now() - REFRESH_TOKEN_RETENTION
    deleted = await RefreshToken.filter(expires_at__lt=cutoff).delete()
    return {"deleted": deleted}


async def reap_stale_generation_jobs(services: Services) -> dict[str, int]:
    """Fail generation jobs whose process died: content back, reservation released."""
    reaped = await services.generation.reap_stale_jobs(older_than=STALE_JOB_AFTER)
    return {"reaped": reaped}
