"""The Kandji seam: endpoint templates and the checks every answer the monitor reads
must pass (:class:`KandjiApi`, the client's ``api``).

Stale data is not compliance, so the seam refuses to pass on a body it cannot vouch
for (a :class:`~monitor.errors.MalformedResponseError`, and the device is held rather
than resolved): a status row without its ``item_id`` or ``status``, a row that is not
an object, a ``library_items``/``parameters``/``apps`` list that is missing or ``null``,
a details section that is ``null``, a device record without a documented key the
rules read. Such an answer is asked again under the one retry policy first.
"""

from __future__ import annotations

from typing import Any

import structlog

from monitor.sources.http import ApiClient, Validator
from monitor.sources.kandji.models import (
    KNOWN_LIBRARY_ITEM_STATUSES,
    KNOWN_PARAMETER_STATUSES,
)

log = structlog.get_logger(__name__)

# Endpoint templates: these label logs, metrics and errors.
DEVICES = "/api/v1/devices"
DEVICE = "/api/v1/devices/{device_id}"
DEVICE_DETAILS = "/api/v1/devices/{device_id}/details"
DEVICE_STATUS = "/api/v1/devices/{device_id}/status"
DEVICE_LIBRARY_ITEMS = "/api/v1/devices/{device_id}/library-items"
DEVICE_PARAMETERS = "/api/v1/devices/{device_id}/parameters"
DEVICE_APPS = "/api/v1/devices/{device_id}/apps"
DEVICE_ACTIVITY = "/api/v1/devices/{device_id}/activity"
DEVICE_LOST_MODE = "/api/v1/devices/{device_id}/details/lostmode"
BLUEPRINTS = "/api/v1/blueprints"
BLUEPRINT_LIBRARY_ITEMS = "/api/v1/blueprints/{blueprint_id}/list-library-items"
LIBRARY_ITEM_STATUS = "/api/v1/library/library-items/{library_item_id}/status"

REQUIRED_DEVICE_KEYS: tuple[str, ...] = (
    "device_id",
    "device_name",
    "platform",
    "last_check_in",
    "mdm_enabled",
    "agent_installed",
)
"""Keys every documented device record carries and the rules read; a record without
one of them cannot be evaluated, so the list it came in is refused."""

# Endpoints that exist whenever the monitor asks for them: a 404 there is a glitch.
_ALWAYS_THERE = frozenset({DEVICES, LIBRARY_ITEM_STATUS})

# Top-level keys of /details whose value is an object or a list of objects: ``null``
# there is not a documented shape.
_DETAILS_CONTAINERS = frozenset(
    {
        "general",
        "mdm",
        "activation_lock",
        "filevault",
        "lost_mode",
        "automated_device_enrollment",
        "kandji_agent",
        "hardware_overview",
        "volumes",
        "network",
        "recovery_information",
        "users",
        "installed_profiles",
        "apple_business_manager",
        "security_information",
        "cellular",
        "hardware",
        "management",
        "security",
    }
)

class KandjiApi(ApiClient):
    """The Kandji seam: every body a caller receives has the shape the rules rely on.

    Whoever asks (a :class:`KandjiClient` method, or a sweeper paging ``client.api``
    itself), a ``GET`` whose body lacks what the monitor reads raises
    :class:`~monitor.errors.MalformedResponseError` (see the module docstring), and
    undocumented status values are logged once each.

    Such an answer is asked again first, under the source's one retry policy
    (:class:`~monitor.sources.http.RetryPolicy`, at most ``retry.max_attempts`` sends in
    all): a garbled page, a proxy's HTML page or a body missing a key is usually a
    passing glitch, and one unusable page must not leave whole items (or, for the
    device list, the whole tenant) unseen for a sweep. A 404 is asked again too on the
    device list and on a library item's fleet-wide status, which exist whenever they
    are asked for: one HTML "Not Found" from a routing glitch must not read as "no
    device carries it".
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._unknown: set[str] = set()

    def validator(self, endpoint: str) -> Validator | None:
        """Every GET is checked (:meth:`check`); an unusable answer is asked again."""
        return self.check

    def absent_is_glitch(self, endpoint: str) -> bool:
        """The device list and an item's fleet-wide status exist whenever asked for."""
        return endpoint in _ALWAYS_THERE

    def check(self, endpoint: str, body: Any) -> None:
        """Raise MalformedResponseError when ``body`` lacks what the monitor reads."""
        if endpoint == DEVICES:
            self._rows({"devices": body}, "devices", endpoint, REQUIRED_DEVICE_KEYS)
        elif endpoint == DEVICE_STATUS:
            self._rows(body, "library_items", endpoint, ("item_id", "status"))
            self._rows(body, "parameters", endpoint, ("item_id", "status"))
            self._note_statuses(endpoint, body["library_items"], KNOWN_LIBRARY_ITEM_STATUSES)
            self._note_statuses(endpoint, body["parameters"], KNOWN_PARAMETER_STATUSES)
        elif endpoint == DEVICE_LIBRARY_ITEMS:
            self._rows(body, "library_items", endpoint, ("item_id", "status"))
            self._note_statuses(endpoint, body["library_items"], KNOWN_LIBRARY_ITEM_STATUSES)
        elif endpoint == DEVICE_PARAMETERS:
            self._rows(body, "parameters", endpoint, ("item_id", "status"))
            self._note_statuses(endpoint, body["parameters"], KNOWN_PARAMETER_STATUSES)
        elif endpoint == DEVICE_APPS:
            self._rows(body, "apps", endpoint, ())
        elif endpoint == DEVICE_DETAILS:
            self._no_null_sections(body, endpoint, _DETAILS_CONTAINERS)
        elif endpoint == DEVICE_LOST_MODE:
            self._no_null_sections(body, endpoint, frozenset({"lost_mode"}))
        elif endpoint == LIBRARY_ITEM_STATUS:
            page = body if isinstance(body, dict) else {"results": body}
            if _plain_status_page(page):
                return  # the usual page: one pass, nothing to say
            self._rows(page, "results", endpoint, ("status",))
            for i, row in enumerate(page["results"]):
                computer = row.get("computer")
                if not isinstance(computer, dict) or not computer.get("id"):
                    raise self.malformed(endpoint, f"results.{i}.computer.id: missing")
            self._note_statuses(endpoint, page["results"], KNOWN_LIBRARY_ITEM_STATUSES)

    def _rows(self, body: Any, key: str, endpoint: str, required: tuple[str, ...]) -> None:
        """Check that ``body[key]`` is a list of objects each holding ``required`` keys
        with a non-null value (identifiers must also be non-empty)."""
        if not isinstance(body, dict):
            raise self.malformed(endpoint, f"expected an object, got {type(body).__name__}")
        rows = body.get(key)
        if not isinstance(rows, list):
            what = "missing" if key not in body else f"{type(rows).__name__}, not a list"
            raise self.malformed(endpoint, f"{key}: {what}")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise self.malformed(endpoint, f"{key}.{i}: {type(row).__name__}, not an object")
            for name in required:
                value = row.get(name)
                if value is None or (name.endswith("id") and value == ""):
                    state = "missing" if name not in row else f"{value!r}"
                    raise self.malformed(endpoint, f"{key}.{i}.{name}: {state}")

    def _no_null_sections(self, body: Any, endpoint: str, sections: frozenset[str]) -> None:
        if isinstance(body, dict):
            for key in sorted(sections & body.keys()):
                if body[key] is None:
                    raise self.malformed(endpoint, f"{key}: null, not an object")

    def _note_statuses(self, endpoint: str, rows: list[Any], known: frozenset[str]) -> None:
        """Log each undocumented status value once (per client), with where it was seen."""
        for row in rows:
            status = row.get("status") if isinstance(row, dict) else None
            if not isinstance(status, str) or status in known or status in self._unknown:
                continue
            self._unknown.add(status)
            log.warning(
                "kandji.undocumented_status",
                source=self.source,
                endpoint=endpoint,
                status=status,
                item_id=str(row.get("item_id", "")),
                hint="kept as reported; rules can test status_known",
            )


def _plain_status_page(page: dict[str, Any]) -> bool:
    """Whether every row of an item's status page is an object with a documented status
    and a computer with an id: what :meth:`KandjiApi.check` accepts without a word. A
    page of a few hundred rows is checked in one pass; any other page takes the full
    check, which says what is wrong."""
    rows = page.get("results")
    if type(rows) is not list:
        return False
    known = KNOWN_LIBRARY_ITEM_STATUSES
    for row in rows:
        if type(row) is not dict:
            return False
        status, computer = row.get("status"), row.get("computer")
        if type(status) is not str or status not in known or type(computer) is not dict:
            return False
        if not computer.get("id"):
            return False
    return True


__all__ = [
    "BLUEPRINTS",
    "BLUEPRINT_LIBRARY_ITEMS",
    "DEVICE",
    "DEVICES",
    "DEVICE_ACTIVITY",
    "DEVICE_APPS",
    "DEVICE_DETAILS",
    "DEVICE_LIBRARY_ITEMS",
    "DEVICE_LOST_MODE",
    "DEVICE_PARAMETERS",
    "DEVICE_STATUS",
    "LIBRARY_ITEM_STATUS",
    "REQUIRED_DEVICE_KEYS",
    "KandjiApi",
]

