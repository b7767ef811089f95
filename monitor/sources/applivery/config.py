"""The config model of an Applivery source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.models import SourceKind
from monitor.settings import SourceBase

KIND = "applivery"
#: The kind as the rule engine names it: one object every device of this kind shares.
SOURCE_KIND = SourceKind(KIND)


class AppliverySourceConfig(SourceBase):
    """An Applivery organization: ``url`` is ``https://api.applivery.io/v1``."""

    kind: Literal["applivery"]
    organization: str = Field(pattern=r"^(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))$")
    page_size: int = Field(default=100, ge=1, le=1000)


__all__ = ["KIND", "AppliverySourceConfig"]
