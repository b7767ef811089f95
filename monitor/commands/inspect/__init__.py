"""``compliance-monitor status`` and ``compliance-monitor explain``: the operator's shell view.

``status`` answers "what is firing?" from the store file alone (SQLite in WAL mode, so it
reads while the daemon writes) and the silences; it never calls an MDM API. It prints a
table grouped by rule, fitted to the terminal, coloured only on a terminal, or a stable
JSON document with ``--json`` (:mod:`.status`).

``explain DEVICE`` answers "why is (or isn't) this device alerting?": it finds the device
live in its source (by id, serial number or name), fetches the facts the enabled rules
need, runs every rule on them with :func:`monitor.engine.explain`, and adds the device's
alerts and their history from the store and, for Kandji, the device's recent activity
(:mod:`.explain`).

Exit codes::

    0  done
    1  explain: no such device, or a name several devices share (candidates are listed);
       status: there is no store file yet
    2  explain: no enabled source has the name given to --source
    3  explain: a source could not be reached (what could be fetched is still shown)

Terminal helpers (width, colour, cutting with an ellipsis) are in :mod:`.terminal`.
"""

from __future__ import annotations

import argparse

from monitor.commands.inspect.explain import explain_device
from monitor.commands.inspect.status import status
from monitor.commands.inspect.terminal import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    JSON_VERSION,
    CommandIo,
    Terminal,
)
from monitor.config import Config

__all__ = [
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "JSON_VERSION",
    "CommandIo",
    "Terminal",
    "explain_device",
    "run",
    "status",
]


async def run(args: argparse.Namespace, config: Config) -> int:
    """Entry point for ``status`` and ``explain`` (``args.command`` says which)."""
    io = CommandIo.of()
    if args.command == "status":
        return await status(config, as_json=args.json, include_all=args.all, io=io)
    return await explain_device(
        config, args.device, source=args.source, as_json=args.json, io=io
    )
