"""Loading rule files: what is accepted, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.engine import RULES_DIR_ENV, builtin_rules_dir, load_rules, load_rules_text
from monitor.errors import ConfigError, RuleError
from monitor.models import Severity, SubjectKind

GOOD = """\
version: 1
rules:
  - id: t.ok
    description: ok
    source: kandji
    subject: library_item
    match:
      status: ERROR
"""

# (case id, file text, key path in the error, line in the error, words in the reason)
ERRORS: list[tuple[str, str, str, int, str]] = [
    (
        "typo in a field name",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      stauts: ERROR
""",
        "rules.0.match.stauts",
        6,
        "did you mean 'status'",
    ),
    (
        "typo in a device field",
        """\
rules:
  - id: t.a
    description: d
    subject: parameter
    match:
      status: ERROR
    unless:
      - device.blueprint: {matches: "Lab.*"}
""",
        "rules.0.unless.0.device.blueprint",
        8,
        "unknown device field 'blueprint'",
    ),
    (
        "typo in an operator",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      status: {inn: [ERROR]}
""",
        "rules.0.match.status.inn",
        6,
        "unknown operator 'inn'",
    ),
    (
        "bad regex",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      status: ERROR
      name:
        matches: "([unclosed"
""",
        "rules.0.match.name.matches",
        8,
        "invalid regex",
    ),
    (
        "bad duration",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    for: 30 minutes
""",
        "rules.0.for",
        6,
        "expected a duration",
    ),
    (
        "bad duration in an operand",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match:
      last_check_in: {older_than: soon}
""",
        "rules.0.match.last_check_in.older_than",
        6,
        "expected a duration",
    ),
    (
        "template typo in summary",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    summary: "{{ subject.nmae }} on {{ device.name }}"
""",
        "rules.0.summary",
        6,
        "nmae",
    ),
    (
        "template typo in description",
        """\
rules:
  - id: t.a
    description: "{{ device.filevault.enabeld }}"
    subject: device
    match: {platform: Mac}
""",
        "rules.0.description",
        3,
        "enabeld",
    ),
    (
        "template syntax error",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    summary: "{{ subject.name "
""",
        "rules.0.summary",
        6,
        "does not compile",
    ),
    (
        "duplicate id in one file",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
  - id: t.a
    description: d
    subject: library_item
    match: {status: failed}
""",
        "rules.1.id",
        6,
        "already defined in",
    ),
    (
        "unknown rule key",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    severty: critical
""",
        "rules.0.severty",
        6,
        "unknown key",
    ),
    (
        "unknown severity",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    severity: urgent
""",
        "rules.0.severity",
        6,
        "info",
    ),
    (
        "unknown subject",
        """\
rules:
  - id: t.a
    description: d
    subject: blueprint
    match: {status: ERROR}
""",
        "rules.0.subject",
        4,
        "library_item",
    ),
    (
        "missing match",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
""",
        "rules.0.match",
        2,
        "required",
    ),
    (
        "YAML boolean where a string is meant",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match:
      lost_mode_status: yes
""",
        "rules.0.match.lost_mode_status",
        6,
        "quote it",
    ),
    (
        "float version",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match:
      os_version: {lt: 14.10}
""",
        "rules.0.match.os_version.lt",
        6,
        "write versions as strings",
    ),
    (
        "ordering a string field",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      name: {lt: b}
""",
        "rules.0.match.name.lt",
        6,
        "does not apply to a string field",
    ),
    (
        "older_than on a version",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match:
      os_version: {older_than: 7d}
""",
        "rules.0.match.os_version.older_than",
        6,
        "only timestamp",
    ),
    (
        "in without a list",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      status: {in: ERROR}
""",
        "rules.0.match.status.in",
        6,
        "non-empty list",
    ),
    (
        "exists with a non-boolean",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      log: {exists: maybe}
""",
        "rules.0.match.log.exists",
        6,
        "true or false",
    ),
    (
        "null condition",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match:
      log: null
""",
        "rules.0.match.log",
        6,
        "exists: false",
    ),
    (
        "list shorthand on a list field",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match:
      tags: [vip]
""",
        "rules.0.match.tags",
        6,
        "contains",
    ),
    (
        "field the source does not report",
        """\
rules:
  - id: t.a
    description: d
    source: kandji
    subject: device
    match:
      compliance: false
""",
        "rules.0.match.compliance",
        7,
        "kandji sources do not report",
    ),
    (
        "subject the source does not report",
        """\
rules:
  - id: t.a
    description: d
    source: applivery
    subject: parameter
    match: {status: ERROR}
""",
        "rules.0.subject",
        5,
        "applivery sources report no parameter",
    ),
    (
        "standard label redefined",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    labels:
      severity: low
""",
        "rules.0.labels.severity",
        7,
        "standard label",
    ),
    (
        "non-string label value",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    labels:
      priority: 1
""",
        "rules.0.labels.priority",
        7,
        "string",
    ),
    (
        "unless is a list",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    unless:
      name: x
""",
        "rules.0.unless",
        7,
        "list",
    ),
    (
        "bad action trigger",
        """\
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
    actions:
      - type: kandji.tag
        on: [always]
""",
        "rules.0.actions.0.on.0",
        8,
        "first",
    ),
    (
        "bad default",
        """\
defaults:
  for: later
rules: []
""",
        "defaults.for",
        2,
        "expected a duration",
    ),
    (
        "override of an unknown rule",
        """\
overrides:
  - id: t.nope
    enabled: true
""",
        "overrides.0.id",
        2,
        "no loaded rule has the id 't.nope'",
    ),
    (
        "typo in an override's match",
        """\
rules:
  - id: t.a
    description: d
    subject: device
    match: {platform: Mac}
overrides:
  - id: t.a
    match:
      os_versoin: {lt: "14"}
""",
        "overrides.0.match.os_versoin",
        9,
        "did you mean 'os_version'",
    ),
    (
        "not YAML",
        "rules: [\n  - id: x\n",
        "",
        2,
        "not valid YAML",
    ),
    (
        "unknown top-level key",
        "rule:\n  - id: x\n",
        "rule",
        2,
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("text", "key_path", "line", "words"), [pytest.param(*c[1:], id=c[0]) for c in ERRORS]
)
def test_load_error_names_file_line_and_key(
    tmp_path: Path, text: str, key_path: str, line: int, words: str
) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as info:
        load_rules([path], builtin=False)
    err = info.value
    assert err.file == str(path)
    assert err.key_path == key_path
    assert err.line == line
    assert words in err.reason
    assert f"{path}:{line}" in str(err)


def test_rule_errors_are_config_errors() -> None:
    # The CLI catches ConfigError and exits 2: a broken rule file must be one.
    assert issubclass(RuleError, ConfigError)


def test_duplicate_id_across_files_names_both(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(GOOD)
    second.write_text("# comment\n" + GOOD.replace("version: 1\n", ""))
    with pytest.raises(RuleError) as info:
        load_rules([first, second], builtin=False)
    err = info.value
    assert err.file == str(second)
    assert err.line == 3
    assert f"{first}:3" in err.reason
    assert "overrides" in err.reason


def test_user_rule_with_a_shipped_id_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(GOOD.replace("t.ok", "kandji.library-item.error"))
    with pytest.raises(RuleError, match=r"kandji-library-items\.yaml"):
        load_rules([mine])


def test_folder_loads_every_yaml_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(GOOD.replace("t.ok", "t.b"))
    (tmp_path / "a.yml").write_text(GOOD.replace("t.ok", "t.a"))
    (tmp_path / "notes.txt").write_text("not rules")
    (tmp_path / "empty.yaml").write_text("")
    rs = load_rules([tmp_path], builtin=False)
    assert [r.id for r in rs.rules] == ["t.a", "t.b"]
    assert rs.files == (
        str(tmp_path / "a.yml"),
        str(tmp_path / "b.yaml"),
        str(tmp_path / "empty.yaml"),
    )


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="file not found"):
        load_rules([tmp_path / "nope.yaml"], builtin=False)


def test_builtin_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "only.yaml").write_text(GOOD)
    monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
    assert builtin_rules_dir() == tmp_path
    assert [r.id for r in load_rules([])] == ["t.ok"]


def test_builtin_dir_defaults_to_the_repository_rules_folder() -> None:
    folder = builtin_rules_dir({})
    assert folder.name == "rules"
    assert (folder.parent / "monitor" / "__init__.py").is_file()


def test_missing_builtin_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=RULES_DIR_ENV):
        load_rules([], env={RULES_DIR_ENV: str(tmp_path / "gone")})


def test_rule_files_never_expand_environment_variables(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("status: ERROR", 'name: "${ITEM:-fallback}"'))
    with pytest.raises(RuleError) as info:
        load_rules([path], builtin=False, env={"ITEM": "Chrome"})
    assert "not expanded" in info.value.reason
    assert info.value.line is not None


def test_a_literal_dollar_brace_in_a_rule_file_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD.replace("status: ERROR", 'name: "$${ITEM}"'))
    rs = load_rules([path], builtin=False, env={"ITEM": "Chrome"})
    assert rs.rule("t.ok").match[0].operand == "${ITEM}"


def test_defaults_apply_and_rules_win() -> None:
    rs = load_rules_text(
        """\
defaults:
  source: kandji
  severity: critical
  for: 10m
  labels: {team: endpoint, tier: "1"}
rules:
  - id: t.a
    description: d
    subject: library_item
    match: {status: ERROR}
  - id: t.b
    description: d
    subject: library_item
    match: {status: ERROR}
    severity: info
    labels: {tier: "2"}
"""
    )
    a, b = rs.rule("t.a"), rs.rule("t.b")
    assert (a.source, a.severity, a.for_seconds) == ("kandji", Severity.CRITICAL, 600.0)
    assert dict(a.labels) == {"team": "endpoint", "tier": "1"}
    assert b.severity is Severity.INFO
    assert dict(b.labels) == {"team": "endpoint", "tier": "2"}


def test_rule_fields_are_carried() -> None:
    rs = load_rules_text(
        """\
rules:
  - id: t.a
    description: d
    source: kandji
    subject: parameter
    match: {status: ERROR}
    for: 1h30m
    keep_firing_for: 15m
    labels: {team: sec}
    enabled: false
    actions:
      - type: kandji.tag
        params: {tag: noncompliant}
        on: [first, repeat]
      - type: notify.page
"""
    )
    r = rs.rule("t.a")
    assert r.subject is SubjectKind.PARAMETER
    assert (r.for_seconds, r.keep_firing_for_seconds) == (5400.0, 900.0)
    assert r.enabled is False
    assert rs.enabled == ()
    assert [(a.type, dict(a.params), a.on) for a in r.actions] == [
        ("kandji.tag", {"tag": "noncompliant"}, frozenset({"first", "repeat"})),
        ("notify.page", {}, frozenset({"first"})),
    ]
    assert (r.file, r.line) == ("<rules>", 2)


def test_disabled_takes_ids_and_patterns(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        GOOD
        + GOOD.split("rules:\n", 1)[1].replace("t.ok", "t.other")
        + GOOD.split("rules:\n", 1)[1].replace("t.ok", "x.one")
    )
    rs = load_rules([path], builtin=False, disabled=["t.*"])
    assert [r.id for r in rs.enabled] == ["x.one"]
    rs = load_rules([path], builtin=False, disabled=["x.one"])
    assert [r.id for r in rs.enabled] == ["t.ok", "t.other"]


def test_disabled_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(GOOD)
    with pytest.raises(RuleError) as info:
        load_rules([path], builtin=False, disabled=["t.ok", "t.typo"])
    assert info.value.key_path == "rules.disabled.1"


def test_override_changes_a_shipped_rule(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        """\
overrides:
  - id: kandji.device.macos-below-minimum
    enabled: true
    severity: critical
    labels: {team: sec}
    match:
      os_version: {lt: "15.2"}
    unless:
      - device.blueprint_name: {matches: "Lab.*"}
"""
    )
    shipped = load_rules([]).rule("kandji.device.macos-below-minimum")
    rule = load_rules([mine]).rule("kandji.device.macos-below-minimum")
    assert shipped.enabled is False
    assert rule.enabled is True
    assert rule.severity is Severity.CRITICAL
    assert dict(rule.labels)["team"] == "sec"
    assert [c.text for c in rule.match] == ["platform eq 'Mac'", "os_version lt '15.2'"]
    assert len(rule.unless) == len(shipped.unless) + 1
    assert rule.overridden_by == (str(mine),)
    assert rule.file == shipped.file


def test_disabled_wins_over_an_override(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("overrides:\n  - id: kandji.device.filevault-off\n    enabled: true\n")
    rs = load_rules([mine], disabled=["kandji.device.filevault-off"])
    assert rs.rule("kandji.device.filevault-off").enabled is False


def test_good_file_loads() -> None:
    rs = load_rules_text(GOOD)
    assert len(rs) == 1
    assert "t.ok" in rs
    assert rs.get("t.nope") is None


def test_description_is_optional() -> None:
    rs = load_rules_text(
        "rules:\n  - id: t.bare\n    subject: device\n    match: {platform: Mac}\n"
    )
    assert rs.rule("t.bare").description == ""
