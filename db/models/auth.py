"""Credentials: one-time codes and refresh-token families."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.enums import OtpPurpose


class OtpCode(Model):
    """A hashed one-time code: attempts are counted by a conditional UPDATE, never in Python."""

    id = fields.IntField(primary_key=True)
    phone_number = fields.CharField(max_length=20)
    purpose = fields.CharEnumField(OtpPurpose, max_length=20, default=OtpPurpose.LOGIN)
    code_hash = fields.CharField(max_length=128)
    salt = fields.CharField(max_length=64)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    voided_at = fields.DatetimeField(null=True)
    client_address = fields.CharField(max_length=64, null=True)
    # The requester the per-requester daily cap counts (core/security/requester.py).
    client_network = fields.CharField(max_length=64, null=True)
    telegram_user_id = fields.BigIntField(null=True)

    class Meta:
        table = "otp_codes"
        indexes = (
            Index(fields=("phone_number", "created_at"), name="otp_phone_created_idx"),
            Index(fields=("expires_at",), name="otp_expires_idx"),
        )


class RefreshToken(Model):
    """One issued refresh token: tokens rotated from one sign-in share a ``family_id``."""

    id = fields.IntField(primary_key=True)
    jti = fields.CharField(max_length=64, unique=True)
    family_id = fields.CharField(max_length=64, db_index=True)
    user = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    parent_jti = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_tokens"
