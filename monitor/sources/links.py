"""Links into an MDM's web console: the page of one device, or the console to find it in.

A source's console is its ``console_url`` setting or the one its plugin derives
(:meth:`~monitor.sources.base.Source.console_url`). The link to a device is then:

- the setting with ``{device_id}`` replaced by the (URL-quoted) id, when the setting is
  such a template: this works for every kind, and is how an administrator points links
  at a page the vendor does not document;
- else the page the plugin knows (:meth:`~monitor.sources.base.Source.device_link`,
  Kandji: ``{console}/devices/{id}``);
- else, when the plugin knows no device page (Applivery documents none), the console
  itself, marked ``exact=False`` so messages and the status page say so.

Every link is made safe to print in a Markdown link target, an HTML attribute or a
plain-text line: characters outside a URL's own punctuation (spaces, ``<``, ``>``,
``(``, ``)``, ``|``, quotes, backticks, non-ASCII) are percent-encoded, and only
``http``/``https`` links exist at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from monitor.settings import SourceBase
from monitor.sources import registry

DEVICE_ID_PLACEHOLDER = "{device_id}"

#: What stays as is in a link: RFC 3986's reserved and unreserved characters, and ``%``
#: (already-encoded octets), minus ``(``, ``)`` and ``*`` that Markdown reads.
_URL_SAFE = ":/?#[]@!$&'+,;=%-._~"


@dataclass(frozen=True, slots=True)
class DeviceLink:
    """Where a device can be opened: ``exact`` when ``url`` is the device's own page,
    not when it is the console the device can be found in (by its serial)."""

    url: str
    exact: bool


def safe_url(url: str) -> str | None:
    """``url`` with every character a message format could read percent-encoded, or
    None unless it is an ``http``/``https`` URL."""
    if not url.lower().startswith(("https://", "http://")):
        return None
    return quote(url, safe=_URL_SAFE)


def device_link(
    source_kind: str, console_url: str | None, device_id: str
) -> DeviceLink | None:
    """The link to a device of a ``source_kind`` source whose console is ``console_url``
    (see the module docstring); None without a console, an id or a usable URL."""
    if not console_url or not device_id:
        return None
    if DEVICE_ID_PLACEHOLDER in console_url:
        page: str | None = console_url.replace(
            DEVICE_ID_PLACEHOLDER, quote(device_id, safe="")
        )
    else:
        try:
            page = registry.get(source_kind).device_link(console_url, device_id)
        except KeyError:  # a kind no longer registered: no page known
            page = None
    url = safe_url(page or console_url)
    return None if url is None else DeviceLink(url, exact=page is not None)


def device_console_link(
    source_kind: str, console_url: str | None, device_id: str
) -> str | None:
    """The address :func:`device_link` gives (exact or not), or None."""
    link = device_link(source_kind, console_url, device_id)
    return None if link is None else link.url


class ConsoleLinks:
    """Device links by source name, for the configured sources (messages use it)."""

    def __init__(self, consoles: Mapping[str, tuple[str, str | None]] | None = None) -> None:
        self._consoles = dict(consoles or {})

    @classmethod
    def of(cls, sources: Iterable[SourceBase]) -> ConsoleLinks:
        """The consoles of ``sources`` (their setting, or what their plugin derives)."""
        consoles: dict[str, tuple[str, str | None]] = {}
        for src in sources:
            try:
                url = registry.get(src.kind).console_url(src)
            except KeyError:
                url = src.console_url
            consoles[src.name] = (src.kind, url)
        return cls(consoles)

    def __repr__(self) -> str:
        return f"ConsoleLinks(sources={sorted(self._consoles)})"

    def __bool__(self) -> bool:
        return any(url for _, url in self._consoles.values())

    def link(self, source: str, device_id: str) -> DeviceLink | None:
        """The link to ``device_id`` of the source named ``source``, or None."""
        kind, url = self._consoles.get(source, ("", None))
        return device_link(kind, url, device_id) if kind else None


__all__ = [
    "DEVICE_ID_PLACEHOLDER",
    "ConsoleLinks",
    "DeviceLink",
    "device_console_link",
    "device_link",
    "safe_url",
]
