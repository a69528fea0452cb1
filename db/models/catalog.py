"""What an organisation organises its writing into: workspaces, projects and prompts."""

from tortoise import fields
from tortoise.models import Model

from db.models.enums import GenerationKind, Language, PromptCategory


class Workspace(Model):
    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="workspaces", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "workspaces"
        unique_together = (("organization", "slug"),)


class Project(Model):
    id = fields.IntField(primary_key=True)
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="projects", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    created_by = fields.ForeignKeyField(
        "models.User", related_name="created_projects", null=True, on_delete=fields.SET_NULL
    )
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "projects"
        unique_together = (("workspace", "slug"),)


class Prompt(Model):
    """A prompt template with typed variables: ``workspace`` null means organisation-wide.

    ``key`` names a built-in template (``blog_post.fa``) so seeding stays idempotent.
    """

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="prompts", on_delete=fields.CASCADE
    )
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="prompts", null=True, on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=100, null=True)
    title = fields.CharField(max_length=200)
    category = fields.CharEnumField(PromptCategory, max_length=20, default=PromptCategory.OTHER)
    kind = fields.CharEnumField(GenerationKind, max_length=20, default=GenerationKind.DRAFT)
    template = fields.TextField()
    variables = fields.JSONField(default=list)
    language = fields.CharEnumField(Language, max_length=2, default=Language.FA)
    is_builtin = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    created_by = fields.ForeignKeyField(
        "models.User", related_name="created_prompts", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "prompts"
        unique_together = (("organization", "key"),)
