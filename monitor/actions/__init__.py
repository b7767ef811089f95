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
vendor package's ``actions`` module documents its params and requests); what an
executor implements and is handed (``Executor``, ``ActionClient``, ``ActionRequest``,
``Outcome``) is in :mod:`monitor.actions.base`. The safety rules are in
:mod:`monitor.actions.runner`.
"""

from monitor.actions.audit import format_actions, list_actions
from monitor.actions.base import ActionStatus
from monitor.actions.catalog import check_actions
from monitor.actions.runner import ACTION_FAILED_RULE, ActionRunner

__all__ = [
    "ACTION_FAILED_RULE",
    "ActionRunner",
    "ActionStatus",
    "check_actions",
    "format_actions",
    "list_actions",
]
