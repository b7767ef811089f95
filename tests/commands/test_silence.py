"""``compliance-monitor silence add|list|expire`` against a real database file."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor.cli import build_parser, main
from monitor.clock import FakeClock
from monitor.commands import silence
from monitor.commands.silence import InputError, matcher_text, parse_matcher, parse_matchers
from monitor.config import load_config
from monitor.store import Matcher, open_store

T0 = datetime(2026, 1, 9, 20, 0, tzinfo=UTC)  # a Friday

CONFIG = """\
sources:
  - {{name: acme, kind: kandji, url: "http://127.0.0.1:9", token: t}}
receivers:
  - {{name: ops, console: true}}
route: {{receiver: ops}}
store: {{path: "{state}/monitor.db"}}
web: {{enabled: false}}
log: {{level: warning}}
{extra}"""

NIGHTLY = """\
silences:
  - matchers: [{name: source, value: acme}]
    comment: nightly maintenance
    author: it-team
    every: {days: [mon, tue, wed, thu, fri], start: "22:00", end: "06:00",
            timezone: Europe/Paris}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(state=tmp_path / "state", extra=""))
    return path


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``cli.main`` configures logging for the whole process; put it back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def add_nightly_window(config_file: Path) -> None:
    config_file.write_text(CONFIG.format(state=config_file.parent / "state", extra=NIGHTLY))


def db_path(config_file: Path) -> Path:
    return config_file.parent / "state" / "monitor.db"


async def stored(config_file: Path) -> list[Any]:
    async with open_store(db_path(config_file)) as store:
        return await store.silences(include_expired=True)


async def cmd(config_file: Path, clock: FakeClock, *argv: str) -> tuple[int, str, str]:
    """Run ``silence ARGV`` in this event loop at the fake clock's time."""
    args = build_parser().parse_args(["silence", argv[0], "-c", str(config_file), *argv[1:]])
    out, err = io.StringIO(), io.StringIO()
    code = await silence.run(args, load_config(config_file), clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ matchers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source=acme", Matcher("source", "=", "acme")),
        ("device_name!=Mac 1", Matcher("device_name", "!=", "Mac 1")),
        ('device_name="Mac 12"', Matcher("device_name", "=", "Mac 12")),
        ("device_name='Mac 12'", Matcher("device_name", "=", "Mac 12")),
        (r"rule_id=~kandji\..*", Matcher("rule_id", "=~", r"kandji\..*")),
        ("severity!~info|warning", Matcher("severity", "!~", "info|warning")),
        ("team=", Matcher("team", "=", "")),
        ("subject_name=a=b", Matcher("subject_name", "=", "a=b")),
        (' device_name = "say \\"hi\\"" ', Matcher("device_name", "=", 'say "hi"')),
    ],
)
def test_matchers_parse(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source", "expected name=value"),
        ("=acme", "expected name=value"),
        ("9lives=x", "expected name=value"),
        ("rule_id=~(kandji", "invalid regex"),
        ("rule_id!~[", "invalid regex"),
    ],
)
def test_bad_matchers_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_matcher(text)


@pytest.mark.parametrize(
    "texts",
    [["severity=~.*"], ["device_name!=Mac 1"], ["team="], ["source!=acme", "rule_id=~x?"]],
)
def test_matchers_that_would_mute_everything_are_refused(texts: list[str]) -> None:
    with pytest.raises(InputError, match="mute nearly everything"):
        parse_matchers(texts)


@pytest.mark.parametrize(
    "matcher",
    [Matcher("source", "=", "acme"), Matcher("device_name", "=", "Mac 12"),
     Matcher("rule_id", "=~", r"kandji\..*"), Matcher("team", "!=", ""),
     Matcher("x", "=", 'a "b", c')],
)
def test_matcher_text_reads_back_as_the_same_matcher(matcher: Matcher) -> None:
    assert parse_matcher(matcher_text(matcher)) == matcher


# ------------------------------------------------------------------ through main()


def test_add_prints_only_the_id_on_stdout_and_stores_the_silence(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "silence", "add", "-c", str(config_file), r"rule_id=~kandji\.library-item\..*",
        'device_name="Mac 12"', "--duration", "90m", "--comment", "reimaging", "--author", "ana",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == "1\n"
    assert "silence 1 added" in captured.err
    assert "(1h30m)" in captured.err
    assert "0 alert(s) match now" in captured.err


async def test_add_stores_matchers_span_comment_and_author(config_file: Path) -> None:
    clock = FakeClock(T0)
    code, out, _ = await cmd(config_file, clock, "add", "device_name=Mac 12", "rule_id!=lab",
                             "--duration", "2h", "--comment", "  reimaging   Mac 12 ",
                             "--author", "ana")
    assert (code, out) == (0, "1\n")
    [record] = await stored(config_file)
    assert record.matchers == (
        Matcher("device_name", "=", "Mac 12"),
        Matcher("rule_id", "!=", "lab"),
    )
    assert (record.starts_at, record.ends_at) == (T0, T0 + timedelta(hours=2))
    assert (record.comment, record.author, record.created_at) == ("reimaging Mac 12", "ana", T0)


async def test_starts_and_ends_take_iso_timestamps_naive_ones_in_utc(config_file: Path) -> None:
    clock = FakeClock(T0)
    code, _, err = await cmd(config_file, clock, "add", "source=acme",
                             "--starts", "2026-01-09T23:00+01:00", "--ends", "2026-01-10T06:00",
                             "--comment", "window")
    assert code == 0, err
    [record] = await stored(config_file)
    assert record.starts_at == datetime(2026, 1, 9, 22, 0, tzinfo=UTC)
    assert record.ends_at == datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    assert "from 2026-01-09 22:00Z until 2026-01-10 06:00Z (8h)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rule_id=~(", "--comment", "x"], "invalid regex"),
        (["nonsense", "--comment", "x"], "bad matcher 'nonsense'"),
        (["severity=~.*", "--comment", "x"], "mute nearly everything"),
        (["source=acme", "--duration", "soon", "--comment", "x"], "--duration"),
        (["source=acme", "--duration", "0s", "--comment", "x"], "longer than zero"),
        (["source=acme", "--starts", "tomorrow", "--comment", "x"], "--starts"),
        (["source=acme", "--starts", "2026-01-10T10:00Z", "--ends", "2026-01-10T09:00Z",
          "--comment", "x"], "before it starts"),
        (["source=acme", "--starts", "2025-12-31T00:00Z", "--ends", "2026-01-01T00:00Z",
          "--comment", "x"], "already be over"),
        (["source=acme", "--comment", "   "], "--comment"),
    ],
)
async def test_bad_input_exits_2_with_the_reason_and_stores_nothing(
    config_file: Path, argv: list[str], message: str
) -> None:
    code, out, err = await cmd(config_file, FakeClock(T0), "add", *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    assert not db_path(config_file).exists()


def test_bad_regex_through_main_exits_2(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["silence", "add", "-c", str(config_file), "rule_id=~[", "--comment", "x"])
    assert code == 2
    captured = capsys.readouterr()
    assert "invalid regex" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("matcher", "reason"),
    [
        ("devcie_name=Mac 1", "no alert has a label 'devcie_name'"),
        ("severity=critcal", "severity is one of info, warning, critical"),
        ("severity=~crit", "matches no severity"),
    ],
)
async def test_a_typo_in_a_label_or_a_severity_is_refused(
    config_file: Path, matcher: str, reason: str
) -> None:
    code, out, err = await cmd(config_file, FakeClock(T0), "add", matcher, "--comment", "typo")
    assert code != 0
    assert reason in err
    assert out == ""


# ------------------------------------------------------------------ list


async def test_list_shows_active_and_pending_and_hides_ended_unless_all(
    config_file: Path,
) -> None:
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", "device_name=Mac 1", "--duration", "1h",
              "--comment", "first", "--author", "ana")
    await cmd(config_file, clock, "add", "device_name=Mac 2", "--starts", "2026-01-10T08:00Z",
              "--duration", "1h", "--comment", "later", "--author", "bo")
    await cmd(config_file, clock, "add", "device_name=Mac 3", "--duration", "10m",
              "--comment", "short", "--author", "cy")
    clock.advance(timedelta(minutes=30))

    code, out, _ = await cmd(config_file, clock, "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "STATE", "UNTIL", "MATCHERS", "AUTHOR", "COMMENT"]
    assert [r.split()[:2] for r in rows] == [["1", "active"], ["2", "pending"]]
    assert '"Mac 1"' in rows[0]
    assert "(in 30m)" in rows[0]

    code, out, _ = await cmd(config_file, clock, "list", "--all")
    assert [r.split()[:2] for r in out.splitlines()[1:]] == [
        ["1", "active"], ["2", "pending"], ["3", "expired"]]
    assert "(20m ago)" in out


async def test_list_json_is_one_document_with_every_field(config_file: Path) -> None:
    add_nightly_window(config_file)
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", r"rule_id=~kandji\..*", "--duration", "2h",
              "--comment", "upgrade", "--author", "ana")
    code, out, _ = await cmd(config_file, clock, "list", "--json")
    assert code == 0
    nightly, mine = json.loads(out)
    assert nightly["id"] == "config:0"
    assert nightly["origin"] == "config"
    assert nightly["state"] == "scheduled"  # Friday 21:00 in Paris: not yet
    assert nightly["every"]["timezone"] == "Europe/Paris"
    assert mine == {
        "id": "1", "origin": "store", "state": "active",
        "matchers": [{"name": "rule_id", "op": "=~", "value": r"kandji\..*"}],
        "matchers_text": r"rule_id=~kandji\..*",
        "starts_at": "2026-01-09T20:00:00+00:00", "ends_at": "2026-01-09T22:00:00+00:00",
        "every": None, "comment": "upgrade", "author": "ana",
        "created_at": "2026-01-09T20:00:00+00:00",
    }
    clock.advance(timedelta(hours=1, minutes=30))  # Friday 22:30 in Paris
    _, out, _ = await cmd(config_file, clock, "list", "--json")
    assert json.loads(out)[0]["state"] == "active"


async def test_list_shows_a_recurring_window_in_its_time_zone(config_file: Path) -> None:
    add_nightly_window(config_file)
    code, out, _ = await cmd(config_file, FakeClock(T0), "list")
    assert code == 0
    [row] = out.splitlines()[1:]
    assert row.split()[:2] == ["config:0", "scheduled"]
    assert "mon,tue,wed,thu,fri 22:00-06:00 Europe/Paris" in row
    assert not db_path(config_file).exists()  # listing does not create the database


async def test_list_with_nothing_says_so_on_stderr_only(config_file: Path) -> None:
    code, out, err = await cmd(config_file, FakeClock(T0), "list")
    assert (code, out) == (0, "")
    assert "no active or pending silences" in err
    code, out, _ = await cmd(config_file, FakeClock(T0), "list", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_table_is_cut_to_the_terminal_width_only_when_asked() -> None:
    now = T0
    rows = [
        silence.SilenceRow(
            id=str(n), origin="store", state="active",
            matchers=(Matcher("device_name", "=", f"Mac {n}"),), starts_at=now,
            ends_at=now + timedelta(hours=2), every=None, comment="a long reason " * 10,
            author="ana",
        )
        for n in range(3)
    ]
    narrow = silence.table(rows, now, width=90)
    assert all(len(line) <= 90 for line in narrow.splitlines())
    assert narrow.splitlines()[1].endswith("\u2026")
    wide = silence.table(rows, now, width=None)
    assert ("a long reason " * 10).strip() in wide


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError


async def test_a_reader_that_goes_away_is_not_an_error(config_file: Path) -> None:
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", "source=acme", "--comment", "x")
    args = build_parser().parse_args(["silence", "list", "-c", str(config_file)])
    err = io.StringIO()
    code = await silence.run(args, load_config(config_file), clock=clock, out=_ClosedPipe(),
                             err=err)
    assert code == 0
    assert err.getvalue() == ""


# ------------------------------------------------------------------ expire


async def test_expire_ends_a_silence_now(config_file: Path) -> None:
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", "source=acme", "--comment", "x")
    clock.advance(timedelta(minutes=5))
    code, out, _ = await cmd(config_file, clock, "expire", "1")
    assert code == 0
    assert out == "silence 1 expired: source=acme\n"
    [record] = await stored(config_file)
    assert record.ends_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("ident", "code", "message"),
    [
        ("42", 1, "no silence has id 42"),
        ("config:0", 1, "comes from the config file"),
        ("abc", 2, "'abc' is not a silence id"),
    ],
)
async def test_expire_of_an_unknown_id_says_so(
    config_file: Path, ident: str, code: int, message: str
) -> None:
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", "source=acme", "--comment", "x")
    got, out, err = await cmd(config_file, clock, "expire", ident)
    assert (got, out) == (code, "")
    assert message in err


async def test_expiring_twice_says_when_it_ended(config_file: Path) -> None:
    clock = FakeClock(T0)
    await cmd(config_file, clock, "add", "source=acme", "--comment", "x")
    assert (await cmd(config_file, clock, "expire", "1"))[0] == 0
    clock.advance(timedelta(minutes=1))
    code, _, err = await cmd(config_file, clock, "expire", "1")
    assert code == 1
    assert "silence 1 already ended at 2026-01-09 20:00Z" in err


def test_expire_unknown_id_through_main_exits_1(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["silence", "expire", "-c", str(config_file), "7"]) == 1
    assert "no silence has id 7" in capsys.readouterr().err
