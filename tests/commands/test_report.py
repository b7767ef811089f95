"""``compliance-monitor report``: the period's digest from the store, in three formats."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import open_store
from tests.e2e.alerting_support import fresh_logging  # noqa: F401 (a fixture)
from tests.notify.helpers import finding, sweep

pytestmark = pytest.mark.usefixtures("fresh_logging")

CONFIG = """\
sources:
  - {name: acme, kind: kandji, url: "https://acme.api.kandji.io", token: t}
receivers:
  - {name: ops, console: true}
route: {receiver: ops}
digests:
  - name: weekly
    receiver: ops
    scope: {match: {severity: critical}}
store: {path: state/monitor.db}
web: {enabled: false}
log: {level: error, format: json}
"""


@pytest.fixture
async def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    async with open_store(tmp_path / "state" / "monitor.db") as store:
        await sweep(store, [finding("d1", "i1"), finding("d2", "i1")],
                    datetime.now(UTC))
    return path


def test_csv_lists_what_fires(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-c", str(config), "--since", "7d", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["device_name"] for r in rows) == ["Mac d1", "Mac d2"]
    assert {r["status"] for r in rows} == {"firing"}


def test_json_and_html_to_a_file(config: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-c", str(config), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["firing"] == 2
    assert len(data["trend"]) == 30
    out = tmp_path / "report.html"
    assert main(["report", "-c", str(config), "--format", "html", "-o", str(out)]) == 0
    html = out.read_text()
    assert "<svg" in html
    assert data["verdict"] in html
    assert "<script" not in html


def test_a_digest_scope_applies(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "-c", str(config), "--format", "json", "--digest", "weekly"]) == 0
    assert json.loads(capsys.readouterr().out)["firing"] == 0  # nothing critical


@pytest.mark.parametrize("args", [["--since", "soon"], ["--since", "0s"],
                                  ["--digest", "nope"]])
def test_bad_arguments_exit_2(config: Path, args: list[str]) -> None:
    assert main(["report", "-c", str(config), *args]) == 2


def test_no_store_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    assert main(["report", "-c", str(path)]) == 1
