"""The development playground's demo organisation, seeded idempotently at each start.

``seed_demo`` runs ``core/bootstrap.py`` for the admin (organisation, default workspace and
project, the built-in prompt library), then makes the editor and the writer members. Running it
again changes nothing. Nobody is linked to Telegram here: on the playground page each demo user
links the way a real person does (``/start``, share the phone, type the SMS code).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.bootstrap import bootstrap
from core.clock import Clock
from core.security.principal_cache import PrincipalCache
from db.models import Membership, Role, User

DEMO_ORGANIZATION = "Contexor Demo"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """A demo user: their Telegram id on the local Bot API, name, role and phone (E.164)."""

    telegram_id: int
    name: str
    role: Role
    phone: str


DEMO_PEOPLE = (
    DemoPerson(910_001, "Ava (admin)", Role.ADMIN, "+989120000001"),
    DemoPerson(910_002, "Eli (editor)", Role.EDITOR, "+989120000002"),
    DemoPerson(910_003, "Wes (writer)", Role.WRITER, "+989120000003"),
)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    organization_id: int
    created: bool  # this run made the organisation (the first start)
    prompts_added: int


async def seed_demo(clock: Clock, *, principals: PrincipalCache | None = None) -> DemoSeed:
    """The demo organisation and its admin, editor and writer (idempotent)."""
    admin, *others = DEMO_PEOPLE
    result = await bootstrap(
        phone=admin.phone, org_name=DEMO_ORGANIZATION, full_name=admin.name, clock=clock
    )
    for person in others:
        user, _ = await User.get_or_create(
            phone_number=person.phone, defaults={"full_name": person.name}
        )
        await Membership.get_or_create(
            user_id=user.id, organization_id=result.organization.id, defaults={"role": person.role}
        )
    if principals is not None:  # memberships (and a reactivated organisation) changed
        await principals.changed_for_everyone()
    return DemoSeed(
        organization_id=result.organization.id,
        created=result.created_organization,
        prompts_added=result.prompts_added,
    )
