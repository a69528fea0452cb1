"""Bodies of the ``/api/auth/*`` routes (docs/architecture.md §3)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictStr

from db.models import Language, Role

MAX_TOKEN_LENGTH = 4096  # our tokens are ~400 characters; anything far longer is garbage


class OtpRequestIn(BaseModel):
    phone_number: StrictStr = Field(description="A mobile number in any common form")


class OtpVerifyIn(BaseModel):
    phone_number: StrictStr
    code: StrictStr = Field(description="The 6-digit code; Persian digits and spaces allowed")


class RefreshIn(BaseModel):
    refresh: StrictStr = Field(max_length=MAX_TOKEN_LENGTH)


class CodeSentOut(BaseModel):
    ttl: int = Field(description="Seconds the code stays valid")
    resend_after: int = Field(description="Seconds before another code may be requested")


class UserOut(BaseModel):
    id: int
    phone_number: str
    full_name: str | None
    language: Language


class TokensOut(BaseModel):
    access: str
    refresh: str


class SignInOut(TokensOut):
    user: UserOut


class OrganizationRef(BaseModel):
    id: int
    name: str
    slug: str


class MembershipOut(BaseModel):
    organization: OrganizationRef
    role: Role


class MeOut(UserOut):
    memberships: list[MembershipOut]
