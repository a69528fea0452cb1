"""A user's own settings that every adapter honours (today: the language they read)."""

from __future__ import annotations

from core.errors import InvalidInput
from core.security.principal import Principal
from core.security.principal_cache import PrincipalCache
from db.models import Language, User


class PreferenceService:
    """Changes a person makes to their own profile; the actor is the only subject."""

    def __init__(self, *, principals: PrincipalCache | None = None) -> None:
        # The user row is part of every principal of theirs (after the commit).
        self._principals = principals or PrincipalCache.disabled()

    async def set_language(self, *, actor: Principal, language: str) -> User:
        """Store the language (fa or en) the actor reads messages in."""
        if language not in (Language.FA.value, Language.EN.value):
            raise InvalidInput("unsupported_language")
        user = actor.user
        if user.language != language:
            user.language = Language(language)
            await user.save(update_fields=["language", "updated_at"])
            await self._principals.changed(user.id)
        return user
