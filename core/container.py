"""The one place where the process's services are built from the settings, and closed.

``Services`` is passed explicitly: to the aiohttp app (``SERVICES_KEY``), to the bot (its
context) and to scheduler jobs. Nothing in ``core`` reaches for a module-level client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis.asyncio as aioredis

from core.clock import Clock
from core.i18n import LANGUAGES, catalog
from core.llm.base import LlmClient
from core.llm.factory import build_llm_client
from core.llm.pricing import price_table
from core.notify import Notifier
from core.prompt_library import builtin_prompts
from core.security.principal_cache import PrincipalCache
from core.security.rate_limit import build_rate_limiter
from core.services.accounts import AccountService
from core.services.audit import AuditService
from core.services.auth import AuthService, build_auth_service
from core.services.catalog import CatalogService
from core.services.compose import ComposeService
from core.services.content import ContentService
from core.services.conversations import ConversationService
from core.services.generation import GenerationService
from core.services.invites import InviteService
from core.services.leases import ProcessLeases
from core.services.list_totals import ListTotals
from core.services.notifications import OutboxNotifier
from core.services.orgs import OrganizationService
from core.services.outbox import OutboxService
from core.services.preferences import PreferenceService
from core.services.prompts import PromptService
from core.services.reports import ReportService
from core.services.review import ReviewService
from core.services.telegram import TelegramLinkService
from core.services.unlocking import UnlockHorizon
from core.services.usage import UsageService
from core.settings import Settings
from core.sms.base import SmsSender
from core.sms.factory import build_sms_sender


@dataclass
class Services:
    """Infrastructure first, then the domain services that use it."""

    settings: Settings
    clock: Clock
    redis: aioredis.Redis | None
    # This process's lease and instance record (job owners, ``contexor status``).
    leases: ProcessLeases
    sms: SmsSender
    llm: LlmClient
    outbox: OutboxService
    notifier: Notifier
    # REST sessions' principals, kept per process while Redis vouches for them.
    principals: PrincipalCache
    # Domain services (one line each; keep this list in the order of docs/architecture.md §2):
    auth: AuthService
    accounts: AccountService
    organizations: OrganizationService
    invites: InviteService
    catalog: CatalogService
    prompts: PromptService
    compose: ComposeService
    content: ContentService
    review: ReviewService
    generation: GenerationService
    usage: UsageService
    reports: ReportService
    audit: AuditService
    # What the Telegram adapter needs from core (usable by any adapter):
    conversations: ConversationService
    telegram: TelegramLinkService
    preferences: PreferenceService

    async def aclose(self) -> None:
        """Close every client this container opened, newest first."""
        await self.generation.aclose()  # its jobs still settle through the DB and the model
        await self.auth.aclose()
        await self.organizations.aclose()
        await self.llm.aclose()
        await self.sms.aclose()
        if self.redis is not None:
            await self.redis.aclose()


# Redis answers in microseconds; a dead or partitioned server must fail a sign-in with a 503
# within seconds instead of hanging the request (or the bot's update) on the socket.
REDIS_SOCKET_TIMEOUT_SECONDS = 3.0


def _redis_client(url: str) -> aioredis.Redis:
    return aioredis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
    )


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    llm: LlmClient | None = None,
    notifier: Notifier | None = None,
    instance_id: str | None = None,
) -> Services:
    """Everything the adapters need; tests pass their own clock or clients.

    ``instance_id`` names this process's lease (``contexor run`` passes ``THIS_INSTANCE``);
    by default each container is an instance of its own, as the tests need.
    """
    _load_data_files()
    clock = clock or Clock()
    redis = _redis_client(settings.redis_url) if settings.redis_url else None
    sms = sms or build_sms_sender(settings, clock=clock)
    outbox = OutboxService(settings=settings, clock=clock)
    # Every process writes notifications as outbox rows; the bot's worker delivers them.
    notifier = notifier or OutboxNotifier(outbox)
    audit = AuditService(clock=clock)
    llm = llm or build_llm_client(settings)
    usage = UsageService(settings=settings, clock=clock)
    principals = PrincipalCache(
        redis, key_prefix=settings.redis_key_prefix, ttl_seconds=settings.principal_cache_seconds
    )
    auth = build_auth_service(settings, clock=clock, redis=redis, sms=sms, principals=principals)
    conversations = ConversationService(clock=clock)
    leases = ProcessLeases(
        clock=clock, redis=redis, key_prefix=settings.redis_key_prefix, instance_id=instance_id
    )
    horizon = UnlockHorizon(
        clock=clock, leases=leases, grace_seconds=settings.generation_unlock_grace_seconds
    )
    totals = ListTotals(
        redis, key_prefix=settings.redis_key_prefix, ttl_seconds=settings.list_total_cache_seconds
    )
    content = ContentService(
        clock=clock, notifier=notifier, audit=audit, horizon=horizon, totals=totals
    )
    return Services(
        settings=settings,
        clock=clock,
        redis=redis,
        leases=leases,
        sms=sms,
        llm=llm,
        outbox=outbox,
        notifier=notifier,
        principals=principals,
        auth=auth,
        accounts=AccountService(
            clock=clock,
            principals=principals,
            totals=totals,
            phone_regions=settings.phone_regions,
        ),
        organizations=OrganizationService(
            notifier=notifier,
            audit=audit,
            default_language=settings.default_language,
            phone_regions=settings.phone_regions,
            limiter=build_rate_limiter(settings, redis),
            max_organizations_per_user=settings.max_organizations_per_user,
            organization_create_rate=settings.organization_create_rate,
            principals=principals,
        ),
        invites=InviteService(
            clock=clock,
            audit=audit,
            ttl=timedelta(hours=settings.invite_link_ttl_hours),
            principals=principals,
        ),
        catalog=CatalogService(totals=totals),
        prompts=PromptService(max_rendered_chars=settings.max_rendered_chars),
        compose=ComposeService(),
        content=content,
        review=ReviewService(content=content, audit=audit, outbox=outbox),
        generation=GenerationService(
            settings=settings,
            clock=clock,
            llm=llm,
            notifier=notifier,
            usage=usage,
            content=content,
            leases=leases,
            horizon=horizon,
        ),
        usage=usage,
        reports=ReportService(settings=settings, clock=clock),
        audit=audit,
        conversations=conversations,
        telegram=TelegramLinkService(auth=auth, conversations=conversations),
        preferences=PreferenceService(principals=principals),
    )


def _load_data_files() -> None:
    """Read the cached data files (catalogs, prices, prompt library) now, at start-up, so no
    request ever does that file I/O on the event loop."""
    for language in LANGUAGES:
        catalog(language)
    price_table()
    builtin_prompts()
