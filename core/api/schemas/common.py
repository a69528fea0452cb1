"""Field types and bodies that several resources' schemas share.

Writes take a parent's id under the parent's name (``{"organization": 3, ...}``). In the
``…UpdateIn`` bodies a field left out, or sent as null, stays as it is.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.api.http import MAX_ID
from core.services.common import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, TEXT_PATTERN

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=TEXT_PATTERN)]
Description = Annotated[StrictStr, Field(max_length=DESCRIPTION_MAX_LENGTH, pattern=TEXT_PATTERN)]


class CatalogUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
