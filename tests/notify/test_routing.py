"""The route tree: matching, continue, inheritance, defaults and group keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from monitor.config import RouteConfig
from monitor.notify.routing import (
    DEFAULT_GROUP_BY,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_REPEAT_INTERVAL,
    build_routes,
)

TREE: dict[str, Any] = {
    "receiver": "default",
    "group_wait": "10s",
    "routes": [
        {"receiver": "pager", "match": {"severity": "critical"}, "continue": True,
         "repeat_interval": "1h"},
        {"receiver": "mac-team", "match_re": {"source": "kandji-.*"}, "group_by": ["device_name"],
         "routes": [
             {"match": {"team": "security"}, "receiver": "security"},
         ]},
        {"receiver": "windows", "match": {"source_kind": "applivery"}},
    ],
}


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "warning", "source": "other"}, ["default"]),
        # a matching child with continue still counts as a match: the parent stays out
        ({"severity": "critical", "source": "other"}, ["pager"]),
        ({"severity": "warning", "source": "kandji-eu"}, ["mac-team"]),
        ({"severity": "critical", "source": "kandji-eu"}, ["pager", "mac-team"]),
        ({"severity": "warning", "source": "kandji-eu", "team": "security"}, ["security"]),
        # match_re is a full match: a prefix is not enough
        ({"severity": "warning", "source": "xkandji-eu"}, ["default"]),
        ({"source": "kandji-eu", "source_kind": "applivery"}, ["mac-team"]),  # first wins
        ({"source": "win", "source_kind": "applivery"}, ["windows"]),
    ],
)
def test_routing_picks_receivers(labels: dict[str, str], expected: list[str]) -> None:
    root = build_routes(RouteConfig.model_validate(TREE))
    assert [r.receiver for r in root.route(labels)] == expected


def test_children_inherit_timers_grouping_and_receiver() -> None:
    root = build_routes(RouteConfig.model_validate(TREE))
    pager, mac, windows = root.routes
    security = mac.routes[0]
    assert root.group_by == DEFAULT_GROUP_BY == ("rule_id", "source")
    assert root.group_wait == timedelta(seconds=10)
    assert root.group_interval == DEFAULT_GROUP_INTERVAL
    assert root.repeat_interval == DEFAULT_REPEAT_INTERVAL
    assert pager.repeat_interval == timedelta(hours=1)
    assert pager.group_wait == timedelta(seconds=10)
    assert security.group_by == ("device_name",)
    assert security.receiver == "security"
    assert windows.group_by == DEFAULT_GROUP_BY
    assert [r.path for r in root.walk()] == ["root", "root.0", "root.1", "root.1.0", "root.2"]
    assert root.find("root.1.0") is security
    assert root.find("root.9") is None


def test_alertmanager_defaults() -> None:
    root = build_routes(RouteConfig(receiver="ops"))
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (
        timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4)
    )


def test_root_matchers_apply() -> None:
    root = build_routes(RouteConfig(receiver="ops", match={"source": "acme"}))
    assert root.route({"source": "other"}) == []


@pytest.mark.parametrize(
    ("group_by", "a", "b", "same"),
    [
        (["rule_id", "source"], {"rule_id": "r", "source": "s", "device_name": "x"},
         {"rule_id": "r", "source": "s", "device_name": "y"}, True),
        (["rule_id", "source"], {"rule_id": "r", "source": "s"},
         {"rule_id": "q", "source": "s"}, False),
        (["..."], {"rule_id": "r", "device_name": "x"}, {"rule_id": "r", "device_name": "y"},
         False),
        ([], {"rule_id": "r"}, {"rule_id": "q"}, True),
    ],
)
def test_group_keys_follow_group_by(
    group_by: list[str], a: dict[str, str], b: dict[str, str], same: bool
) -> None:
    root = build_routes(RouteConfig(receiver="ops", group_by=group_by))
    assert (root.group_key(a) == root.group_key(b)) is same


def test_group_key_names_route_and_receiver() -> None:
    root = build_routes(RouteConfig.model_validate(TREE))
    labels = {"severity": "critical", "source": "kandji-s", "rule_id": "r"}
    keys = {r.group_key(labels) for r in root.route(labels)}
    assert len(keys) == 2
