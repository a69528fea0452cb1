"""The periodic jobs: each is an async function of the services, safe to run at any time."""

from __future__ import annotations

from datetime import timedelta

from core.container import Services
from db.models import OtpCode, RefreshToken

OTP_RETENTION = timedelta(days=1)
REFRESH_TOKEN_RETENTION = timedelta(days=1)


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
