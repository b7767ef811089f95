"""Files sent with a message (a digest's chart), and what stands in for them where a
channel takes none.

A message carries its files (:class:`~monitor.notify.outgoing.Outgoing`); which channels
take files is for the
sender to say (it alone knows apprise: see
:func:`monitor.notify.sender.takes_attachments`); what a channel without attachments
gets instead is here: :func:`with_links` adds one line per file to the body, its
``link`` when one is configured (a digest's ``chart_link``), else a note saying the file
is not attached. The console lists the files' names and sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from monitor.store.base import BodyFormat


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message (a digest's chart). ``link``: where it can be seen
    instead, for targets that take no attachment."""

    name: str
    data: bytes
    link: str | None = None

    def __repr__(self) -> str:
        return f"Attachment({self.name!r}, {len(self.data)} bytes)"


def _is_http(url: str) -> bool:
    return url.lower().startswith(("https://", "http://")) and not any(
        ch.isspace() or not ch.isprintable() for ch in url
    )


def with_links(body: str, body_format: BodyFormat, attachments: Sequence[Attachment]) -> str:
    """``body`` plus one line per attachment: where to see it (its ``link``), or a note
    that this channel could not carry it. A link that is not http(s) counts as none."""
    lines = []
    for a in attachments:
        if a.link and _is_http(a.link):
            lines.append((f'<p>{escape(a.name)} (not attached on this channel): '
                          f'<a href="{escape(a.link)}">{escape(a.link)}</a></p>')
                         if body_format == "html"
                         else f"{a.name} (not attached on this channel): {a.link}")
        else:
            note = (f"{a.name} could not be attached on this channel "
                    "(a digest's chart_link can point to where it is shown).")
            lines.append(f"<p><em>{escape(note)}</em></p>" if body_format == "html" else note)
    if not lines:
        return body
    if body_format == "html" and "</body>" in body:
        return body.replace("</body>", "\n".join(lines) + "\n</body>", 1)
    return body + "\n\n" + "\n".join(lines)


def console_note(attachments: Sequence[Attachment]) -> str:
    """What the console prints for attachments: one line each, name and size."""
    return "\n".join(f"[attached: {a.name}, {len(a.data)} bytes]" for a in attachments)


__all__ = ["Attachment", "console_note", "with_links"]
