"""Pydantic models of the Applivery (Workspace API) responses the monitor reads.

Applivery publishes no OpenAPI file; what is known comes from its reference pages
(cut short in the copies available), an older render of them, and one third-party
client (``shared/applivery/API-NOTES.md``). The models are therefore tolerant on
purpose:

- every field is optional and unknown keys are kept (``extra="allow"``);
- ``id`` or ``_id`` is accepted (Mongo-style documents), and the older field names
  (``organization``, ``admEnterprise``) are read when the newer ones are absent;
- ``summary.compliance`` is only known from one example body (``{compliant, lastCheck}``);
  a bare boolean or a ``compliant``/``nonCompliant`` string is read too;
- a policy reference may be an id string or an object (``{id, name}``);
- ``refreshInfoNeeded`` is a list of category names; a single string is read as one.

Envelopes: a success is ``{"status": true, "data": ...}``; an error is
``{"status": false, "error": {"code", "message"}}``. Lists come as mongoose-paginate
pages (``{items, hasNextPage, page, totalPages, totalDocs, limit, ...}``) inside
``data``, and some sub-resources return ``data`` as a bare array; :func:`page_of`
accepts all of these, and a bare array or a ``docs`` key as well.

Model names start with ``A`` to keep them apart from :mod:`monitor.models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from monitor.sources.lenient import (
    AnyDict,
    Bool,
    Int,
    Section,
    Str,
    StrList,
    Timestamp,
    parse_bool,
    section_field,
    to_optional_section,
)

# --------------------------------------------------------------------------- vocabulary

DEVICE_STATES: frozenset[str] = frozenset(
    {"PROVISIONING", "ACTIVE", "DELETED", "DELETE_REQUESTED", "UNKNOWN"}
)
"""The ``state`` values the (older) reference lists for a Windows device."""

INFO_CATEGORIES: tuple[str, ...] = ("hardware", "applications", "certificates")
"""The ``info`` categories of a selective refresh seen in the reference's example.

The full list was not visible; other values are passed through unchecked."""


def _to_dicts(value: object) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, dict)]


def _to_ref(value: object) -> dict[str, Any] | None:
    """A reference given as an id string or as an object; anything else is none."""
    if isinstance(value, str) and value:
        return {"id": value}
    return to_optional_section(value)


def _to_compliance(value: object) -> dict[str, Any] | None:
    """``summary.compliance``: an object, a bare boolean, or a verdict word."""
    if isinstance(value, dict):
        return value or None
    if isinstance(value, bool):
        return {"compliant": value}
    if isinstance(value, str):
        word = value.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        if word == "compliant":
            return {"compliant": True}
        if word in ("noncompliant", "notcompliant"):
            return {"compliant": False}
        verdict = parse_bool(value)
        return None if verdict is None else {"compliant": verdict}
    return None


class AModel(BaseModel):
    """Base of every Applivery model: extra keys kept, fields named in snake case."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


def _ident(*names: str) -> Any:
    """A string field read from the first of ``names`` present (``id`` or ``_id``...)."""
    return Field(default="", validation_alias=AliasChoices(*names))


# --------------------------------------------------------------------------- envelope


class AError(AModel):
    """The ``error`` object of a failed call: ``{code, message}``."""

    code: Int = None
    message: Str = ""


class AEnvelope(AModel):
    """``{"status": bool, "data": ..., "error": {...}}``; ``status`` is None when absent."""

    status: Bool = None
    data: Any = None
    error: Annotated[AError | None, BeforeValidator(to_optional_section)] = None

    @property
    def failed(self) -> bool:
        """True when the body says the call failed (``status: false`` or an ``error``)."""
        return self.status is False or self.error is not None


def parse_envelope(body: object) -> AEnvelope | None:
    """The envelope of ``body``, or None when ``body`` is not an enveloped object.

    A body counts as enveloped when it is an object with a ``status`` (boolean or
    boolean-like) or an ``error`` object; a bare list or a bare page is not.
    """
    if not isinstance(body, dict):
        return None
    if "error" in body and isinstance(body.get("error"), dict):
        return AEnvelope.model_validate(body)
    if "status" in body and parse_bool(body.get("status")) is not None:
        return AEnvelope.model_validate(body)
    return None


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What a list response says about paging; None where it says nothing."""

    has_next: bool | None = None
    page: int | None = None
    total_pages: int | None = None
    total: int | None = None
    limit: int | None = None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):  # OverflowError: a float too large (inf)
        return None


def page_of(body: object) -> tuple[list[dict[str, Any]], PageInfo] | None:
    """The items and paging facts of a list response, or None when it is no list.

    Accepted shapes: a bare array; ``{items|docs: [...], hasNextPage, ...}``; either of
    those under ``data`` (with or without ``status``). Non-object items are dropped.
    """
    envelope = parse_envelope(body)
    if envelope is not None:
        body = envelope.data
    elif isinstance(body, dict) and "data" in body and isinstance(body["data"], list | dict):
        body = body["data"]
    if isinstance(body, list):
        return _to_dicts(body), PageInfo()
    if not isinstance(body, dict):
        return None
    key = "items" if "items" in body else "docs" if "docs" in body else None
    if key is None:
        return None
    raw = body.get(key)
    if raw is not None and not isinstance(raw, list):
        return None
    info = PageInfo(
        has_next=parse_bool(body.get("hasNextPage")),
        page=_int_or_none(body.get("page")),
        total_pages=_int_or_none(body.get("totalPages")),
        total=_int_or_none(body.get("totalDocs")),
        limit=_int_or_none(body.get("limit")),
    )
    return _to_dicts(raw), info


# --------------------------------------------------------------------------- devices


class ACompliance(AModel):
    """``summary.compliance``; only ``{compliant, lastCheck}`` has been seen (an example)."""

    compliant: Bool = None
    last_check: Timestamp = Field(default=None, alias="lastCheck")


class ASummary(AModel):
    """``summary`` of a Windows device (what the device last reported about itself)."""

    name: Str = ""
    os_version: Str = Field(default="", alias="osVersion")
    os_version_name: Str = Field(default="", alias="osVersionName")
    os: Str = ""
    serial_number: Str = Field(default="", alias="serialNumber")
    imei: Str = ""
    model: Str = ""
    battery: Str = ""
    expiration_timestamp: Timestamp = Field(default=None, alias="expirationTimestamp")
    supervised: Bool = None
    compliance: Annotated[ACompliance | None, BeforeValidator(_to_compliance)] = None


class AUserRef(AModel):
    """``mdmUser``: the device's MDM user."""

    id: str = _ident("id", "_id")
    email: Str = ""
    name: Str = ""


class APolicyRef(AModel):
    """A policy reference (``winPolicy``, ``deviceWinPolicy``): an id, maybe a name."""

    id: str = _ident("id", "_id")
    name: Str = ""


class APolicyAssignment(AModel):
    """One entry of ``winPolicyAssignments``: a policy id and its priority."""

    win_policy_id: str = _ident("winPolicyId", "winPolicy", "policyId", "id")
    priority: Int = None


class AStateChange(AModel):
    """One entry of ``stateHistory`` (shape not documented: a state and a date)."""

    state: Str = ""
    date: Timestamp = Field(default=None, validation_alias=AliasChoices("date", "createdAt", "at"))


Ref = Annotated[APolicyRef | None, BeforeValidator(_to_ref)]
Dicts = BeforeValidator(_to_dicts)


def _to_opt_str_list(value: object) -> list[str] | None:
    """None when absent (unknown); a lone string is one category."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [
        str(v) for v in items if isinstance(v, str | int) and not isinstance(v, bool) and v != ""
    ]


class AWinDevice(AModel):
    """A Windows device: one item of the device list, or ``data`` of ``GET .../{id}``."""

    id: str = _ident("id", "_id")
    organization_id: str = _ident("organizationId", "organization")
    win_enterprise_id: str = _ident("winEnterpriseId", "admEnterprise")
    mdm_user: Annotated[AUserRef | None, BeforeValidator(to_optional_section)] = Field(
        default=None, alias="mdmUser"
    )
    display_name: Str = Field(default="", alias="displayName")
    tags: StrList = Field(default_factory=list)
    win_id: Str = Field(default="", alias="winId")
    state: Str = ""
    type: Str = ""
    sub_type: Str = Field(default="", alias="subType")
    config: AnyDict = Field(default_factory=dict)
    config_dates: AnyDict = Field(default_factory=dict, alias="configDates")
    summary: Annotated[ASummary, Section] = section_field(ASummary)
    last_status_report_time: Timestamp = Field(default=None, alias="lastStatusReportTime")
    state_history: Annotated[list[AStateChange], Dicts] = Field(
        default_factory=list, alias="stateHistory"
    )
    refresh_info_needed: Annotated[list[str] | None, BeforeValidator(_to_opt_str_list)] = Field(
        default=None, alias="refreshInfoNeeded"
    )
    enrolled_date: Timestamp = Field(default=None, alias="enrolledDate")
    win_policy: Ref = Field(default=None, alias="winPolicy")
    device_win_policy: Ref = Field(default=None, alias="deviceWinPolicy")
    win_policy_assignments: Annotated[list[APolicyAssignment], Dicts] = Field(
        default_factory=list, alias="winPolicyAssignments"
    )
    # Not in the visible schema: the unified list filters on ``lastSyncError``, so a
    # device may carry it (a flag, or an object describing the error). Read if present.
    last_sync_error: Any = Field(default=None, alias="lastSyncError")
    created_at: Timestamp = Field(default=None, alias="createdAt")
    updated_at: Timestamp = Field(default=None, alias="updatedAt")

    @property
    def name(self) -> str:
        """The display name, else the name the device reports."""
        return self.display_name or self.summary.name

    @property
    def compliant(self) -> bool | None:
        """Applivery's own verdict, when the device record carries one."""
        c = self.summary.compliance
        return None if c is None else c.compliant

    @property
    def compliance_checked_at(self) -> Any:
        """When Applivery last judged compliance (None when unknown)."""
        c = self.summary.compliance
        return None if c is None else c.last_check

    @property
    def sync_error(self) -> bool | None:
        """Whether the last sync failed: None when the record says nothing about it."""
        raw = self.last_sync_error
        if raw is None:
            return None
        if isinstance(raw, dict | list):
            return bool(raw)
        verdict = parse_bool(raw)
        if verdict is not None:
            return verdict
        # A non-empty message or date names an error.
        return bool(str(raw).strip())

    @property
    def config_errors(self) -> tuple[str, ...]:
        """OMA-URI nodes the device failed to answer (their value is ``{isError: true}``)."""
        return tuple(
            sorted(
                path
                for path, value in self.config.items()
                if isinstance(value, Mapping) and parse_bool(value.get("isError")) is True
            )
        )

    @property
    def policy(self) -> APolicyRef | None:
        """The policy in force: the one applied to the device, else the assigned one,
        else the highest-priority assignment (lowest ``priority`` number)."""
        if self.device_win_policy is not None and self.device_win_policy.id:
            return self.device_win_policy
        if self.win_policy is not None and self.win_policy.id:
            return self.win_policy
        ranked = sorted(
            (a for a in self.win_policy_assignments if a.win_policy_id),
            key=lambda a: a.priority if a.priority is not None else 1 << 30,
        )
        return APolicyRef(id=ranked[0].win_policy_id) if ranked else None


class AInfoRefresh(AModel):
    """``data`` of the selective refresh: ``{"status": true}`` when sent to the device."""

    status: Bool = None


__all__ = [
    "DEVICE_STATES",
    "INFO_CATEGORIES",
    "ACompliance",
    "AEnvelope",
    "AError",
    "AInfoRefresh",
    "AModel",
    "APolicyAssignment",
    "APolicyRef",
    "AStateChange",
    "ASummary",
    "AUserRef",
    "AWinDevice",
    "PageInfo",
    "page_of",
    "parse_envelope",
]
