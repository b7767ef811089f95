"""The rule file model: what a rule file may say, strict (pydantic; unknown keys are errors).

:mod:`monitor.engine.loader` validates each file and entry against these models and
:mod:`monitor.engine.rules` compiles them into the :class:`~monitor.engine.rules.Rule`
the evaluator runs. The format is described in :mod:`monitor.engine.rules`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool, StrictStr

from monitor.config import Duration, Strict
from monitor.sources import registry

RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


def _known_source(value: str) -> str:
    if value != "any" and value not in registry.kinds():
        raise ValueError(f"Input should be {', '.join(map(repr, registry.kinds()))} or 'any'")
    return value


RuleSource = Annotated[StrictStr, AfterValidator(_known_source)]
"""A registered source kind (:mod:`monitor.sources.registry`), or ``any``."""
SubjectName = Literal["library_item", "parameter", "device", "app", "lost_mode"]
ActionTrigger = Literal["first", "repeat"]


def _on_first() -> list[ActionTrigger]:
    return ["first"]


class ActionSpec(Strict):
    """A remediation action a rule asks for (run, capped and audited elsewhere)."""

    type: StrictStr = Field(pattern=r"^[a-z][a-z0-9_.\-]*$")
    params: dict[StrictStr, Any] = Field(default_factory=dict)
    on: list[ActionTrigger] = Field(default_factory=_on_first, min_length=1)


class RuleSpec(Strict):
    """One rule as written in a rule file (strict: unknown keys are errors)."""

    id: StrictStr = Field(min_length=1, max_length=200, pattern=RULE_ID_PATTERN)
    description: StrictStr = ""
    source: RuleSource = "any"
    subject: SubjectName
    match: dict[StrictStr, Any] = Field(min_length=1)
    unless: list[dict[StrictStr, Any]] = Field(default_factory=list)
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    summary: StrictStr | None = None
    remedy: StrictStr = Field(default="", max_length=2000)
    enabled: StrictBool = True
    actions: list[ActionSpec] = Field(default_factory=list)


class DefaultsSpec(Strict):
    """Values every rule of a file inherits unless it sets its own (labels are merged)."""

    source: RuleSource | None = None
    severity: Literal["info", "warning", "critical"] | None = None
    for_: Duration | None = Field(default=None, alias="for")
    keep_firing_for: Duration | None = None
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    enabled: StrictBool | None = None


class OverrideSpec(Strict):
    """Changes to a rule defined elsewhere (typically a shipped one).

    ``match`` entries replace the conditions on the same field (or add new ones);
    ``unless`` entries are appended; ``labels`` are merged; the rest replaces.
    """

    id: StrictStr = Field(min_length=1, pattern=RULE_ID_PATTERN)
    enabled: StrictBool | None = None
    severity: Literal["info", "warning", "critical"] | None = None
    for_: Duration | None = Field(default=None, alias="for")
    keep_firing_for: Duration | None = None
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    match: dict[StrictStr, Any] = Field(default_factory=dict)
    unless: list[dict[StrictStr, Any]] = Field(default_factory=list)
    summary: StrictStr | None = None
    description: StrictStr | None = None
    remedy: StrictStr | None = Field(default=None, max_length=2000)
    actions: list[ActionSpec] | None = None


class RuleFileSpec(Strict):
    """A rule file: ``rules``, optional ``defaults`` and ``overrides``, format ``version``."""

    version: Literal[1] = 1
    defaults: dict[StrictStr, Any] = Field(default_factory=dict)
    rules: list[dict[StrictStr, Any]] = Field(default_factory=list)
    overrides: list[dict[StrictStr, Any]] = Field(default_factory=list)


__all__ = [
    "RULE_ID_PATTERN",
    "ActionSpec",
    "ActionTrigger",
    "DefaultsSpec",
    "OverrideSpec",
    "RuleFileSpec",
    "RuleSource",
    "RuleSpec",
    "SubjectName",
]
