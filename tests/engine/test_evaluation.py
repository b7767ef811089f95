"""Evaluation: findings, labels, fingerprints, templates, unless, the status index."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

import pytest

from monitor.engine import (
    RuleSet,
    Verdict,
    evaluate,
    evaluate_device,
    evaluate_subject,
    explain,
    load_rules_text,
    rule_matches,
)
from monitor.errors import RuleError
from monitor.models import (
    Device,
    Finding,
    Severity,
    SourceKind,
    Subject,
    SubjectKind,
    fingerprint,
)
from tests.engine.factories import NOW, device, facts, ids, one_rule, rule, rules_yaml, subject

LI, PARAM = SubjectKind.LIBRARY_ITEM, SubjectKind.PARAMETER


def test_finding_carries_device_subject_rule_and_labels() -> None:
    rs = one_rule(
        rule_id="t.err",
        labels={"team": "endpoint"},
        severity="critical",
        for_="30m",
        keep_firing_for="5m",
        summary="{{ subject.name }} is {{ subject.status }} on {{ device.name }}",
        description="{{ rule.id }}/{{ rule.labels.team }}: log {{ subject.log }}",
    )
    dev = device("d1", name="Ana's Mac", serial="C02X", blueprint_name="Staff", platform="Mac")
    item = subject(LI, "i1", "ERROR", name="Chrome", log="exit 1")
    [f] = evaluate_device(rs, dev, facts(item), NOW)
    assert (f.rule_id, f.source, f.source_kind) == ("t.err", "acme", SourceKind("kandji"))
    assert (f.device_id, f.device_name, f.device_serial) == ("d1", "Ana's Mac", "C02X")
    assert (f.subject_kind, f.subject_id, f.subject_name, f.subject_status) == (
        LI,
        "i1",
        "Chrome",
        "ERROR",
    )
    assert f.severity is Severity.CRITICAL
    assert f.summary == "Chrome is ERROR on Ana's Mac"
    assert f.description == "t.err/endpoint: log exit 1"
    assert (f.for_seconds, f.keep_firing_for_seconds) == (1800.0, 300.0)
    assert dict(f.labels) == {
        "team": "endpoint",
        "rule_id": "t.err",
        "severity": "critical",
        "source": "acme",
        "source_kind": "kandji",
        "subject_kind": "library_item",
        "platform": "Mac",
        "blueprint": "Staff",
    }


def test_fingerprint_is_source_rule_device_subject_and_stable() -> None:
    rs = one_rule(rule_id="t.err", summary="{{ subject.status }} at {{ now }}")
    dev = device("d1")
    first = evaluate_device(rs, dev, facts(subject(LI, "i1", "ERROR")), NOW)
    later = evaluate_device(
        rs,
        device("d1", name="renamed", os_version="15.0"),
        facts(subject(LI, "i1", "ERROR", name="renamed item", log="other")),
        NOW + timedelta(hours=5),
    )
    assert first[0].fingerprint == later[0].fingerprint
    assert first[0].fingerprint == fingerprint("acme", "t.err", "d1", "library_item", "i1")
    assert first[0].summary != later[0].summary
    other_device = evaluate_device(rs, device("d2"), facts(subject(LI, "i1", "ERROR")), NOW)
    other_source = evaluate_device(
        rs, device("d1", source="beta"), facts(subject(LI, "i1", "ERROR")), NOW
    )
    fps = {first[0].fingerprint, other_device[0].fingerprint, other_source[0].fingerprint}
    assert len(fps) == 3


def test_device_rule_finding_has_the_device_as_subject() -> None:
    rs = one_rule(rule_id="t.mdm", subject="device", match={"mdm.enabled": False})
    [f] = evaluate_device(rs, device("d1", name="Mac 9", mdm__enabled=False), {}, NOW)
    assert (f.subject_kind, f.subject_id, f.subject_name, f.subject_status) == (
        SubjectKind.DEVICE,
        "d1",
        "Mac 9",
        "",
    )
    assert f.summary == "Mac 9: a test rule"
    assert f.fingerprint == fingerprint("acme", "t.mdm", "d1", "device", "d1")


def test_every_matching_subject_gives_one_finding() -> None:
    rs = one_rule(match={"status": {"in": ["ERROR", "failed"]}})
    items = [
        subject(LI, "a", "ERROR"),
        subject(LI, "b", "PASS"),
        subject(LI, "c", "failed"),
        subject(LI, "d", "PENDING"),
    ]
    assert ids(evaluate_device(rs, device(), facts(*items), NOW)) == [
        ("test.rule", "a"),
        ("test.rule", "c"),
    ]


def test_rules_without_a_status_condition_see_every_subject() -> None:
    # The status index must not hide subjects from rules that do not filter on status.
    rs = load_rules_text(
        rules_yaml(
            rule("t.status", match={"status": "ERROR"}),
            rule("t.type", match={"type": "profile"}),
            rule("t.both", match={"status": "ERROR", "name": {"matches": "Z.*"}}),
        )
    )
    items = [
        subject(LI, "p", "PASS", type="profile"),
        subject(LI, "e", "ERROR", type="profile", name="Zoom"),
        subject(LI, "x", "WEIRD", type="custom-app"),
    ]
    assert ids(evaluate_device(rs, device(), facts(*items), NOW)) == [
        ("t.both", "e"),
        ("t.status", "e"),
        ("t.type", "e"),
        ("t.type", "p"),
    ]


def test_unless_any_entry_excludes_and_entries_are_and() -> None:
    rs = one_rule(
        unless=[
            {"device.blueprint_name": {"matches": "Lab.*"}},
            {"name": "Known flaky", "device.platform": "Mac"},
        ]
    )
    item = subject(LI, "i", "ERROR", name="Known flaky")
    other = subject(LI, "j", "ERROR", name="Chrome")
    assert evaluate_device(rs, device(blueprint_name="Lab Macs"), facts(item, other), NOW) == []
    found = evaluate_device(rs, device(blueprint_name="Staff"), facts(item, other), NOW)
    assert ids(found) == [("test.rule", "j")]
    on_ipad = evaluate_device(
        rs, device(blueprint_name="Staff", platform="iPad"), facts(item, other), NOW
    )
    assert ids(on_ipad) == [("test.rule", "i"), ("test.rule", "j")]


def test_unless_never_excludes_on_a_missing_fact() -> None:
    rs = one_rule(unless=[{"device.blueprint_name": {"not_matches": "Staff.*"}}])
    # blueprint unknown: the exclusion cannot be shown to apply, so the rule fires.
    assert evaluate_device(rs, device(blueprint_name=""), facts(subject(LI, "i", "ERROR")), NOW)


def test_device_only_conditions_apply_to_every_subject_of_the_device() -> None:
    rs = one_rule(match={"status": "ERROR", "device.platform": "Mac"})
    items = facts(subject(LI, "a", "ERROR"), subject(LI, "b", "ERROR"))
    assert len(evaluate_device(rs, device(platform="Mac"), items, NOW)) == 2
    assert evaluate_device(rs, device(platform="iPhone"), items, NOW) == []


def test_source_kind_decides_which_rules_apply() -> None:
    rs = load_rules_text(
        rules_yaml(
            rule("t.kandji", subject="device", match={"platform": "Windows"}, source="kandji"),
            rule(
                "t.applivery", subject="device", match={"platform": "Windows"}, source="applivery"
            ),
            rule("t.any", subject="device", match={"platform": "Windows"}),
        )
    )
    kandji = device(platform="Windows")
    applivery = device(platform="Windows", source_kind=SourceKind("applivery"))
    assert ids(evaluate_device(rs, kandji, {}, NOW)) == [("t.any", "dev-1"), ("t.kandji", "dev-1")]
    assert ids(evaluate_device(rs, applivery, {}, NOW)) == [
        ("t.any", "dev-1"),
        ("t.applivery", "dev-1"),
    ]


def test_kinds_not_fetched_give_no_findings() -> None:
    rs = one_rule()
    assert evaluate_device(rs, device(), {}, NOW) == []
    assert evaluate_device(rs, device(), {PARAM: [subject(PARAM, "p", "ERROR")]}, NOW) == []


def test_disabled_rules_never_match() -> None:
    rs = one_rule(enabled=False)
    item = subject(LI, "i", "ERROR")
    assert evaluate_device(rs, device(), facts(item), NOW) == []
    assert evaluate_subject(rs.rule("test.rule"), device(), item, NOW) is None
    assert rule_matches(rs.rule("test.rule"), device(), item, NOW) is True


def test_evaluate_subject_checks_kind_and_source() -> None:
    rs = one_rule(source="kandji")
    r = rs.rule("test.rule")
    item = subject(LI, "i", "ERROR")
    assert evaluate_subject(r, device(), item, NOW) is not None
    assert evaluate_subject(r, device(), subject(PARAM, "i", "ERROR"), NOW) is None
    assert evaluate_subject(r, device(), None, NOW) is None
    windows = device(source_kind=SourceKind("applivery"))
    assert evaluate_subject(r, windows, item, NOW) is None


def test_now_must_be_aware() -> None:
    rs = one_rule()
    with pytest.raises(ValueError, match="aware"):
        evaluate(rs, [], datetime(2026, 1, 1))


def test_template_reads_dotted_facts_both_ways_and_ago() -> None:
    rs = one_rule(
        subject="device",
        match={"filevault.enabled": False},
        summary=(
            "{{ device.filevault.enabled }}/{{ device['filevault.enabled'] }}/"
            "{{ subject.last_check_in | ago }}/{{ device.users.admins | join(',') }}"
        ),
    )
    dev = device(
        last_check_in=NOW - timedelta(days=8, hours=3),
        filevault__enabled=False,
        users__admins=("ana", "bo"),
    )
    [f] = evaluate_device(rs, dev, {}, NOW)
    assert f.summary == "False/False/8d 3h ago/ana,bo"


def test_unknown_facts_render_empty_at_run_time() -> None:
    rs = one_rule(summary="[{{ subject.log }}][{{ device.agent.version }}]")
    [f] = evaluate_device(rs, device(), facts(subject(LI, "i", "ERROR")), NOW)
    assert f.summary == "[][]"


def test_a_template_failing_at_run_time_falls_back_instead_of_losing_the_finding() -> None:
    # Renders against the sample (log "sample", length 6) but divides by zero on "x".
    rs = one_rule(summary="{{ 10 // ((subject.log | length) - 1) }}")
    [f] = evaluate_device(rs, device(), facts(subject(LI, "i", "ERROR", log="x")), NOW)
    assert f.summary == "test.rule: Item i on Mac dev-1"


def test_templates_are_sandboxed() -> None:
    with pytest.raises(RuleError, match="has no attribute '__class__'"):
        one_rule(summary="{{ device.__class__ }}")
    with pytest.raises(RuleError, match="unsafe"):
        one_rule(summary="{{ now.__class__.__mro__ }}")
    with pytest.raises(RuleError, match="unsafe"):
        one_rule(summary="{{ rule.labels.__class__.__init__.__globals__ }}")


def test_evaluate_is_evaluate_device_over_the_fleet() -> None:
    rs = one_rule()
    fleet = [
        (device(f"d{i}"), facts(subject(LI, "a", "ERROR" if i % 2 else "PASS"))) for i in range(10)
    ]
    batch = evaluate(rs, fleet, NOW)
    one_by_one = [f for d, s in fleet for f in evaluate_device(rs, d, s, NOW)]
    assert batch == one_by_one
    assert [f.device_id for f in batch] == ["d1", "d3", "d5", "d7", "d9"]


def test_actions_are_carried_by_the_rule() -> None:
    rs = one_rule(actions=[{"type": "kandji.tag", "params": {"tag": "x"}}])
    assert [a.type for a in rs.rule("test.rule").actions] == ["kandji.tag"]


# --------------------------------------------------------------------------- explain


def test_explain_gives_a_verdict_and_reason_per_rule() -> None:
    rs = load_rules_text(
        rules_yaml(
            rule("t.match", match={"status": "ERROR"}),
            rule("t.miss", match={"status": "INCOMPATIBLE"}),
            rule("t.excluded", match={"status": "ERROR"}, unless=[{"name": "Chrome"}]),
            rule("t.off", enabled=False),
            rule("t.params", subject="parameter"),
            rule("t.windows", subject="device", source="applivery", match={"compliance": False}),
        )
    )
    dev = device()
    got = {
        e.rule_id: e
        for e in explain(
            rs, dev, facts(subject(LI, "i", "ERROR", name="Chrome"), subject(LI, "j", "PASS")), NOW
        )
    }
    assert list(got) == ["t.match", "t.miss", "t.excluded", "t.off", "t.params", "t.windows"]
    assert got["t.match"].verdict is Verdict.MATCH
    assert got["t.match"].reason == "1 of 2 match"
    assert [f.subject_id for f in got["t.match"].findings] == ["i"]
    assert got["t.miss"].verdict is Verdict.NO_MATCH
    assert got["t.miss"].reason == "status is 'ERROR': eq 'INCOMPATIBLE' fails"
    assert got["t.excluded"].verdict is Verdict.EXCLUDED
    excluded = got["t.excluded"].subjects[0]
    assert excluded.reasons[-1] == "excluded by unless[0]: name is 'Chrome': eq 'Chrome' holds"
    assert got["t.off"].verdict is Verdict.DISABLED
    assert got["t.params"].verdict is Verdict.NO_FACTS
    assert got["t.windows"].verdict is Verdict.NOT_APPLICABLE


def test_explain_names_an_unknown_fact() -> None:
    rs = one_rule(subject="device", match={"filevault.enabled": False})
    [e] = explain(rs, device(), {}, NOW)
    assert e.verdict is Verdict.NO_MATCH
    assert e.reason == "filevault.enabled is unknown: eq false fails"


# --------------------------------------------------------------------------- at scale


def _reference(
    rs: RuleSet, fleet: list[tuple[Device, dict[SubjectKind, list[Subject]]]]
) -> list[Finding]:
    """The obvious evaluation: every enabled rule on every subject, no index, no cache."""
    out: list[Finding] = []
    for dev, subjects in fleet:
        for r in rs.enabled:
            if not r.applies_to(dev.source_kind):
                continue
            pool = [None] if r.subject is SubjectKind.DEVICE else subjects.get(r.subject, [])
            for s in pool:
                f = evaluate_subject(r, dev, s, NOW)
                if f is not None:
                    out.append(f)
    return out


def test_fleet_evaluation_matches_the_obvious_evaluation() -> None:
    # The 100,000 x 60 shape at 1,500 x 60, for correctness (bench/engine.py times it).
    rng = random.Random(7)
    rs = load_rules_text(
        rules_yaml(
            rule("t.err", match={"status": "ERROR"}, unless=[{"device.blueprint_name": "Lab"}]),
            rule("t.incompat", match={"status": "INCOMPATIBLE"}),
            rule("t.profile", match={"status": "failed", "type": "profile"}),
            rule(
                "t.stuck",
                match={
                    "status": {"in": ["PENDING", "pending"]},
                    "last_audit_run": {"older_than": "3d"},
                },
            ),
            rule(
                "t.type",
                match={
                    "type": "custom-script",
                    "device.platform": "Mac",
                    "log": {"contains": "timeout"},
                },
            ),
            rule(
                "t.param",
                subject="parameter",
                match={"status": "ERROR", "category": {"matches": "Sec.*"}},
            ),
            rule("t.silent", subject="device", match={"last_check_in": {"older_than": "7d"}}),
            rule("t.os", subject="device", match={"platform": "Mac", "os_version": {"lt": "14.4"}}),
        )
    )
    statuses = ["PASS"] * 40 + ["ERROR", "INCOMPATIBLE", "PENDING", "pending", "failed", "success"]
    fleet: list[tuple[Device, dict[SubjectKind, list[Subject]]]] = []
    for n in range(1500):
        dev = device(
            f"d{n}",
            platform=rng.choice(["Mac", "Mac", "iPhone"]),
            blueprint_name=rng.choice(["Staff", "Lab"]),
            os_version=rng.choice(["13.6", "14.2.1", "14.4", "14.10", ""]),
            last_check_in=NOW - timedelta(hours=rng.randrange(0, 400)),
        )
        items = [
            subject(
                LI,
                f"i{k}",
                rng.choice(statuses),
                type=rng.choice(["profile", "custom-script", "custom-app"]),
                log=rng.choice([None, "ok", "curl timeout"]),
                last_audit_run=NOW - timedelta(days=rng.randrange(0, 6)),
            )
            for k in range(50)
        ]
        params = [
            subject(
                PARAM, f"p{k}", rng.choice(statuses), category=rng.choice(["Security", "Users"])
            )
            for k in range(10)
        ]
        fleet.append((dev, {LI: items, PARAM: params}))
    fast = evaluate(rs, fleet, NOW)
    slow = _reference(rs, fleet)
    key = lambda f: (f.fingerprint, f.summary, tuple(sorted(f.labels.items())))  # noqa: E731
    assert sorted(map(key, fast)) == sorted(map(key, slow))
    by_rule = {rid: len(list(g)) for rid, g in itertools.groupby(sorted(f.rule_id for f in fast))}
    # Every rule found something: the fleet exercises every path.
    assert set(by_rule) == {r.id for r in rs.enabled}


def test_device_rule_without_description_names_the_rule_in_its_summary() -> None:
    rs = load_rules_text(
        "rules:\n  - id: t.bare\n    subject: device\n    match: {platform: Mac}\n"
    )
    [f] = evaluate_device(rs, device(name="Mac 1"), {}, NOW)
    assert f.summary == "Mac 1: t.bare"
    assert f.description == ""
