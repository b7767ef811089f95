"""The route tree: which receiver hears about an alert, and how its alerts are grouped.

Alertmanager's model: the root route takes what matches it (every alert when it has no
matchers); its children are tried in order and the first that matches takes the alert,
unless it says ``continue: true``, in which case the next siblings are tried as well.
A route none of whose children match keeps the alert itself. Children inherit the
receiver, ``group_by`` and the three timers of their parent.

``group_by: ["..."]`` groups by every label, i.e. one group per alert.

``age: {over: 3d}`` matches alerts firing for at least three days (``under`` for
younger ones): put such a route before its younger siblings and an alert moves to it
when it crosses the boundary (from Slack to PagerDuty, say). Its age is given with the
labels; an alert without one (not firing yet) matches no age route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import RouteConfig
from monitor.models import Alert, AlertState
from monitor.patterns import Pattern, compile_pattern

DEFAULT_GROUP_BY: tuple[str, ...] = ("rule_id", "source")
DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
GROUP_BY_ALL = "..."


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the resolved route tree (inherited values filled in).

    ``path`` names the node by position (``root``, ``root.0``, ``root.0.2``) and is part
    of every group key, so two routes never share a group.
    """

    path: str
    receiver: str
    match: Mapping[str, str]
    match_re: Mapping[str, Pattern]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    routes: tuple[Route, ...] = ()
    age_over: timedelta | None = None
    age_under: timedelta | None = None

    @property
    def escalates(self) -> bool:
        """Whether alerts arrive here by growing old (``age: {over: ...}``)."""
        return self.age_over is not None

    def matches(self, labels: Mapping[str, str], age: timedelta | None = None) -> bool:
        """Whether every matcher of this node holds (a missing label is the empty string;
        an age matcher needs ``age``)."""
        if self.age_over is not None and (age is None or age < self.age_over):
            return False
        if self.age_under is not None and (age is None or age >= self.age_under):
            return False
        for name, value in self.match.items():
            if labels.get(name, "") != value:
                return False
        return all(
            pattern.matches(labels.get(name, "")) for name, pattern in self.match_re.items()
        )

    def route(self, labels: Mapping[str, str], age: timedelta | None = None) -> list[Route]:
        """The routes that take an alert with ``labels`` and ``age`` (empty if this node
        does not match)."""
        if not self.matches(labels, age):
            return []
        return self._descend(labels, age)

    def _descend(self, labels: Mapping[str, str], age: timedelta | None) -> list[Route]:
        taken: list[Route] = []
        for child in self.routes:
            if not child.matches(labels, age):
                continue
            taken.extend(child._descend(labels, age))
            if not child.continue_:
                break
        return taken or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The values of this route's ``group_by`` labels (all labels for ``...``)."""
        if GROUP_BY_ALL in self.group_by:
            return dict(sorted(labels.items()))
        return {name: labels.get(name, "") for name in self.group_by}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """The aggregation group an alert with ``labels`` falls in, on this route."""
        return group_key(self, self.group_labels(labels))

    def walk(self) -> Iterator[Route]:
        """This node and every descendant, depth first."""
        yield self
        for child in self.routes:
            yield from child.walk()

    def find(self, path: str) -> Route | None:
        """The node at ``path``, or None."""
        return next((r for r in self.walk() if r.path == path), None)


def alert_age(alert: Alert, now: datetime) -> timedelta | None:
    """How long ``alert`` has been firing (until it resolved, for a resolved one, so it
    stays on the route that announced it); None when it never fired."""
    if alert.firing_since is None:
        return None
    end = alert.resolved_at if alert.state is AlertState.RESOLVED and alert.resolved_at else now
    return max(end - alert.firing_since, timedelta(0))


def group_key(route: Route, group_labels: Mapping[str, str]) -> str:
    """A stable, readable key: route path, receiver and the grouping label values."""
    labels = json.dumps(dict(sorted(group_labels.items())), separators=(",", ":"),
                        ensure_ascii=False)
    return f"{route.path}:{route.receiver}:{labels}"


def build_routes(config: RouteConfig) -> Route:
    """The resolved route tree of ``config`` (the root must name a receiver)."""
    if config.receiver is None:
        raise ValueError("the root route needs a receiver")
    return _build(
        config,
        "root",
        receiver=config.receiver,
        group_by=DEFAULT_GROUP_BY,
        group_wait=DEFAULT_GROUP_WAIT,
        group_interval=DEFAULT_GROUP_INTERVAL,
        repeat_interval=DEFAULT_REPEAT_INTERVAL,
    )


def _build(
    config: RouteConfig,
    path: str,
    *,
    receiver: str,
    group_by: tuple[str, ...],
    group_wait: timedelta,
    group_interval: timedelta,
    repeat_interval: timedelta,
) -> Route:
    receiver = config.receiver or receiver
    group_by = tuple(config.group_by) if config.group_by is not None else group_by
    group_wait = config.group_wait if config.group_wait is not None else group_wait
    group_interval = config.group_interval if config.group_interval is not None else group_interval
    repeat_interval = (
        config.repeat_interval if config.repeat_interval is not None else repeat_interval
    )
    children = tuple(
        _build(
            child,
            f"{path}.{i}",
            receiver=receiver,
            group_by=group_by,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
        )
        for i, child in enumerate(config.routes)
    )
    return Route(
        path=path,
        receiver=receiver,
        match=dict(config.match),
        match_re={k: compile_pattern(v) for k, v in config.match_re.items()},
        continue_=config.continue_,
        group_by=group_by,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        routes=children,
        age_over=config.age.over if config.age is not None else None,
        age_under=config.age.under if config.age is not None else None,
    )
