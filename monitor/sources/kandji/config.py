"""The config model of a Kandji (Iru) source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.settings import SourceBase

KIND = "kandji"


class KandjiSourceConfig(SourceBase):
    """A Kandji (Iru) tenant: ``url`` is ``https://SUBDOMAIN.api.kandji.io``."""

    kind: Literal["kandji"]
    page_size: int = Field(default=300, ge=1, le=300)
    strategy: Literal["planned", "per_device"] = "planned"


__all__ = ["KIND", "KandjiSourceConfig"]
