"""What a sweep of one source produces, and the protocol every sweeper follows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.models import Coverage, Device, FactKind, Subject, SubjectKind
from monitor.sources.progress import SweepProgress

__all__ = ["SweepOutcome", "SweepProgress", "Sweeper"]


@dataclass(slots=True)
class SweepOutcome:
    """The fresh facts one sweep of one source observed.

    ``subjects`` maps a device id to its subjects by kind; only devices and kinds named
    in ``coverage`` were observed. ``errors`` holds one short line per failure (no
    secrets); ``ok`` is False when anything the rules need could not be observed.
    ``auth_failed``: the sweep failed because the API refused the token (401/403), which
    the daemon treats apart from transient failures.
    """

    source: str
    devices: dict[str, Device] = field(default_factory=dict)
    subjects: dict[str, dict[SubjectKind, list[Subject]]] = field(default_factory=dict)
    coverage: Coverage = field(default_factory=lambda: Coverage(source=""))
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    ok: bool = True
    auth_failed: bool = False

    def facts(self) -> list[tuple[Device, Mapping[SubjectKind, Sequence[Subject]]]]:
        """Every observed device with its subjects, as the rule engine takes them."""
        return [(d, self.subjects.get(did, {})) for did, d in self.devices.items()]


class Sweeper(Protocol):
    """Sweeps one source: fetch what the enabled rules need, report what was seen.

    ``progress``, when set, hears how far each sweep has come.
    """

    source: str
    progress: SweepProgress | None

    async def sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        """Fetch the facts named by ``needs`` for every device of the source."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...
