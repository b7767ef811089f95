"""Hypothesis strategies for the fuzz tests: JSON-like values, structured mutations of
a valid document (keys inserted, deleted, retyped) and YAML text with the constructs
that trip loaders (tags, anchors, aliases, odd scalars)."""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
)
"""Hypothesis settings shared by the fuzz tests: bounded and repeatable, so the suite
stays fast and a run fails the same way twice. By hand, ``FUZZ_RANDOM=1
FUZZ_EXAMPLES=5000`` explores new inputs."""

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1e309", "5m", "1h30m", "-5s", "kandji", "applivery",
                     "http://x", "${NOPE}", "$${X}", "null", "yes", "~", "ERROR", "failed"]),
)

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)
"""Any JSON-like value (YAML can hold all of them)."""


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a container (dict or list) inside ``node``, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict | list):
                out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, dict | list):
                out.extend(_paths(v, (*prefix, i)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any], keys: list[str]) -> Any:
    """``document`` after one to four random edits: a key inserted (a known key name in
    the wrong place, or a new one), a key or element deleted, a value retyped."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        target = _at(doc, path)
        action = draw(st.sampled_from(["insert", "delete", "retype"]))
        if isinstance(target, dict):
            if action == "insert" or not target:
                key = draw(st.one_of(st.sampled_from(keys), st.text(max_size=10)))
                target[key] = draw(json_values)
            elif action == "delete":
                del target[draw(st.sampled_from(sorted(target, key=str)))]
            else:
                target[draw(st.sampled_from(sorted(target, key=str)))] = draw(json_values)
        elif isinstance(target, list):
            if action == "insert" or not target:
                target.insert(draw(st.integers(0, len(target))), draw(json_values))
            elif action == "delete":
                del target[draw(st.integers(0, len(target) - 1))]
            else:
                target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
    if draw(st.integers(0, 20)) == 0:
        return draw(json_values)  # now and then the whole document is something else
    return doc


def all_keys(node: Any) -> list[str]:
    """Every key name used anywhere in ``node`` (for inserting known keys elsewhere)."""
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(str(k))
            out.update(all_keys(v))
    elif isinstance(node, list):
        for v in node:
            out.update(all_keys(v))
    return sorted(out)


yaml_snippets = st.sampled_from(
    [
        "!!python/object:os.system {}",
        "!!binary aGVsbG8=",
        "!custom {a: 1}",
        "!!timestamp 2024-01-01",
        "!!set {a, b}",
        "!!omap [{a: 1}]",
        "&a [*a]",
        "&x {k: *x}",
        "*undefined",
        "{? [1, 2] : 3}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ".nan",
        "-.inf",
        "0x1F",
        "0o17",
        "1_000",
        "2024-02-30",
        "12:30:45",
        "\"\\ud800\"",
        "'unterminated",
        "{a: 1, a: 2}",
        "- a\n- b: c\n  d",
        "\t- tab",
        "%YAML 1.1\n---\nkey: v",
        "--- a\n--- b",
        "<<: {a: 1}",
        "? complex\n: key",
        "\x00",
        "\ufeffkey: v",
    ]
)


@st.composite
def yaml_text(draw: st.DrawFn, base: str) -> str:
    """``base`` with a troublesome YAML construct spliced in at a random line, or raw
    random text."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.text(max_size=200))
    lines = base.splitlines()
    at = draw(st.integers(0, len(lines)))
    snippet = draw(yaml_snippets)
    if choice == 1:
        indent = draw(st.sampled_from(["", "  ", "    "]))
        key = draw(st.sampled_from(["x", "sources", "route", "rules", "match", "status"]))
        lines.insert(at, f"{indent}{key}: {snippet}")
    elif choice == 2 and lines:
        line = lines[min(at, len(lines) - 1)]
        head, sep, _ = line.partition(": ")
        lines[min(at, len(lines) - 1)] = f"{head}{sep or ': '}{snippet}"
    else:
        lines.insert(at, snippet)
    return "\n".join(lines) + "\n"
