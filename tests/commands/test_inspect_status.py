"""``compliance-monitor status``: what is firing, read from a real SQLite store file."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from monitor.alerts import DEVICE_SILENT_RULE, StepResult
from monitor.cli import main
from monitor.clock import FakeClock
from monitor.commands.inspect import EXIT_NOT_FOUND, EXIT_OK, CommandIo, Terminal, status
from monitor.commands.inspect.terminal import display_width
from monitor.config import Config
from monitor.models import (
    Alert,
    AlertState,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)
from monitor.store import SqlStore, open_store
from monitor.store.base import Matcher, SilenceDraft

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ANSI = re.compile(r"\x1b\[")


def make_config(tmp_path: Path, **extra: Any) -> Config:
    """A config whose store is tmp_path/monitor.db, with two sources."""
    data: dict[str, Any] = {
        "sources": [
            {"name": "macs", "kind": "kandji", "url": "http://127.0.0.1:9", "token": "tok1",
             "interval": "5m"},
            {"name": "windows", "kind": "applivery", "url": "http://127.0.0.1:9",
             "token": "tok2", "organization": "acme", "interval": "5m"},
        ],
        "receivers": [{"name": "ops", "console": True}],
        "route": {"receiver": "ops"},
        "store": {"path": str(tmp_path / "monitor.db")},
        "web": {"enabled": False},
        **extra,
    }
    return Config.model_validate(data)


def make_alert(
    n: int,
    *,
    rule_id: str = "kandji.library-item.error",
    severity: Severity = Severity.WARNING,
    state: AlertState = AlertState.FIRING,
    device: str = "Maria's MacBook Pro",
    serial: str = "C02XL0AAJGH5",
    subject: str = "Slack",
    subject_status: str = "ERROR",
    source: str = "macs",
    device_id: str | None = None,
    subject_kind: SubjectKind = SubjectKind.LIBRARY_ITEM,
    minutes: float = 90,
) -> Alert:
    """One stored alert; ``n`` makes device id and subject id unique."""
    kind = SourceKind("kandji") if source == "macs" else SourceKind("applivery")
    finding = Finding(
        rule_id=rule_id,
        source=source,
        source_kind=kind,
        device_id=device_id or f"dev-{n}",
        device_name=device,
        device_serial=serial,
        subject_kind=subject_kind,
        subject_id=f"subject-{n}",
        subject_name=subject,
        subject_status=subject_status,
        severity=severity,
        summary=f"{subject} is {subject_status} on {device}",
        labels={"team": "endpoint"},
    )
    since = NOW - timedelta(minutes=minutes)
    return Alert(
        fingerprint=finding.fingerprint,
        state=state,
        finding=finding,
        active_since=since,
        last_seen=NOW - timedelta(minutes=1),
        firing_since=since if state is not AlertState.PENDING else None,
        resolved_at=NOW - timedelta(minutes=5) if state is AlertState.RESOLVED else None,
    )


async def write_store(
    path: Path, alerts: list[Alert], *, source: str = "macs", ok: bool = True, error: str = ""
) -> SqlStore:
    """Commit ``alerts`` as one sweep of ``source`` into a store at ``path`` (left open)."""
    store = open_store(path)
    await store.open()
    by_fp = {a.fingerprint: a for a in alerts if a.finding.source == source}
    stats = SweepStats(
        source=source,
        started_at=NOW - timedelta(minutes=2, seconds=3),
        finished_at=NOW - timedelta(minutes=2),
        ok=ok,
        devices=40,
        requests=41,
        errors=0 if ok else 1,
        findings=len(by_fp),
        error=error,
    )
    await store.commit_sweep(
        stats, StepResult(source, by_fp, by_fp, (), frozenset(), frozenset())
    )
    return store


def fleet() -> list[Alert]:
    """Firing alerts of two rules and severities, plus pending, resolved and inhibited ones."""
    return [
        make_alert(1, device="Maria's MacBook Pro", serial="C02XL0AAJGH5", subject="Slack"),
        make_alert(2, device="Jun's MacBook Air", serial="FVFXK1Q2J1WT", subject="Zoom"),
        make_alert(
            3,
            rule_id="kandji.device.filevault-off",
            severity=Severity.CRITICAL,
            device="Lab Mac 07",
            serial="C02LAB000007",
            subject="Lab Mac 07",
            subject_status="",
            subject_kind=SubjectKind.DEVICE,
        ),
        make_alert(4, state=AlertState.PENDING, device="Pending Mac", subject="Chrome"),
        make_alert(5, state=AlertState.RESOLVED, device="Fixed Mac", subject="Okta Verify"),
        make_alert(6, device="Quiet Mac", device_id="dev-quiet", subject="Figma"),
        make_alert(
            7,
            rule_id=DEVICE_SILENT_RULE,
            device="Quiet Mac",
            device_id="dev-quiet",
            subject="Quiet Mac",
            subject_status="silent",
            subject_kind=SubjectKind.DEVICE,
        ),
    ]


async def run_status(
    config: Config, *, as_json: bool = False, include_all: bool = False, width: int = 80,
    color: bool = False,
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await status(
        config,
        as_json=as_json,
        include_all=include_all,
        io=CommandIo(out, err, Terminal(width=width, color=color)),
        clock=FakeClock(NOW),
    )
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
async def config(tmp_path: Path) -> Config:
    cfg = make_config(
        tmp_path,
        silences=[
            {
                "matchers": [{"name": "device_name", "op": "=~", "value": "Lab .*"}],
                "comment": "lab machines are reimaged nightly",
            }
        ],
    )
    store = await write_store(tmp_path / "monitor.db", fleet())
    await store.close()
    return cfg


async def test_the_default_table_shows_only_unmuted_firing_alerts_grouped_by_rule(
    config: Config,
) -> None:
    code, out, _ = await run_status(config)

    assert code == EXIT_OK
    assert "Maria's MacBook Pro" in out
    assert "C02XL0AAJGH5" in out
    assert "Slack (ERROR)" in out
    assert "Jun's MacBook Air" in out
    # Silenced (Lab), pending, resolved and inhibited (Quiet Mac's item) are left out...
    for hidden in ("Lab Mac 07", "Pending Mac", "Fixed Mac", "Figma"):
        assert hidden not in out
    # ...but counted, with a pointer to --all.
    assert "1 pending" in out
    assert "1 silenced" in out
    assert "1 inhibited" in out
    assert "1 resolved" in out
    assert "--all" in out
    # The silent-device alert itself fires and is shown, in its own group.
    lines = out.splitlines()
    groups = [ln for ln in lines if ln.startswith(("CRITICAL", "WARNING", "INFO"))]
    # Most severe first, then the largest group.
    assert [g.split()[1] for g in groups] == ["kandji.library-item.error", DEVICE_SILENT_RULE]
    assert "3 firing on 3 devices" in lines[2]


async def test_all_adds_pending_silenced_inhibited_and_resolved_with_their_status(
    config: Config,
) -> None:
    _, out, _ = await run_status(config, include_all=True)

    def row(name: str) -> str:
        return next(ln for ln in out.splitlines() if name in ln and not ln[0].isupper())

    assert " silenced " in row("Lab Mac 07")
    assert " pending " in row("Pending Mac")
    assert " resolved " in row("Fixed Mac")
    assert " inhibited " in row("Figma")
    assert " firing " in row("Slack")
    # Most severe rule first; within a rule, firing before the rest.
    groups = [ln.split()[1] for ln in out.splitlines() if ln.startswith(("CRITICAL", "WARNING"))]
    assert groups[0] == "kandji.device.filevault-off"
    item_rows = [ln for ln in out.splitlines() if "(ERR" in ln]
    statuses = [re.findall(r"  (firing|pending|resolved|inhibited)  ", ln)[0] for ln in item_rows]
    assert statuses.index("firing") < statuses.index("pending") < statuses.index("resolved")


async def test_rows_fit_the_width_and_long_names_end_in_an_ellipsis(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    long_name = "Maximilian Alexander Featherstonehaugh's MacBook Pro 16-inch (2023)"
    long_item = "Microsoft Defender for Endpoint Onboarding Configuration Profile"
    store = await write_store(
        tmp_path / "monitor.db", [make_alert(1, device=long_name, subject=long_item)]
    )
    await store.close()

    for width in (80, 60, 120):
        _, out, _ = await run_status(cfg, width=width)
        assert all(display_width(ln) <= width for ln in out.splitlines()), out
    _, out, _ = await run_status(cfg, width=80)
    row = next(ln for ln in out.splitlines() if "Maximilian" in ln)
    assert "…" in row
    assert long_name not in row
    assert "C02XL0AAJGH5" in row  # the serial survives: the names give way first


async def test_piped_output_has_no_colour_and_a_terminal_gets_some(config: Config) -> None:
    _, plain, _ = await run_status(config, include_all=True)
    _, coloured, _ = await run_status(config, include_all=True, color=True)

    assert not ANSI.search(plain)
    assert ANSI.search(coloured)
    # Colour never moves a column: without the escapes both outputs are the same text.
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_a_pipe_is_not_coloured_and_no_color_is_honoured() -> None:
    class FakeTty(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            raise OSError("not a real terminal")

    assert Terminal.for_stream(io.StringIO(), {}).color is False
    assert Terminal.for_stream(FakeTty(), {}).color is True
    assert Terminal.for_stream(FakeTty(), {"NO_COLOR": "1"}).color is False
    assert Terminal.for_stream(io.StringIO(), {"COLUMNS": "132"}).width == 132
    assert Terminal.for_stream(io.StringIO(), {}).width == 80


async def test_json_is_a_stable_document(config: Config) -> None:
    code, first, _ = await run_status(config, as_json=True)
    _, again, _ = await run_status(config, as_json=True)
    assert code == EXIT_OK
    assert first == again

    doc = json.loads(first)
    assert doc["version"] == 1
    assert doc["generated_at"] == NOW.isoformat()
    assert doc["include_all"] is False
    assert doc["summary"] == {
        "firing": 3,
        "pending": 1,
        "silenced": 1,
        "inhibited": 1,
        "resolved": 1,
        "devices_affected": 3,
        "firing_by_severity": {"critical": 0, "warning": 3, "info": 0},
        "dead_letters": 0,
    }
    assert [a["status"] for a in doc["alerts"]] == ["firing"] * 3
    maria = next(a for a in doc["alerts"] if a["device_name"] == "Maria's MacBook Pro")
    assert maria["device_serial"] == "C02XL0AAJGH5"
    assert maria["subject_name"] == "Slack"
    assert maria["subject_status"] == "ERROR"
    assert maria["since"] == (NOW - timedelta(minutes=90)).isoformat()
    assert maria["labels"]["team"] == "endpoint"
    assert [s["name"] for s in doc["sources"]] == ["macs", "windows"]
    assert doc["sources"][0]["last_sweep"]["ok"] is True
    assert doc["sources"][1]["last_sweep"] is None
    assert doc["silences"][0]["matchers"] == 'device_name=~"Lab .*"'

    _, every, _ = await run_status(config, as_json=True, include_all=True)
    all_doc = json.loads(every)
    lab = next(a for a in all_doc["alerts"] if a["device_name"] == "Lab Mac 07")
    assert lab["status"] == "silenced"
    assert lab["state"] == "firing"
    assert lab["silenced_by"] == "config:0"


async def test_a_silence_added_at_run_time_mutes_an_alert(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    store = await write_store(tmp_path / "monitor.db", fleet())
    await store.add_silence(
        SilenceDraft(
            (Matcher("device_serial", "=", "FVFXK1Q2J1WT"),),
            starts_at=NOW - timedelta(hours=1),
            ends_at=NOW + timedelta(hours=1),
            comment="Jun is travelling",
            author="ops",
            created_at=NOW - timedelta(hours=1),
        ),
    )
    await store.close()

    _, out, _ = await run_status(cfg, as_json=True, include_all=True)
    jun = next(a for a in json.loads(out)["alerts"] if a["device_serial"] == "FVFXK1Q2J1WT")
    assert jun["status"] == "silenced"
    assert jun["silenced_by"].startswith("store:")


async def test_status_reads_while_the_daemon_keeps_the_store_open(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    daemon = await write_store(tmp_path / "monitor.db", [make_alert(1)])
    try:
        _, before, _ = await run_status(cfg, as_json=True)
        # The daemon commits another sweep while status has been reading the same file.
        second = [make_alert(1), make_alert(2, device="Jun's MacBook Air")]
        by_fp = {a.fingerprint: a for a in second}
        stats = SweepStats("macs", NOW, NOW, ok=True, devices=40)
        await daemon.commit_sweep(
            stats, StepResult("macs", by_fp, by_fp, (), frozenset(), frozenset())
        )
        _, after, _ = await run_status(cfg, as_json=True)
    finally:
        await daemon.close()
    assert json.loads(before)["summary"]["firing"] == 1
    assert json.loads(after)["summary"]["firing"] == 2


async def test_sources_say_when_they_last_swept_and_why_they_failed(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    store = await write_store(tmp_path / "monitor.db", [make_alert(1)])
    await store.close()
    store = await write_store(
        tmp_path / "monitor.db", [], source="windows", ok=False, error="list devices: 503"
    )
    await store.close()

    _, out, _ = await run_status(cfg, width=100)
    lines = out.splitlines()
    assert lines[0].startswith("macs (kandji): swept 2m ago, 40 devices")
    assert "FAILED" in lines[1]
    assert "never succeeded" in lines[1]
    assert "503" in lines[1]


async def test_nothing_firing_says_so(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    store = await write_store(tmp_path / "monitor.db", [])
    await store.close()
    code, out, _ = await run_status(cfg)
    assert code == EXIT_OK
    assert "Nothing is firing" in out


async def test_a_missing_store_is_reported_and_not_created(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    code, out, err = await run_status(cfg)
    assert code == EXIT_NOT_FOUND
    assert out == ""
    assert "no store at" in err
    assert not (tmp_path / "monitor.db").exists()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``cli.main`` configures logging for the process; put it back afterwards."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_prints_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    (tmp_path / "state").mkdir()
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        "sources:\n"
        "  - {name: macs, kind: kandji, url: 'http://127.0.0.1:9', token: tok1}\n"
        "receivers: [{name: ops, console: true}]\n"
        "route: {receiver: ops}\n"
        f"store: {{path: '{tmp_path / 'state' / 'monitor.db'}'}}\n"
        "web: {enabled: false}\n"
        "log: {level: warning}\n"
    )

    async def seed() -> None:
        store = await write_store(tmp_path / "state" / "monitor.db", [make_alert(1)])
        await store.close()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["status", "-c", str(cfg_path), "--json"]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert [a["device_name"] for a in doc["alerts"]] == ["Maria's MacBook Pro"]
