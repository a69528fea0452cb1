"""Every model, re-exported so Tortoise discovers them from one module path."""

from db.models.audit import AuditLog
from db.models.auth import OtpCode, RefreshToken
from db.models.bot import BotConversation
from db.models.catalog import Project, Prompt, Workspace
from db.models.compose import ComposeChoice
from db.models.content import Content, ContentVersion
from db.models.enums import (
    ContentStatus,
    GenerationKind,
    JobStatus,
    Language,
    OtpPurpose,
    OutboxStatus,
    PromptCategory,
    ReservationStatus,
    Role,
    UsagePeriod,
    UsageScope,
    VersionSource,
)
from db.models.invites import InviteLink
from db.models.jobs import GenerationJob, JobRun, ProcessLease
from db.models.orgs import Membership, Organization
from db.models.outbox import OutboxMessage
from db.models.usage import UsageCounter, UsageLimit, UsageLog, UsageReservation
from db.models.users import TelegramLink, User
from db.models.warnings import LimitWarning, UsageReportNotice

__all__ = [
    "AuditLog",
    "BotConversation",
    "ComposeChoice",
    "Content",
    "ContentStatus",
    "ContentVersion",
    "GenerationJob",
    "GenerationKind",
    "InviteLink",
    "JobRun",
    "JobStatus",
    "Language",
    "LimitWarning",
    "Membership",
    "Organization",
    "OtpCode",
    "OtpPurpose",
    "OutboxMessage",
    "OutboxStatus",
    "ProcessLease",
    "Project",
    "Prompt",
    "PromptCategory",
    "RefreshToken",
    "ReservationStatus",
    "Role",
    "TelegramLink",
    "UsageCounter",
    "UsageLimit",
    "UsageLog",
    "UsagePeriod",
    "UsageReportNotice",
    "UsageReservation",
    "UsageScope",
    "User",
    "VersionSource",
    "Workspace",
]
