"""Conversation state of the Telegram bot, kept in the database so restarts lose nothing."""

from tortoise import fields
from tortoise.models import Model


class BotConversation(Model):
    """One row per (chat, Telegram user): a private chat and a group never collide."""

    id = fields.IntField(primary_key=True)
    telegram_user_id = fields.BigIntField()
    chat_id = fields.BigIntField()
    state = fields.CharField(max_length=50)
    data = fields.JSONField(default=dict)
    language = fields.CharField(max_length=2, null=True)
    updated_at = fields.DatetimeField(auto_now=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bot_conversations"
        unique_together = (("chat_id", "telegram_user_id"),)
