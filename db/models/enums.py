"""Closed sets of values stored in the database; services and adapters use these names."""

from enum import StrEnum


class Role(StrEnum):
    """A member's role in one organisation, from most to least powerful."""

    ADMIN = "admin"
    EDITOR = "editor"
    WRITER = "writer"
    VIEWER = "viewer"


class Language(StrEnum):
    FA = "fa"
    EN = "en"


class PromptCategory(StrEnum):
    BLOG = "blog"
    SOCIAL = "social"
    ECOMMERCE = "ecommerce"
    EMAIL = "email"
    AD = "ad"
    OTHER = "other"


class GenerationKind(StrEnum):
    OUTLINE = "outline"
    DRAFT = "draft"
    REWRITE = "rewrite"
    CAPTION = "caption"


class ContentStatus(StrEnum):
    DRAFT = "draft"
    GENERATING = "generating"
    REVIEW = "review"
    APPROVED = "approved"
    REJECTED = "rejected"


class VersionSource(StrEnum):
    CREATED = "created"
    EDIT = "edit"
    GENERATION = "generation"


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class UsageScope(StrEnum):
    ORGANIZATION = "organization"
    WORKSPACE = "workspace"
    USER = "user"


class UsagePeriod(StrEnum):
    DAILY = "daily"
    MONTHLY = "monthly"


class ReservationStatus(StrEnum):
    HELD = "held"
    SETTLED = "settled"
    RELEASED = "released"


class OtpPurpose(StrEnum):
    LOGIN = "login"
    TELEGRAM_LINK = "telegram_link"


class OutboxStatus(StrEnum):
    """A notification row: waiting (or retrying), claimed by a worker, delivered, given up."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
