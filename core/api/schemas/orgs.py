"""Bodies and answers of ``/api/organizations`` and their members."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.api.schemas.auth import PHONE_DESCRIPTION
from core.api.schemas.common import Name
from core.services.orgs import MemberView
from db.models import Language, Organization, Role


class OrganizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    language: Language | None = Field(
        default=None, description="Language of the organisation's defaults and messages"
    )


class OrganizationUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    language: Language | None = None


class OrganizationOut(BaseModel):
    id: int
    name: str
    slug: str
    language: Language

    @classmethod
    def from_domain(cls, organization: Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            name=organization.name,
            slug=organization.slug,
            language=organization.language,
        )


class MemberInviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: StrictStr = Field(min_length=1, max_length=64, description=PHONE_DESCRIPTION)
    role: Role
    full_name: Name | None = Field(default=None, description="Used only for a new user")
    language: Language | None = Field(default=None, description="Used only for a new user")


class MemberRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberUserOut(BaseModel):
    id: int
    phone_number: str = Field(
        description="E.164 for admins; masked (e.g. +98912***4567) for other members"
    )
    full_name: str | None


class MemberOut(BaseModel):
    user: MemberUserOut
    role: Role

    @classmethod
    def from_domain(cls, member: MemberView) -> MemberOut:
        """The wire shape of a member as the service let the actor see them."""
        return cls(
            user=MemberUserOut(
                id=member.user_id, phone_number=member.phone_number, full_name=member.full_name
            ),
            role=member.role,
        )
