"""The fact catalogue (monitor/engine/fields.py) against what the Kandji mapping produces.

Every attrs key the sources put on a Device or Subject must be in the catalogue, with a
value of the catalogued type; otherwise rules could not name it (or would compare it
wrongly). A failure here means: add the key to monitor/engine/fields.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.engine import DEVICE_FIELDS, SUBJECT_FIELDS, FieldSpec, ValueType
from monitor.models import FactKind, SourceKind, SubjectKind
from monitor.sources.kandji.details import KDeviceDetails
from monitor.sources.kandji.mapping import (
    app_subject,
    library_item_subject,
    parameter_subject,
    to_device,
)
from monitor.sources.kandji.models import (
    KDevice,
    KDeviceApps,
    KDeviceLibraryItems,
    KDeviceParameters,
)
from tests.fixtures import KANDJI_EXAMPLES, kandji_example

INFO = KANDJI_EXAMPLES / "device-information"


def _load(path: Path) -> Any:
    return kandji_example(path.relative_to(KANDJI_EXAMPLES).as_posix())


_TYPES: dict[ValueType, tuple[type, ...]] = {
    ValueType.STR: (str,),
    ValueType.BOOL: (bool,),
    ValueType.NUMBER: (int, float),
    ValueType.VERSION: (str,),
    ValueType.TIMESTAMP: (datetime,),
    ValueType.LIST: (tuple,),
}


def _check(attrs: Mapping[str, Any], catalogue: Mapping[str, FieldSpec], what: str) -> None:
    for key, value in attrs.items():
        assert key in catalogue, f"{what} attrs key {key!r} is missing from the catalogue"
        spec = catalogue[key]
        assert spec.reported_by(SourceKind("kandji")), f"{key!r} is not reported by Kandji"
        if value is not None and value != "":
            assert isinstance(value, _TYPES[spec.type]), (key, value, spec.type)


def test_device_attrs_from_list_and_details_are_catalogued() -> None:
    devices = [
        KDevice.model_validate(d) for d in _load(INFO / "list-devices/01-list-devices.json")
    ] + [KDevice.model_validate(_load(p)) for p in sorted((INFO / "get-device").glob("*.json"))]
    details = [
        KDeviceDetails.model_validate(_load(p))
        for p in sorted((INFO / "get-device-details").iterdir())
    ]
    assert devices
    assert details
    for dev in devices:
        listed = to_device("acme", dev)
        _check(listed.attrs, DEVICE_FIELDS, "device list")
        # What the list alone gives must be marked as list facts (no details needed).
        for key in listed.attrs:
            assert DEVICE_FIELDS[key].facts[SourceKind("kandji")] is FactKind.DEVICE, key
        for det in details:
            _check(to_device("acme", dev, det).attrs, DEVICE_FIELDS, "device details")


def test_subject_attrs_are_catalogued() -> None:
    for path in sorted((INFO / "get-device-library-items").glob("*.json")):
        for row in KDeviceLibraryItems.model_validate(_load(path)).library_items:
            s = library_item_subject(row)
            _check(s.attrs, SUBJECT_FIELDS[SubjectKind.LIBRARY_ITEM], "library item")
    for path in sorted((INFO / "get-device-parameters").glob("*.json")):
        for prow in KDeviceParameters.model_validate(_load(path)).parameters:
            _check(
                parameter_subject(prow).attrs, SUBJECT_FIELDS[SubjectKind.PARAMETER], "parameter"
            )
    for path in sorted((INFO / "get-device-apps").glob("*.json")):
        for arow in KDeviceApps.model_validate(_load(path)).apps:
            _check(app_subject(arow).attrs, SUBJECT_FIELDS[SubjectKind.APP], "app")


def test_no_field_name_is_also_a_prefix_of_another() -> None:
    # Templates read device.filevault.enabled as nested attributes; a name that is both
    # a value and a prefix ("x" and "x.y") could not be read both ways.
    for catalogue in SUBJECT_FIELDS.values():
        names = set(catalogue)
        for name in names:
            assert not any(other.startswith(name + ".") for other in names), name
