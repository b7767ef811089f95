"""The shipped Grafana dashboard: valid JSON, and every query names exported metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.deploy.exported import exported_metric_names, metric_names_in

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "compliance-monitor.json"
)


def _exprs(node: Any) -> Iterator[str]:
    """Every PromQL text: panel targets' ``expr`` and query variables' ``query.query``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, dict) and "query" in value:
                yield str(value["query"])
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def test_the_dashboard_parses_and_has_panels_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "compliance-monitor"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_references_an_exported_metric() -> None:
    exported = exported_metric_names()
    exprs = list(_exprs(json.loads(DASHBOARD.read_text())))
    assert exprs
    for expr in exprs:
        used = metric_names_in(expr)
        assert used, f"no monitor metric in {expr!r}"
        assert used <= exported, (expr, used - exported)


def test_the_dashboard_covers_every_exported_metric_family() -> None:
    exported = exported_metric_names()
    used = set().union(*(metric_names_in(e) for e in _exprs(json.loads(DASHBOARD.read_text()))))
    families = {_family(n) for n in exported if not n.endswith("_created")}
    assert families - {_family(n) for n in used} == set()


def _family(sample_name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name
