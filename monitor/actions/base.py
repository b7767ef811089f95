"""The vocabulary of remediation actions: requests, results, executors and the audit.

An action is declared on a rule (``actions: [{type, params, on: [first|repeat]}]``)
and run by :class:`~monitor.actions.runner.ActionRunner` when an alert of that rule
first fires (or, with ``repeat``, while it keeps firing). Each run of one action on one
device is an :class:`ActionRequest`; what became of it is an :class:`ActionResult`.

An :class:`Executor` knows one action type: which source kind it applies to, which
``params`` it accepts, what it would send (for a dry run) and how to send it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from monitor.models import EMPTY, Device, SourceKind
from monitor.store.base import ActionRecord

Trigger = Literal["first", "repeat"]

ActionClient = Any
"""A source's API client (:attr:`monitor.sources.base.SourceParts.client`); each executor
checks it is its own vendor's before calling through it."""


class ActionStatus(StrEnum):
    """What became of one action on one device.

    ``done``: sent and confirmed by the API. ``failed``: sent (or attempted) and the API
    refused or did not confirm it. ``not_needed``: checked, nothing to change (the tag
    was already there, Lost Mode was not in an error state). ``dry_run``: would have run;
    nothing was sent. ``capped``: a per-sweep or per-hour cap stopped it. ``cooldown``:
    the same action ran on the device within the cool-down. ``refused``: it could not
    run at all (unknown type, bad params, wrong source kind, invalid id, no client).
    """

    DONE = "done"
    FAILED = "failed"
    NOT_NEEDED = "not_needed"
    DRY_RUN = "dry_run"
    CAPPED = "capped"
    COOLDOWN = "cooldown"
    REFUSED = "refused"

    @property
    def is_failure(self) -> bool:
        """True for the outcomes that raise an action-failed alert."""
        return self in (ActionStatus.FAILED, ActionStatus.REFUSED)


ATTEMPTED: frozenset[ActionStatus] = frozenset(
    {ActionStatus.DONE, ActionStatus.FAILED, ActionStatus.NOT_NEEDED}
)
"""Outcomes that talked to the API: they count against caps and start the cool-down."""


def canonical_params(params: Mapping[str, Any]) -> str:
    """``params`` as canonical JSON (sorted keys): equal params give equal text."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)


class _RunOnDevice(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


class ActionKeys:
    """The keys of one action run on one device (a request, or an audit entry read back):
    the audit's device column and the canonical params."""

    __slots__ = ()

    @property
    def params_key(self: _RunOnDevice) -> str:
        """The canonical form of ``params`` (what makes two runs "the same action")."""
        return canonical_params(self.params)

    @property
    def device_key(self: _RunOnDevice) -> str:
        """``source/device_id``: the device column of the audit."""
        return f"{self.source}/{self.device_id}"


@dataclass(frozen=True, slots=True)
class ActionRequest(ActionKeys):
    """One action to run on one device, and why (the rule, the alert, the trigger)."""

    action: str
    params: Mapping[str, Any]
    rule_id: str
    trigger: Trigger
    fingerprint: str
    source: str
    source_kind: SourceKind
    device_id: str
    device_name: str = ""
    device_serial: str = ""
    device: Device | None = None

    @property
    def identity(self) -> tuple[str, str, str]:
        """(action, device key, params key): one action on one device."""
        return (self.action, self.device_key, self.params_key)

    @property
    def subject_id(self) -> str:
        """A stable subject id for the action-failed alert of this action on its device."""
        if not self.params:
            return self.action
        digest = hashlib.blake2b(self.params_key.encode(), digest_size=4).hexdigest()
        return f"{self.action}:{digest}"

    @property
    def who(self) -> str:
        """Who acted, for the audit: the monitor, on behalf of a rule."""
        return f"rule:{self.rule_id}"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What became of one :class:`ActionRequest`.

    ``message`` says what was (or would be) sent and what the API answered, or why
    nothing was sent; ``audit_id`` is the audit entry (None when not recorded, as for
    cool-down skips).
    """

    request: ActionRequest
    status: ActionStatus
    message: str
    at: datetime
    dry_run: bool = False
    audit_id: int | None = None

    @property
    def failed(self) -> bool:
        """True when this result raises an action-failed alert."""
        return self.status.is_failure


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an executor reports: done, failed or not needed, and a message."""

    status: ActionStatus
    message: str
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


def unknown_params(params: Mapping[str, Any], *accepted: str) -> str | None:
    """What to say about keys of ``params`` not among ``accepted``; None when all are."""
    unknown = sorted(set(params) - set(accepted))
    if not unknown:
        return None
    if not accepted:
        return f"takes no params (got {', '.join(unknown)})"
    return f"unknown params: {', '.join(unknown)} (accepted: {', '.join(accepted)})"


class Executor(Protocol):
    """Runs one action type against one kind of source."""

    type: str
    source_kind: SourceKind

    def check(self, params: Mapping[str, Any]) -> str | None:
        """Why ``params`` are unacceptable, or None when they are fine."""
        ...

    def refusal(self, request: ActionRequest, client: ActionClient) -> str | None:
        """Why this request cannot be sent at all (wrong client, invalid id, platform)."""
        ...

    def describe(self, request: ActionRequest, client: ActionClient) -> str:
        """What would be sent, in one line (the dry-run message)."""
        ...

    async def execute(self, request: ActionRequest, client: ActionClient) -> Outcome:
        """Send the action; raise SourceError when the API fails."""
        ...


__all__ = [
    "ATTEMPTED",
    "ActionClient",
    "ActionKeys",
    "ActionRecord",
    "ActionRequest",
    "ActionResult",
    "ActionStatus",
    "Executor",
    "Outcome",
    "Trigger",
    "canonical_params",
    "unknown_params",
]
