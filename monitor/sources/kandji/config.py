"""The config model of a Kandji (Iru) source."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from monitor.models import SourceKind
from monitor.settings import Duration, SourceBase, Strict

KIND = "kandji"
#: The kind as the rule engine names it: one object every device of this kind shares.
SOURCE_KIND = SourceKind(KIND)


class PlannerConfig(Strict):
    """How the planned strategy spends the budget (see ``config.example.yaml``).

    ``rediscover_every``: blueprints and their item lists are listed again when the
    audit feed shows an edit, and at least this often. ``per_device_share``: the share
    of each sweep's allowance kept for per-device reads (parameters, details, apps),
    which also get whatever the library items leave. ``parameters_every``: a Mac's
    parameters are read again at most this often, even when it checked in since.
    ``paced``: spread the hourly budget over the sweeps (each spends what its interval
    earns) rather than spending it as fast as the sweeps come; paced sweeps come as
    often as the budget affords a full pass, but never more often than ``min_interval``
    (nor less often than the source's ``interval``).
    """

    rediscover_every: Duration = timedelta(hours=6)
    per_device_share: float = Field(default=0.1, ge=0.0, le=1.0)
    parameters_every: Duration = timedelta(hours=1)
    paced: bool = True
    min_interval: Duration = timedelta(minutes=1)

    @field_validator("rediscover_every")
    @classmethod
    def _not_too_often(cls, v: timedelta) -> timedelta:
        if v < timedelta(minutes=1):
            raise ValueError("must be at least 1m (the audit feed says when to list sooner)")
        return v


class KandjiSourceConfig(SourceBase):
    """A Kandji (Iru) tenant: ``url`` is ``https://SUBDOMAIN.api.kandji.io``."""

    kind: Literal["kandji"]
    page_size: int = Field(default=300, ge=1, le=300)
    strategy: Literal["planned", "per_device"] = "planned"
    planner: PlannerConfig = PlannerConfig()


__all__ = ["KIND", "KandjiSourceConfig", "PlannerConfig"]
