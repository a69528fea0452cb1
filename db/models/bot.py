"""Conversation state of the Telegram bot, kept in the database so restarts lose nothing."""

from tortoise import fields
from tortoise.models import Model


class BotConversation(Model):
    id = fields.IntField(primary_key=True)
    telegram_user_id = fields.BigIntField(unique=True)
    chat_id = fields.BigIntField()
    state = fields.CharField(max_length=50)
    data = fields.JSONField(default=dict)
    language = fields.CharField(max_length=2, null=True)
    updated_at = fields.DatetimeField(auto_now=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "bot_conversations"
