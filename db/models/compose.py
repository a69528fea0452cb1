"""What each user last composed in: offered first the next time ("continue in X / Y")."""

from tortoise import fields
from tortoise.models import Model


class ComposeChoice(Model):
    """One row per user: the project and prompt of their last composition.

    Only ids are kept; the compose service re-checks them (membership, active rows) before
    offering them, so a retired project or a lost membership simply stops being offered.
    """

    id = fields.IntField(primary_key=True)
    user = fields.OneToOneField(
        "models.User", related_name="compose_choice", on_delete=fields.CASCADE
    )
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="+", on_delete=fields.CASCADE
    )
    project = fields.ForeignKeyField("models.Project", related_name="+", on_delete=fields.CASCADE)
    prompt = fields.ForeignKeyField(
        "models.Prompt", related_name="+", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "compose_choices"
