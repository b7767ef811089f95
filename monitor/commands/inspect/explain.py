"""``compliance-monitor explain DEVICE``: one device, live from its source, and why.

The device is looked up in the device list of every enabled source (or of ``--source``)
by id, serial number or name. Then only the facts the enabled rules need are fetched
(each source's look-up, :meth:`monitor.sources.base.Source.lookup`, makes the same
calls its per-device sweep makes), plus, where the MDM keeps one, the newest entries of
the device's activity feed. Every rule is run on them
with :func:`monitor.engine.explain`; the store adds the device's alerts and history.

An interactive command should not sit through a daemon's patient retries: the source's
retry settings are capped by :data:`EXPLAIN_RETRY`.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from monitor.clock import Clock, SystemClock
from monitor.commands.inspect.explain_view import (
    STATE_ORDER,
    Explanation,
    explain_document,
    render_explanation,
)
from monitor.commands.inspect.terminal import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    JSON_VERSION,
    Column,
    CommandIo,
    clean,
    fit_columns,
    join_cells,
    write_json,
)
from monitor.config import Config, RetryConfig, SourceConfig
from monitor.engine import RuleSet, explain, load_rules
from monitor.errors import MonitorError, NotFoundError, StoreError
from monitor.log import redact
from monitor.models import Device, SourceKind
from monitor.sources import registry
from monitor.sources.base import DeviceLookup
from monitor.store import open_store, store_exists, store_name

T = TypeVar("T")

ACTIVITY_SHOWN = 10
HISTORY_SHOWN = 20
CLOSE_MATCHES = 5
#: An interactive command should not sit through a daemon's patient retries.
EXPLAIN_RETRY = RetryConfig(
    max_attempts=3, backoff_base=timedelta(milliseconds=500), backoff_max=timedelta(seconds=4)
)
EXPLAIN_BUDGET_WAIT = 20.0


def _lookup(src: SourceConfig, clock: Clock) -> DeviceLookup:
    interactive = src.model_copy(update={"retry": _gentler(src.retry)})
    return registry.get(src.kind).lookup(interactive, clock, budget_max_wait=EXPLAIN_BUDGET_WAIT)


def _gentler(retry: RetryConfig) -> RetryConfig:
    return RetryConfig(
        max_attempts=min(retry.max_attempts, EXPLAIN_RETRY.max_attempts),
        backoff_base=min(retry.backoff_base, EXPLAIN_RETRY.backoff_base),
        backoff_max=min(retry.backoff_max, EXPLAIN_RETRY.backoff_max),
        max_retry_after=min(retry.max_retry_after, timedelta(seconds=EXPLAIN_BUDGET_WAIT)),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A device that looks like what was asked for."""

    source: str
    device: Device


def _casefold(text: str) -> str:
    return text.strip().casefold()


def exact_matches(query: str, devices: Iterable[Device]) -> list[Device]:
    """Devices whose id, serial number or name is ``query`` (case does not matter).

    An id match wins over a serial match, which wins over a name match (names repeat).
    """
    q = _casefold(query)
    if not q:
        return []
    pool = list(devices)
    for attr in ("device_id", "serial", "name"):
        found = [d for d in pool if _casefold(str(getattr(d, attr))) == q]
        if found:
            return found
    return []


def close_matches(query: str, candidates: Sequence[Candidate], n: int = CLOSE_MATCHES) -> list[
    Candidate
]:
    """Devices whose name or serial resembles ``query``: containing it, or spelled alike."""
    q = _casefold(query)
    if not q:
        return []
    scored: list[tuple[float, str, Candidate]] = []
    for c in candidates:
        best = 0.0
        for text in (c.device.name, c.device.serial, c.device.device_id):
            t = _casefold(text)
            if not t:
                continue
            if q in t:
                best = max(best, 0.9 + len(q) / (100 * len(t)))
            else:
                best = max(best, difflib.SequenceMatcher(None, q, t).ratio())
        if best >= 0.6:
            scored.append((best, c.device.name.casefold(), c))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [c for _, _, c in scored[:n]]


async def explain_device(
    config: Config,
    query: str,
    *,
    source: str | None,
    as_json: bool,
    io: CommandIo | None = None,
    clock: Clock | None = None,
) -> int:
    """``compliance-monitor explain DEVICE``: facts, verdicts, history and activity."""
    clock = clock or SystemClock()
    io = io or CommandIo.of()
    sources = [s for s in config.sources if s.enabled and (source is None or s.name == source)]
    if source is not None and not sources:
        names = ", ".join(s.name for s in config.sources if s.enabled) or "none"
        io.say(f"no enabled source is named {source!r} (sources: {names})")
        return EXIT_USAGE
    ruleset = load_rules(
        config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
    )
    lookups = {s.name: _lookup(s, clock) for s in sources}
    try:
        return await _explain(
            config, query, lookups, ruleset, clock, as_json=as_json, io=io
        )
    finally:
        for lk in lookups.values():
            await lk.close()


async def _explain(
    config: Config,
    query: str,
    lookups: Mapping[str, DeviceLookup],
    ruleset: RuleSet,
    clock: Clock,
    *,
    as_json: bool,
    io: CommandIo,
) -> int:
    names = list(lookups)
    listed = await asyncio.gather(
        *(lookups[n].devices() for n in names), return_exceptions=True
    )
    unreachable: dict[str, str] = {}
    found: list[Candidate] = []
    everything: list[Candidate] = []
    for name, answer in zip(names, listed, strict=True):
        if isinstance(answer, MonitorError):
            unreachable[name] = redact(str(answer))
            continue
        if isinstance(answer, BaseException):
            raise answer
        everything.extend(Candidate(name, d) for d in answer)
        found.extend(Candidate(name, d) for d in exact_matches(query, answer))
    for name, error in unreachable.items():
        io.say(f"cannot reach source {name}: {error}")

    if len(found) != 1:
        if not found and unreachable:
            if as_json:
                write_json(io.out, _failure_document(query, "unreachable", [], unreachable))
            return EXIT_UNREACHABLE
        ambiguous = len(found) > 1
        shown = found if ambiguous else close_matches(query, everything)
        if as_json:
            write_json(
                io.out,
                _failure_document(
                    query, "ambiguous" if ambiguous else "not_found", shown, unreachable
                ),
            )
        else:
            _print_candidates(query, shown, ambiguous=ambiguous, io=io)
        return EXIT_NOT_FOUND

    match = found[0]
    lookup = lookups[match.source]
    kind = SourceKind(lookup.src.kind)
    needs = ruleset.needs(kind)
    try:
        facts = await lookup.facts(match.device, needs)
    except NotFoundError:
        io.say(f"{match.device.name or query} was removed from {match.source} just now")
        return EXIT_NOT_FOUND
    now = clock.now()
    rules = explain(ruleset, facts.device, facts.subjects, now)
    result = Explanation(query, now, facts, rules, ruleset, needs, None, None)
    await _read_history(config, result)
    result.warnings = [f"cannot reach source {n}: {e}" for n, e in unreachable.items()]
    result.warnings += [f"could not fetch from {match.source}: {e}" for e in facts.errors]
    if as_json:
        write_json(io.out, explain_document(result))
    else:
        io.out.write(render_explanation(result, io.term))
    return EXIT_UNREACHABLE if facts.errors else EXIT_OK


async def _read_history(config: Config, result: Explanation) -> None:
    device = result.facts.device
    if not store_exists(config.store):
        result.store_note = f"no store at {store_name(config.store)}: no alert history yet"
        return
    try:
        async with open_store(config.store) as store:
            alerts = await store.load_alerts(result.facts.source)
            result.history = await store.alert_history(
                device_id=device.device_id, source=result.facts.source, limit=HISTORY_SHOWN
            )
    except StoreError as exc:
        result.store_note = f"cannot read the store: {redact(str(exc))}"
        return
    mine = [a for a in alerts.values() if a.finding.device_id == device.device_id]
    mine.sort(key=lambda a: (STATE_ORDER[a.state], -a.severity.rank, a.rule_id,
                             a.finding.subject_name.casefold()))
    result.alerts = mine


def _failure_document(
    query: str, error: str, candidates: Sequence[Candidate], unreachable: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "query": query,
        "found": False,
        "error": error,
        "candidates": [
            {
                "source": c.source,
                "device_id": c.device.device_id,
                "name": c.device.name,
                "serial": c.device.serial,
            }
            for c in candidates
        ],
        "unreachable": dict(sorted(unreachable.items())),
    }


def _print_candidates(
    query: str, candidates: Sequence[Candidate], *, ambiguous: bool, io: CommandIo
) -> None:
    if ambiguous:
        io.say(f"{query!r} names {len(candidates)} devices; give an id or a serial:")
    elif candidates:
        io.say(f"no device is {query!r} (by id, serial or name); close matches:")
    else:
        io.say(f"no device is {query!r} (by id, serial or name), nor anything like it")
    columns = (Column("NAME", 10), Column("SERIAL", 6), Column("SOURCE", 6), Column("ID", 8))
    cells = [
        [clean(c.device.name) or "—", clean(c.device.serial) or "—", c.source, c.device.device_id]
        for c in candidates
    ]
    widths = fit_columns(columns, cells, io.term.width - 2)
    if cells:
        io.say("  " + join_cells([c.header for c in columns], widths))
    for row in cells:
        io.say("  " + join_cells(row, widths))
