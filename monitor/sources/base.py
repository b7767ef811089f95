"""The Source plugin seam: what a vendor package offers, and what its sweeps produce.

A vendor is one package under :mod:`monitor.sources` (``kandji/``, ``applivery/``)
exposing one :class:`Source`; :mod:`monitor.sources.registry` maps the config's
``kind`` to it. Everything vendor-specific reaches the rest of the monitor through it:

- ``config_model``: the pydantic model of the source's config (``kind`` a Literal);
- :meth:`Source.build`: the API client and the :class:`Sweeper` of one configured
  source, from its config, the clock, the tenant's request budget and a metrics hook;
- ``fields``: the rule-field catalogue the engine checks rule files against;
- :meth:`Source.status_is_known`: whether the API documents a subject's status (an
  undocumented one holds its alert instead of resolving it);
- :meth:`Source.console_url` / :meth:`Source.device_link`: links into the MDM console;
- :meth:`Source.lookup`: the ``explain`` command's live look-up of one device;
- :meth:`Source.executors`: the remediation actions the source offers;
- :meth:`Source.simulator`: a simulated API for ``simulate`` and ``demo`` (optional).

:class:`~monitor.sources.plugin.VendorSource` is a base for a plugin, with the answers
most vendors give.

A sweep produces one :class:`SweepOutcome`; a terminal progress bar listens through
the one :class:`SweepProgress` protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack, runtime_checkable

from pydantic import SecretStr

from monitor.clock import Clock
from monitor.models import Coverage, Device, FactKind, SourceKind, Subject, SubjectKind
from monitor.settings import SourceBase
from monitor.sources.budget import RequestBudget
from monitor.sources.catalogue import FieldCatalogue
from monitor.sources.http import ClientOptions
from monitor.sources.progress import SweepProgress
from monitor.sources.transport import RequestHook

if TYPE_CHECKING:
    from monitor.actions.base import Executor
    from monitor.engine import RuleSet


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


class BuildContext(TypedDict):
    """What :meth:`Source.build` is given besides the source's config.

    ``token`` is already resolved (from the environment or a file); ``budget`` is the
    tenant's, shared by every source of the tenant; ``on_request`` hears each HTTP
    attempt (metrics); ``rules``, when given, lets a sweeper skip what no enabled rule
    could match.
    """

    clock: Clock
    token: SecretStr
    budget: RequestBudget
    on_request: RequestHook | None
    rules: RuleSet | None


def client_options(context: BuildContext) -> ClientOptions:
    """The options of a vendor client built in :meth:`Source.build`."""
    return {
        "token": context["token"],
        "budget": context["budget"],
        "on_request": context["on_request"],
    }


@runtime_checkable
class Remembers(Protocol):
    """A sweeper whose memory of earlier sweeps saves requests (which per-device reads
    are still fresh, say). The memory is kept in the store as text entries, so a
    restarted daemon, or the instance that takes the source over, starts from it
    instead of reading the whole fleet again. Values are the sweeper's own encoding;
    what it reads back may be stale, damaged or from an older release, and must be
    checked like any other input."""

    def memo_changes(self) -> dict[str, str | None]:
        """The entries changed since the last call (None: the entry is gone)."""
        ...

    def restore_memo(self, entries: Mapping[str, str]) -> None:
        """Start from ``entries`` (what the store kept), dropping what is unusable."""
        ...


@runtime_checkable
class Cadenced(Protocol):
    """A sweeper that says how soon its next sweep should come, from what its budget
    affords (Kandji's paced sweeps); the configured interval stays the longest wait."""

    @property
    def cadence(self) -> float | None:
        """Seconds from the last sweep's start to the next one's (None: the interval)."""
        ...


def cadence_of(sweeper: object, interval: float) -> float:
    """The time between two sweeps of ``sweeper``: its own :attr:`Cadenced.cadence`
    when it has one, within ``(0, interval]``; else ``interval``."""
    own = sweeper.cadence if isinstance(sweeper, Cadenced) else None
    return interval if own is None or own <= 0 else min(own, interval)


@dataclass(frozen=True, slots=True)
class SourceParts:
    """What :meth:`Source.build` returns for one configured source.

    ``client`` is the vendor's API client (actions call through it, spending the same
    budget as the sweeps); ``sweeper`` sweeps the source.
    """

    client: Any
    sweeper: Sweeper


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One entry of a device's activity feed in the MDM."""

    at: datetime | None
    action: str
    summary: str
    details: Any = None


@dataclass(slots=True)
class DeviceFacts:
    """What ``explain`` fetched for one device.

    ``fetched``: the fact kinds observed fresh; ``errors``: what could not be fetched
    (one line each, no secrets); ``activity`` is newest first (None when the source has
    no activity feed).
    """

    source: str
    source_kind: SourceKind
    device: Device
    subjects: dict[SubjectKind, list[Subject]] = field(default_factory=dict)
    fetched: set[FactKind] = field(default_factory=lambda: {FactKind.DEVICE})
    activity: list[ActivityEntry] | None = None
    activity_error: str = ""
    errors: list[str] = field(default_factory=list)


class DeviceLookup(Protocol):
    """Finds devices in one source and fetches what the rules need about one of them."""

    @property
    def src(self) -> SourceBase:
        """The source's config (its retries capped for interactive use)."""
        ...

    async def devices(self) -> list[Device]:
        """Every device of the source, mapped from the device list alone."""
        ...

    async def facts(self, device: Device, needs: frozenset[FactKind]) -> DeviceFacts:
        """The facts of ``device`` that ``needs`` names (and its recent activity)."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    """How ``simulate`` and ``demo`` want a simulated API served."""

    host: str = "127.0.0.1"
    port: int = 0
    devices: int = 40
    seed: int = 7
    token: str = "sim-token"  # noqa: S105 - the simulator's, not a secret
    organization: str = "acme"
    latency_ms: float = 0.0
    per_second: int | None = None
    per_hour: int | None = None
    evolve_every: float | None = None
    rival_per_hour: float = 0.0  # what the tenant's other integrations spend (Kandji)

    def start_options(self) -> SimulatorStart:
        """What every vendor's simulator is started with (besides where it listens)."""
        return SimulatorStart(
            devices=self.devices, seed=self.seed, token=self.token,
            latency_ms=self.latency_ms, per_second=self.per_second, per_hour=self.per_hour,
            evolve_every=self.evolve_every,
        )


class SimulatorStart(TypedDict):
    """The options of :meth:`SimulatorOptions.start_options`."""

    devices: int
    seed: int
    token: str
    latency_ms: float
    per_second: int | None
    per_hour: int | None
    evolve_every: float | None


class RunningSimulator(Protocol):
    """A simulated API serving on loopback."""

    base_url: str
    what: str
    """What it simulates, for one line of output (``Kandji tenant``)."""

    def add_fault(self, path: str, kind: str, *, probability: float = 1.0) -> None:
        """Inject a fault on paths matching ``path`` (ValueError for an unknown kind)."""
        ...

    async def stop(self) -> None:
        """Stop serving."""
        ...


@dataclass(slots=True)
class ServedSimulator:
    """A :class:`RunningSimulator` over a simulator object and its aiohttp runner."""

    base_url: str
    what: str
    sim: Any
    runner: Any

    def add_fault(self, path: str, kind: str, *, probability: float = 1.0) -> None:
        """Inject a fault into the simulator."""
        self.sim.add_fault(path, kind, probability=probability)

    async def stop(self) -> None:
        """Stop the server."""
        await self.runner.cleanup()


@dataclass(slots=True)
class DemoTenant:
    """One simulated tenant of the demo, with planted problems, and its config entry.

    ``source`` is the entry of the demo config's ``sources`` (without the token, which
    the demo adds); ``served`` is the simulator serving it.
    """

    source: dict[str, Any]
    served: ServedSimulator


class Source(Protocol):
    """One vendor, as the rest of the monitor sees it (see the module docstring)."""

    @property
    def kind(self) -> str:
        """The config's ``kind`` and every finding's ``source_kind``."""
        ...

    @property
    def config_model(self) -> type[SourceBase]:
        """The pydantic model of the source's config (``kind`` narrowed to a Literal)."""
        ...

    @property
    def fields(self) -> FieldCatalogue:
        """The facts the source reports, by subject kind (the rule engine's catalogue)."""
        ...

    def build(self, config: SourceBase, **context: Unpack[BuildContext]) -> SourceParts:
        """The client and sweeper of one configured source (see :class:`BuildContext`)."""
        ...

    def tenant(self, config: SourceBase) -> tuple[str, ...]:
        """What identifies the tenant: sources with equal tenants share one budget."""
        ...

    def status_is_known(self, kind: SubjectKind, status: str) -> bool:
        """Whether the API documents ``status`` for subjects of ``kind``."""
        ...

    def console_url(self, config: SourceBase) -> str | None:
        """The source's web console: its ``console_url`` or one derived from its URL."""
        ...

    def device_link(self, console_url: str, device_id: str) -> str | None:
        """A device's page under ``console_url`` (no ``{device_id}`` placeholder in it),
        or None when the vendor documents no device page (links then open the console,
        marked as such: :mod:`monitor.sources.links`)."""
        ...

    def lookup(self, config: SourceBase, clock: Clock, *, budget_max_wait: float) -> DeviceLookup:
        """The ``explain`` command's look-up in one source."""
        ...

    def executors(self) -> Sequence[Executor]:
        """The remediation actions this source offers."""
        ...

    def simulator(self, options: SimulatorOptions) -> Awaitable[RunningSimulator] | None:
        """Start a simulated API of this vendor, or None when there is none."""
        ...

    def demo(
        self, *, devices: int, seed: int, token: str, repair_after: float
    ) -> Awaitable[DemoTenant] | None:
        """Start this vendor's part of ``compliance-monitor demo``, or None to sit it out."""
        ...


__all__ = [
    "ActivityEntry",
    "BuildContext",
    "Cadenced",
    "DemoTenant",
    "DeviceFacts",
    "DeviceLookup",
    "RequestHook",
    "RunningSimulator",
    "ServedSimulator",
    "SimulatorOptions",
    "SimulatorStart",
    "Source",
    "SourceParts",
    "SweepOutcome",
    "SweepProgress",
    "Sweeper",
    "cadence_of",
    "client_options",
]
