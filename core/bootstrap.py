"""``contexor bootstrap``: the first organisation and its admin, idempotently.

Running it again with the same arguments changes nothing and reports the same rows: the
organisation is found by the slug of its name, the user by the normalised phone number, the
default workspace and project by their fixed slug, and built-in prompts by key. Decisions:

- The name of an organisation that already exists is refused (``Conflict("organization_exists")``,
  nothing written) unless the phone number is already one of its admins: bootstrap never hands
  an existing organisation to someone else. (Restoring admin access goes through an existing
  admin, or the database.)
- An existing user's full name is replaced only when ``full_name`` is given.
- A retired (inactive) organisation, default workspace or project is reactivated (its admin
  running bootstrap again).
- Built-in prompts an organisation already has are left as they are (see core/prompt_library.py).
- Reactivating shows retired content again, so ``totals`` (the API's cached list totals) is told
  the organisation changed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import Conflict
from core.prompt_library import seed_prompt_library
from core.security.principal_cache import PrincipalCache
from core.services.catalog import ensure_default_catalog
from core.services.common import clean_name
from core.services.list_totals import ListTotals
from core.text.slug import slugify
from core.validators.phone import DEFAULT_REGIONS, normalize_phone
from db.models import Membership, Organization, Project, Role, User, Workspace

ATTEMPTS = 2  # a concurrent bootstrap can win a unique race once; the retry then finds its rows


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """What bootstrap left in place, and what this run had to create or change."""

    organization: Organization
    admin: User
    workspace: Workspace
    project: Project
    created_organization: bool
    created_user: bool
    made_admin: bool  # the user was not an admin of the organisation before this run
    prompts_added: int
    finished_at: datetime

    @property
    def changed_anything(self) -> bool:
        return (
            self.created_organization
            or self.created_user
            or self.made_admin
            or self.prompts_added > 0
        )


async def bootstrap(
    *,
    phone: str,
    org_name: str,
    full_name: str | None,
    clock: Clock,
    phone_regions: Collection[str] = DEFAULT_REGIONS,
    totals: ListTotals | None = None,
    principals: PrincipalCache | None = None,
) -> BootstrapResult:
    """Create or find the organisation, its admin, defaults and prompt library, in one
    transaction; ``InvalidInput`` for a bad phone number (or one outside ``phone_regions``) or
    name, ``Conflict`` for another's organisation."""
    e164 = normalize_phone(phone, regions=phone_regions)
    name = clean_name(org_name, field="org")
    clean_full_name = None if full_name is None else clean_name(full_name, field="name")
    for attempt in range(ATTEMPTS):
        try:
            result = await _bootstrap_once(e164, name, clean_full_name, clock)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        if totals is not None:  # after the commit: what it reactivated counts again
            await totals.changed(result.organization.id)
        if principals is not None:  # a reactivated organisation is in its members' again
            await principals.changed_for_everyone()
        return result
    raise AssertionError("unreachable")  # pragma: no cover


async def _bootstrap_once(
    phone: str, name: str, full_name: str | None, clock: Clock
) -> BootstrapResult:
    async with in_transaction() as conn:
        organization, created_org = await Organization.get_or_create(
            slug=slugify(name), defaults={"name": name}, using_db=conn
        )
        if not created_org and not await _is_admin(conn, organization.id, phone):
            raise Conflict("organization_exists")
        if not organization.is_active:
            organization.is_active = True
            await organization.save(update_fields=["is_active"], using_db=conn)

        user, created_user = await User.get_or_create(
            phone_number=phone,
            defaults={"full_name": full_name, "language": organization.language},
            using_db=conn,
        )
        if full_name is not None and user.full_name != full_name:
            user.full_name = full_name
            await user.save(update_fields=["full_name"], using_db=conn)

        _, created_membership = await Membership.get_or_create(
            user_id=user.id,
            organization_id=organization.id,
            defaults={"role": Role.ADMIN},
            using_db=conn,
        )
        made_admin = created_membership  # only for a new organisation: see _is_admin above

        defaults = await ensure_default_catalog(organization, connection=conn, creator=user)
        added = await seed_prompt_library(organization.id, connection=conn)
    return BootstrapResult(
        organization=organization,
        admin=user,
        workspace=defaults.workspace,
        project=defaults.project,
        created_organization=created_org,
        created_user=created_user,
        made_admin=made_admin,
        prompts_added=added,
        finished_at=clock.now(),
    )


async def _is_admin(conn: BaseDBAsyncClient, organization_id: int, phone: str) -> bool:
    return (
        await Membership.filter(
            organization_id=organization_id, role=Role.ADMIN, user__phone_number=phone
        )
        .using_db(conn)
        .exists()
    )
