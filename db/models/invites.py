"""Invitation links: a single-use, expiring token that adds its holder to one organisation."""

from tortoise import fields
from tortoise.models import Model

from db.models.enums import Role


class InviteLink(Model):
    """One deep-link invitation. Only the SHA-256 of the token is stored, never the token."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="invite_links", on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=10)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_by = fields.ForeignKeyField(
        "models.User", related_name="invite_links_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by = fields.ForeignKeyField(
        "models.User", related_name="invite_links_used", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "invite_links"
