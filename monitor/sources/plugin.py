"""A base for a :class:`~monitor.sources.base.Source` plugin (:class:`VendorSource`).

A vendor package subclasses it, writes ``build`` and ``lookup``, and overrides what its
API does differently; the rest are the answers most vendors give.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from monitor.models import SubjectKind
from monitor.settings import SourceBase
from monitor.sources.base import DemoTenant, RunningSimulator, SimulatorOptions
from monitor.sources.catalogue import FieldCatalogue

if TYPE_CHECKING:
    from monitor.actions.base import Executor


ConfigT = TypeVar("ConfigT", bound=SourceBase)


class VendorSource(Generic[ConfigT]):
    """The parts of a :class:`~monitor.sources.base.Source` most vendors share, for a
    plugin to subclass.

    It holds the kind, config model and field catalogue, narrows a config to the
    vendor's model (:meth:`checked`), and answers as a vendor with nothing special to
    say would: the tenant is the API URL, every status is documented, the console is
    ``console_url`` (else :meth:`default_console_url`), no device page, no actions, no
    simulator. A vendor writes ``build`` and ``lookup`` and overrides what its API does
    differently.
    """

    def __init__(self, kind: str, config_model: type[ConfigT], fields: FieldCatalogue) -> None:
        self.kind = kind
        self.config_model = config_model
        self.fields = fields

    def checked(self, config: SourceBase) -> ConfigT:
        """``config`` as this vendor's config model (TypeError for another vendor's)."""
        if not isinstance(config, self.config_model):
            raise TypeError(f"a {self.kind} source cannot use a {type(config).__name__}")
        return config

    def tenant(self, config: SourceBase) -> tuple[str, ...]:
        """A tenant is its API URL."""
        return (config.url,)

    def status_is_known(self, kind: SubjectKind, status: str) -> bool:
        """Every status is taken as it is."""
        return True

    def console_url(self, config: SourceBase) -> str | None:
        """``console_url`` when configured, else :meth:`default_console_url`."""
        return config.console_url or self.default_console_url(self.checked(config))

    def default_console_url(self, config: ConfigT) -> str | None:
        """The console the config's other settings point to (None: none known)."""
        return None

    def device_link(self, console_url: str, device_id: str) -> str | None:
        """None: no documented device page (links open the console)."""
        return None

    def executors(self) -> Sequence[Executor]:
        """No remediation actions."""
        return ()

    def simulator(self, options: SimulatorOptions) -> Awaitable[RunningSimulator] | None:
        """No simulator."""
        return None

    def demo(
        self, *, devices: int, seed: int, token: str, repair_after: float
    ) -> Awaitable[DemoTenant] | None:
        """No part in the demo."""
        return None



__all__ = ["ConfigT", "VendorSource"]
