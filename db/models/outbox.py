"""Notifications waiting for delivery, written in the transaction of the change they report.

The bot's delivery worker (``bot/delivery.py``) claims rows through ``core/services/outbox.py``,
sends them and records the outcome; nothing else writes these rows after they are created.
"""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.enums import OutboxStatus


class OutboxMessage(Model):
    """One notification for one person (or one group chat), kept until sent or given up."""

    id = fields.BigIntField(primary_key=True)
    # The recipient; None for a row addressed to a group chat (``chat_id``) rather than a person.
    user = fields.ForeignKeyField(
        "models.User", related_name="outbox_messages", on_delete=fields.CASCADE, null=True
    )
    # A group chat to write to instead of the user's private chat (an organisation's review
    # group), and the language to write in there (a group has no user to take it from).
    chat_id = fields.BigIntField(null=True)
    language = fields.CharField(max_length=2, null=True)
    # The content the notification is about, so a decision can find the review cards to close.
    content_id = fields.IntField(null=True)
    kind = fields.CharField(max_length=40)
    payload = fields.JSONField(default=dict)
    status = fields.CharEnumField(OutboxStatus, max_length=10, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # A claim: the worker that holds the row, and until when (an expired lease is claimable).
    lease_token = fields.CharField(max_length=32, null=True)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    # Where the message landed, so a later change (a decided review card) can edit it.
    sent_chat_id = fields.BigIntField(null=True)
    sent_message_id = fields.BigIntField(null=True)

    class Meta:
        table = "outbox_messages"
        indexes = (
            Index(fields=("status", "next_attempt_at"), name="outbox_status_due_idx"),
            Index(fields=("lease_token",), name="outbox_lease_idx"),
            Index(fields=("content_id", "kind"), name="outbox_content_kind_idx"),
        )
