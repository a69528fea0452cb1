"""People: a user is one phone number; a Telegram account links to at most one user."""

from tortoise import fields
from tortoise.models import Model

from db.models.enums import Language


class User(Model):
    id = fields.IntField(primary_key=True)
    phone_number = fields.CharField(max_length=20, unique=True)  # E.164
    full_name = fields.CharField(max_length=200, null=True)
    language = fields.CharEnumField(Language, max_length=2, default=Language.FA)
    is_active = fields.BooleanField(default=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class TelegramLink(Model):
    """One Telegram account <-> one user: both sides unique so neither can be linked twice."""

    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField(
        "models.User", related_name="telegram_link", on_delete=fields.CASCADE
    )
    telegram_user_id = fields.BigIntField(unique=True)
    chat_id = fields.BigIntField()
    username = fields.CharField(max_length=64, null=True)
    linked_at = fields.DatetimeField(auto_now_add=True)
    # Set when Telegram answers 403 (the user blocked the bot); cleared when they write again.
    # While set, the delivery worker sends this person nothing (core/services/outbox.py).
    unreachable_since = fields.DatetimeField(null=True)

    class Meta:
        table = "telegram_links"
