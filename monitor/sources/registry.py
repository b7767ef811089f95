"""The registry of sources: the config's ``kind`` -> the vendor's :class:`Source`.

The shipped vendors are listed in :data:`BUILTIN`, one entry per package; each package
exposes its plugin as ``SOURCE``. Adding a vendor is a new package under
:mod:`monitor.sources` plus one entry here (see the README's development section); a
test or an extension may also :func:`register` one at run time.

Nothing outside the vendor packages names a vendor: the config's union of source
configs, the rule engine's field catalogue, the daemon's sweepers, the console links,
``explain``, the actions and ``simulate`` all ask this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

from monitor.settings import SourceBase

if TYPE_CHECKING:
    from monitor.sources.base import Source

BUILTIN: tuple[str, ...] = (
    "monitor.sources.kandji",
    "monitor.sources.applivery",
)
"""The shipped source packages, in the order they are listed to users."""

_sources: dict[str, Source] = {}
_listeners: list[Callable[[], None]] = []
_version = 0
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN:
        source: Source = importlib.import_module(module).SOURCE
        _sources.setdefault(source.kind, source)


def register(source: Source) -> None:
    """Add (or replace) the source of ``source.kind``; the config and catalogue follow."""
    global _version
    _load_builtin()
    _sources[source.kind] = source
    _version += 1
    for listener in list(_listeners):
        listener()


def unregister(kind: str) -> None:
    """Remove the source of ``kind`` (a test's own vendor, when the test ends)."""
    global _version
    _load_builtin()
    if _sources.pop(kind, None) is not None:
        _version += 1
        for listener in list(_listeners):
            listener()


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` after every :func:`register` and :func:`unregister`."""
    _listeners.append(listener)


def version() -> int:
    """A number that changes whenever the registered sources change."""
    return _version


def sources() -> tuple[Source, ...]:
    """Every registered source, the shipped ones first."""
    _load_builtin()
    return tuple(_sources.values())


def kinds() -> tuple[str, ...]:
    """The ``kind`` of every registered source."""
    return tuple(s.kind for s in sources())


def get(kind: str) -> Source:
    """The source of ``kind``; KeyError naming the known kinds when there is none."""
    _load_builtin()
    try:
        return _sources[str(kind)]
    except KeyError:
        raise KeyError(f"no source of kind {kind!r} (known: {', '.join(kinds())})") from None


def config_union() -> Any:
    """The discriminated union (on ``kind``) of every registered source's config model."""
    models = tuple(s.config_model for s in sources())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    SourceConfig = SourceBase
else:
    SourceConfig = config_union()
"""Any source's config (at run time the union of the registered ones)."""


__all__ = [
    "BUILTIN",
    "SourceConfig",
    "config_union",
    "get",
    "kinds",
    "on_change",
    "register",
    "sources",
    "unregister",
    "version",
]
