"""Bodies of the ``/api/auth/*`` routes (docs/architecture.md §3)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from db.models import Language, Role

MAX_TOKEN_LENGTH = 4096  # our tokens are ~400 characters; anything far longer is garbage


PHONE_DESCRIPTION = (
    "A mobile number in any common form (Persian digits, spaces, dashes); anything that is not"
    " a valid mobile number of an accepted region is refused with 400 `invalid_phone`"
)


class OtpRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: StrictStr = Field(min_length=1, description=PHONE_DESCRIPTION)


class OtpVerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: StrictStr = Field(min_length=1, description=PHONE_DESCRIPTION)
    code: StrictStr = Field(description="The 6-digit code; Persian digits and spaces allowed")


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
