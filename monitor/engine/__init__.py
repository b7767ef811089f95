"""The rule engine: YAML rules + device facts + now -> findings. Pure and synchronous.

Public API::

    ruleset = load_rules([Path("my-rules.yaml")], builtin=True, disabled=["kandji.x.*"])
    ruleset.needs(source_kind)                # fact kinds the sweep must fetch
    findings = evaluate(ruleset, outcome.facts(), now)
    evaluate_device(ruleset, device, subjects, now)
    evaluate_subject(ruleset.rule("kandji.parameter.error"), device, subject, now)
    explain(ruleset, device, subjects, now)    # per rule: verdict and why

Modules: ``fields`` (the catalogue of nameable facts), ``conditions`` (operators),
``templates`` (sandboxed Jinja2), ``rules`` (file model and compiled rules),
``ruleset`` (the evaluation plan), ``loader`` (files -> RuleSet), ``evaluate``.
"""

from monitor.engine.evaluate import (
    RuleExplanation,
    SubjectExplanation,
    Verdict,
    evaluate,
    evaluate_device,
    evaluate_subject,
    explain,
    explain_rule,
    make_finding,
    rule_matches,
)
from monitor.engine.fields import (
    DEVICE_FIELDS,
    SUBJECT_FIELDS,
    FieldSpec,
    ValueType,
    details_fields,
    fields_for,
)
from monitor.engine.loader import (
    RULES_DIR_ENV,
    builtin_rules_dir,
    load_rules,
    load_rules_text,
)
from monitor.engine.rules import Action, Rule
from monitor.engine.ruleset import RuleSet
from monitor.models import STANDARD_LABELS

__all__ = [
    "DEVICE_FIELDS",
    "RULES_DIR_ENV",
    "STANDARD_LABELS",
    "SUBJECT_FIELDS",
    "Action",
    "FieldSpec",
    "Rule",
    "RuleExplanation",
    "RuleSet",
    "SubjectExplanation",
    "ValueType",
    "Verdict",
    "builtin_rules_dir",
    "details_fields",
    "evaluate",
    "evaluate_device",
    "evaluate_subject",
    "explain",
    "explain_rule",
    "fields_for",
    "load_rules",
    "load_rules_text",
    "make_finding",
    "rule_matches",
]
