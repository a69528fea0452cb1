"""Tenants: organisations and the roles their members hold."""

from tortoise import fields
from tortoise.models import Model

from db.models.enums import Language, Role


class Organization(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=100, unique=True)
    language = fields.CharEnumField(Language, max_length=2, default=Language.FA)
    review_chat_id = fields.BigIntField(null=True)  # Telegram chat where drafts are announced
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "organizations"


class Membership(Model):
    """The role of a user in one organisation: at most one row per (user, organisation)."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.CASCADE
    )
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="memberships", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=10)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "memberships"
        unique_together = (("user", "organization"),)
