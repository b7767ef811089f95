"""The action types the registered sources offer, and the check ``validate`` runs on
the actions config and the actions rules declare."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.actions.base import Executor
from monitor.config import ActionsConfig
from monitor.engine import Rule
from monitor.sources import registry


def default_executors() -> dict[str, Executor]:
    """Every action type the registered sources offer, by type."""
    return {e.type: e for source in registry.sources() for e in source.executors()}


def check_actions(
    config: ActionsConfig,
    rules: Iterable[Rule],
    executors: Mapping[str, Executor] | None = None,
) -> list[str]:
    """Problems with the actions config and the actions rules declare (empty: fine).

    For ``compliance-monitor validate``: unknown action types, bad params, an action
    whose source kind cannot match the rule's ``source``, and ``per_action`` keys that
    name no action type.
    """
    known = executors if executors is not None else default_executors()
    problems: list[str] = []
    for name in sorted(config.per_action):
        if name not in known:
            problems.append(f"actions.per_action.{name}: no action type is named {name!r}")
    for rule in rules:
        where = f"{rule.file}:{rule.line}" if rule.file and rule.line else rule.file or "rules"
        for i, action in enumerate(rule.actions):
            label = f"{where}: rule {rule.id}: actions.{i} ({action.type})"
            executor = known.get(action.type)
            if executor is None:
                problems.append(f"{label}: unknown action type; known: {', '.join(sorted(known))}")
                continue
            if rule.source not in ("any", executor.source_kind.value):
                problems.append(
                    f"{label}: acts on {executor.source_kind.value} sources, "
                    f"but the rule is about {rule.source} sources"
                )
            reason = executor.check(action.params)
            if reason is not None:
                problems.append(f"{label}: {reason}")
    return problems
