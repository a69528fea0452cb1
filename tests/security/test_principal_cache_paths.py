"""Every write in the product that can change a principal is one the principal cache hears of.

A REST session's principal is kept per process while its Redis marks are unchanged
(core/security/principal_cache.py); a write that changes users, memberships, organisations or
a session's revocation and does not set the marks afterwards leaves other processes serving the
old principal for up to ``PRINCIPAL_CACHE_SECONDS``. This scan finds such writes in the
product's code. A new one fails here: make it call ``PrincipalCache.changed`` (or
``changed_for_everyone``) after its commit, then add it below, with how it does.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "bot", "scheduler", "db")

WRITE = re.compile(
    r"\b(User|Membership|Organization)\s*\.\s*"
    r"(create|get_or_create|update_or_create|bulk_create|bulk_update)\b"
    # Model.filter(...)[.using_db(conn)…].update( / .delete(
    r"|\b(User|Membership|Organization|RefreshToken)\.filter\([^()]*(?:\([^()]*\)[^()]*)*\)"
    r"(?:\s*\.\s*\w+\([^()]*\))*\s*\.\s*(update|delete)\("
    r"|(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(users|memberships|organizations|refresh_tokens)\b"
    r"|\b(user|organization|org|membership)\.save\(",
)

# module: writes found, and how the principal cache hears of them.
REVIEWED = {
    # get_or_create of the organisation, user and admin membership; saves of reactivation and
    # full name: ``principals.changed_for_everyone()`` after the commit.
    "core/bootstrap.py": 5,
    # the demo's users and memberships: ``changed_for_everyone()`` at the end.
    "core/demo.py": 2,
    # deactivation (user, refresh tokens) and organisation activation: ``changed(user)`` and
    # ``changed_for_everyone()``.
    "core/services/accounts.py": 3,
    # sign-in creates or stamps the user and stores a new session (two docstring mentions of
    # ``User.create`` among them): ``AuthService._verify`` calls ``changed(user)``.
    "core/services/otp_sign_in.py": 6,
    # the review chat's binding: not part of a principal.
    "core/services/review.py": 2,
    # a redeemed invitation's membership: ``changed(user)``.
    "core/services/invites.py": 1,
    # the user's language: ``changed(user)``.
    "core/services/preferences.py": 1,
    # creating an organisation (the creator's membership), renaming one, inviting, changing a
    # role, removing a member: ``changed(user)``, or ``changed_for_everyone()`` for a rename.
    "core/services/orgs.py": 7,
    # a refresh token used (not a revocation) and a family revoked: ``revoke_family`` calls
    # ``changed(user)``.
    "core/security/tokens.py": 2,
}


def test_every_write_that_changes_a_principal_is_reviewed() -> None:
    found: Counter[str] = Counter()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            writes = len(WRITE.findall(path.read_text(encoding="utf-8")))
            if writes:
                found[str(path.relative_to(ROOT))] = writes
    assert found, "the scan found no writes at all: the pattern is broken"
    assert dict(found) == REVIEWED, (
        "writes to users, memberships, organisations or refresh tokens changed: make each new "
        "one invalidate the principal cache after its commit, then update REVIEWED"
    )
