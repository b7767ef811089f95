"""Remediation actions: opt-in, capped, audited.

Public API::

    runner = ActionRunner(config.actions, store, clients, clock)
    results = await runner.run(step.transitions, rules_by_id, outcome.devices,
                               dry_run=False, firing=still_firing)
    findings += runner.failure_findings(source)      # monitor.action.failed alerts
    await runner.restore(await store.load_alerts())  # after a restart
    problems = check_actions(config.actions, ruleset.rules)
    print(format_actions(await list_actions(store, limit=50)))

Action types come from the sources (:meth:`monitor.sources.base.Source.executors`; each
vendor package's ``actions`` module documents its params and requests). The safety
rules are in :mod:`monitor.actions.runner`.
"""

from monitor.actions.audit import (
    ActionEntry,
    decode_detail,
    encode_detail,
    format_actions,
    list_actions,
)
from monitor.actions.base import (
    ActionClient,
    ActionRequest,
    ActionResult,
    ActionStatus,
    Executor,
    Outcome,
)
from monitor.actions.catalog import check_actions, default_executors
from monitor.actions.runner import ACTION_FAILED_RULE, ActionRunner, action_failure_finding

__all__ = [
    "ACTION_FAILED_RULE",
    "ActionClient",
    "ActionEntry",
    "ActionRequest",
    "ActionResult",
    "ActionRunner",
    "ActionStatus",
    "Executor",
    "Outcome",
    "action_failure_finding",
    "check_actions",
    "decode_detail",
    "default_executors",
    "encode_detail",
    "format_actions",
    "list_actions",
]
