"""Every field a source lists for the rule engine is one its mapping fills.

For each source and each subject kind it reports, a rule on each listed field
(``exists: true``) must match some device or subject the source's own mapping made from
what the API sends: the documented Kandji example bodies (a few keys they leave empty
given a value), and a sweep of the simulated Applivery organization on loopback. A
field listed but never filled would load and silently match nothing, which the rule
engine promises never to allow (a Lost Mode subject once carried only its status).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.clock import SystemClock
from monitor.engine import SUBJECT_FIELDS, evaluate_device, load_rules_text
from monitor.engine.fields import RULE_SUBJECT_KINDS
from monitor.models import Device, FactKind, SourceKind, Subject, SubjectKind
from monitor.simulator.applivery import start_applivery
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.config import AppliverySourceConfig
from monitor.sources.applivery.sweeper import AppliverySweeper
from monitor.sources.kandji.details import KDeviceDetails, KLostModeDetails
from monitor.sources.kandji.mapping import (
    app_subject,
    library_item_status_row_subject,
    library_item_subject,
    lost_mode_subject,
    parameter_subject,
    to_device,
)
from monitor.sources.kandji.models import (
    KDevice,
    KDeviceApps,
    KDeviceLibraryItems,
    KDeviceParameters,
    KDeviceStatus,
    KLibraryItemStatusRow,
)
from tests.fixtures import KANDJI_EXAMPLES, kandji_example

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
INFO = KANDJI_EXAMPLES / "device-information"
Sample = tuple[Device, Mapping[SubjectKind, Sequence[Subject]]]

# Keys the documented examples leave empty, with a value the API may send there.
KANDJI_DEVICE_VALUES = {"api_level": "34", "supplemental_os_version_extra": "(a)"}
KANDJI_DETAILS_VALUES = {
    ("filevault", "filevault_recoverykey_type"): "Personal",
    ("filevault", "filevault_next_rotation"): "2026-12-24T00:00:00Z",
    ("security", "developer_mode_enabled"): True,
}
KANDJI_LOST_MODE_VALUES = {"disable_status": "PENDING"}
KANDJI_ITEM_VALUES = {"control_log": "remediated", "control_reported_at": "2026-12-01T10:00:00Z"}


def _load(path: Path) -> Any:
    return kandji_example(path.relative_to(KANDJI_EXAMPLES).as_posix())


def _files(folder: str) -> list[Path]:
    return sorted(p for p in (INFO / folder).iterdir() if p.suffix in (".json", ".txt"))


def kandji_samples() -> Iterator[Sample]:
    """Devices and subjects the Kandji mapping makes of the documented bodies."""
    listed = _load(INFO / "list-devices/01-list-devices.json")
    devices = [KDevice.model_validate(d) for d in listed]
    devices += [KDevice.model_validate(_load(p)) for p in _files("get-device")]
    filled = {**_load(INFO / "get-device/04-get-android-device.json"), **KANDJI_DEVICE_VALUES}
    devices.append(KDevice.model_validate(filled))
    details = [_load(p) for p in _files("get-device-details")]
    for body in list(details):
        body = copy.deepcopy(body)
        for (section, key), value in KANDJI_DETAILS_VALUES.items():
            if isinstance(body.get(section), dict):
                body[section][key] = value
        details.append(body)
    subjects: dict[SubjectKind, list[Subject]] = {k: [] for k in RULE_SUBJECT_KINDS}
    for path in _files("get-device-library-items"):
        body = _load(path)
        body["library_items"].append({**body["library_items"][0], **KANDJI_ITEM_VALUES})
        items = KDeviceLibraryItems.model_validate(body).library_items
        subjects[SubjectKind.LIBRARY_ITEM] += [library_item_subject(r) for r in items]
    status = KDeviceStatus.model_validate(_load(_files("get-device-status")[0]))
    subjects[SubjectKind.LIBRARY_ITEM] += [library_item_subject(r) for r in status.library_items]
    subjects[SubjectKind.PARAMETER] += [parameter_subject(r) for r in status.parameters]
    for path in _files("get-device-parameters"):
        rows = KDeviceParameters.model_validate(_load(path)).parameters
        subjects[SubjectKind.PARAMETER] += [parameter_subject(r) for r in rows]
    for path in _files("get-device-apps"):
        apps = KDeviceApps.model_validate(_load(path)).apps
        subjects[SubjectKind.APP] += [app_subject(a) for a in apps]
    lost = _load(INFO / "get-device-lost-mode-details/01-get-device-lost-mode-details.json")
    for body in (lost, {**lost, "lost_mode": {**lost["lost_mode"], **KANDJI_LOST_MODE_VALUES}}):
        subjects[SubjectKind.LOST_MODE].append(
            lost_mode_subject(KLostModeDetails.model_validate(body).lost_mode)
        )
    for path in sorted((KANDJI_EXAMPLES / "library-items/get-library-item-statuses").iterdir()):
        body = _load(path)
        rows = body.get("results", []) if isinstance(body, dict) else []
        subjects[SubjectKind.LIBRARY_ITEM] += [
            library_item_status_row_subject(KLibraryItemStatusRow.model_validate(r), item_id="i")
            for r in rows
            if isinstance(r, dict)
        ]
    for device in devices:
        for body in [None, *details]:
            det = None if body is None else KDeviceDetails.model_validate(body)
            yield to_device("acme", device, det), subjects


async def applivery_samples() -> list[Sample]:
    """Devices the Applivery sweep makes of a simulated organization on loopback."""
    token = "fields-token-1"
    runner, url, _ = await start_applivery(
        "127.0.0.1", 0, devices=60, seed=3, token=token, organization="acme"
    )
    try:
        config = AppliverySourceConfig(
            name="win", kind="applivery", url=url, organization="acme", token=token
        )
        sweeper = AppliverySweeper(AppliveryClient(config, clock=SystemClock()), "win")
        try:
            outcome = await sweeper.sweep(frozenset({FactKind.DEVICE}))
        finally:
            await sweeper.close()
    finally:
        await runner.cleanup()
    assert outcome.ok
    return [(d, {}) for d in outcome.devices.values()]


def _rule(kind: str, subject: SubjectKind, field: str) -> str:
    return yaml.safe_dump(
        {
            "rules": [
                {
                    "id": "t.field",
                    "source": kind,
                    "subject": subject.value,
                    "match": {field: {"exists": True}},
                }
            ]
        }
    )


def _unmatched(kind: str, samples: Sequence[Sample]) -> list[str]:
    source_kind = SourceKind(kind)
    missing = []
    for subject in RULE_SUBJECT_KINDS:
        for name, spec in SUBJECT_FIELDS[subject].items():
            if not spec.reported_by(source_kind):
                continue
            rules = load_rules_text(_rule(kind, subject, name))
            if not any(evaluate_device(rules, d, s, NOW) for d, s in samples):
                missing.append(f"{subject.value}.{name}")
    return missing


def test_every_kandji_field_matches_what_its_mapping_fills() -> None:
    assert _unmatched("kandji", list(kandji_samples())) == []


async def test_every_applivery_field_matches_what_its_sweep_fills() -> None:
    assert _unmatched("applivery", await applivery_samples()) == []


def test_a_field_no_sample_fills_is_reported() -> None:
    bare = Device(source="s", source_kind=SourceKind("kandji"), device_id="d", name="n")
    assert "lost_mode.disable_status" in _unmatched("kandji", [(bare, {})])


@pytest.mark.parametrize("field", ["disable_status", "enabled_by", "lock_screen_message"])
def test_a_lost_mode_rule_matches_the_lost_mode_subject(field: str) -> None:
    body = _load(INFO / "get-device-lost-mode-details/01-get-device-lost-mode-details.json")
    body["lost_mode"].update(KANDJI_LOST_MODE_VALUES)
    subject = lost_mode_subject(KLostModeDetails.model_validate(body).lost_mode)
    iphone = Device(source="s", source_kind=SourceKind("kandji"), device_id="d", name="n",
                    platform="iPhone")
    rules = load_rules_text(_rule("kandji", SubjectKind.LOST_MODE, field))
    assert evaluate_device(rules, iphone, {SubjectKind.LOST_MODE: [subject]}, NOW)
