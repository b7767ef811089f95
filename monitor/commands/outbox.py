"""``compliance-monitor outbox list|retry``: see and requeue notifications not yet delivered.

Every notification goes through a persistent outbox in the store. A message that still
fails after ``notify.outbox.max_attempts`` attempts is given up on (a dead letter): the
daemon logs it, counts it in /metrics and shows it on the status page, and keeps it
until an operator requeues it here (or it is pruned).

``list`` shows dead letters first (most recently given up on first), then pending
messages in queue order; ``--json`` prints ``{"version": 1, "messages": [...]}``.
``retry ID`` gives one dead letter a fresh set of attempts; ``retry --all-dead`` every
one. A running daemon picks a requeued message up at its next delivery pass.

Exit codes: 0 done; 1 no such dead letter, or no store.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

import structlog

from monitor.clock import Clock, SystemClock
from monitor.commands.inspect.terminal import CommandIo
from monitor.config import Config
from monitor.errors import StoreError
from monitor.log import redact
from monitor.store import SqlStore, open_store, store_exists, store_name
from monitor.store.base import OutboxMessage, OutboxState

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_NOT_FOUND = 1
JSON_VERSION = 1

#: How many messages of each state ``list`` reads; a backlog larger than this is cut.
LIST_LIMIT = 500


async def run(
    args: argparse.Namespace, config: Config, *, clock: Clock | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Run ``outbox list|retry``; the exit code (see the module docstring)."""
    io = CommandIo.of(out, err)
    if not store_exists(config.store):
        # Do not create a database just to report that it is empty.
        io.say(f"no store at {store_name(config.store)}: the daemon has not run with this "
               "config yet")
        return EXIT_NOT_FOUND
    action = args.outbox_command
    try:
        async with open_store(config.store) as store:
            if action == "list":
                return await _list(store, as_json=bool(args.json), now=_now(clock), io=io)
            if action == "retry":
                return await _retry(
                    store, args.id, all_dead=bool(args.all_dead), now=_now(clock), io=io
                )
    except StoreError as exc:
        io.say(f"error: {redact(str(exc))}")
        return EXIT_NOT_FOUND
    raise AssertionError(action)


def _now(clock: Clock | None) -> datetime:
    return (clock or SystemClock()).now()


async def read_messages(store: SqlStore) -> list[OutboxMessage]:
    """Dead letters (most recently given up on first), then pending messages (queue order)."""
    dead = await store.dead_letters(limit=LIST_LIMIT)
    dead.sort(key=lambda m: (m.next_attempt_at, m.id), reverse=True)
    pending = await store.outbox(state=OutboxState.PENDING, limit=LIST_LIMIT)
    return [*dead, *pending]


def message_json(m: OutboxMessage) -> dict[str, Any]:
    """One message of ``outbox list --json``.

    ``next_attempt_at`` is None for a dead letter, which is never tried again;
    ``failed_at`` is when a dead letter was given up on (None for a pending message).
    """
    dead = m.state is OutboxState.DEAD
    return {
        "id": m.id,
        "state": m.state.value,
        "receiver": m.receiver,
        "group_key": m.group_key,
        "title": m.title,
        "reason": m.reason.value,
        "attempts": m.attempts,
        "next_attempt_at": None if dead else m.next_attempt_at.isoformat(),
        "failed_at": m.next_attempt_at.isoformat() if dead else None,
        "created_at": m.created_at.isoformat(),
        # Stored secret-free; redacted again in case a secret slipped through.
        "last_error": redact(m.last_error),
    }


_HEADERS = ("ID", "STATE", "RECEIVER", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR", "TITLE")


def _cells(m: OutboxMessage, now: datetime) -> list[str]:
    if m.state is OutboxState.DEAD:
        next_attempt = "never (retry to requeue)"
    elif m.next_attempt_at <= now:
        next_attempt = "due now"
    else:
        next_attempt = m.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        str(m.id),
        m.state.value,
        _one_line(m.receiver),
        str(m.attempts),
        next_attempt,
        _one_line(redact(m.last_error), 60) or "—",
        _one_line(m.title, 60),
    ]


def _one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1] + "…"
    return flat


def render_table(messages: Sequence[OutboxMessage], now: datetime) -> str:
    """The human ``outbox list`` table."""
    rows = [list(_HEADERS), *(_cells(m, now) for m in messages)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    return "\n".join(lines) + "\n"


async def _list(store: SqlStore, *, as_json: bool, now: datetime, io: CommandIo) -> int:
    messages = await read_messages(store)
    if as_json:
        doc = {"version": JSON_VERSION, "messages": [message_json(m) for m in messages]}
        io.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return EXIT_OK
    if not messages:
        io.say("the outbox is empty: every message was delivered")
        return EXIT_OK
    io.out.write(render_table(messages, now))
    dead = sum(1 for m in messages if m.state is OutboxState.DEAD)
    if dead:
        io.say(
            f"{dead} dead letter(s): requeue one with `compliance-monitor outbox retry ID` "
            "or every one with `outbox retry --all-dead`"
        )
    return EXIT_OK


async def _retry(
    store: SqlStore, message_id: int | None, *, all_dead: bool, now: datetime, io: CommandIo
) -> int:
    if all_dead:
        ids = [m.id for m in await store.dead_letters(limit=1_000_000)]
    elif message_id is not None:
        ids = [message_id]
    else:
        io.say("error: give a message id or --all-dead")
        return EXIT_NOT_FOUND
    requeued = [i for i in ids if await store.requeue(i, now)]
    for i in requeued:
        log.info("outbox.requeued", message_id=i)
    if not all_dead and not requeued:
        io.say(f"no dead letter {message_id} (outbox list shows them)")
        return EXIT_NOT_FOUND
    print(f"requeued {len(requeued)} message(s): {' '.join(map(str, requeued)) or '-'}",
          file=io.out)
    return EXIT_OK
