"""The console receiver: messages printed to a text stream (stdout by default)."""

from __future__ import annotations

import html as html_lib
import re
import sys
from typing import TextIO

from monitor.config import ReceiverConfig
from monitor.errors import DeliveryError
from monitor.notify.attachments import console_note
from monitor.notify.outgoing import Outgoing


class ConsoleSender:
    """Prints messages for receivers with ``console: true`` to a text stream; an
    attachment is listed by name and size after the message."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Print the title and body (HTML reduced to text) under a rule line."""
        if not receiver.console:
            return
        stream = self._stream if self._stream is not None else sys.stdout
        body = message.body
        if message.attachments:
            body += "\n" + console_note(message.attachments)
        text = html_to_text(body) if message.body_format == "html" else body
        rule = "-" * 72
        try:
            stream.write(f"{rule}\n[{receiver.name}] {message.title}\n\n{text}\n{rule}\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(
                f"receiver {receiver.name}: console write failed: {exc.__class__.__name__}"
            ) from exc


_TAG = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<(br|/p|/tr|/li|/h\d|/ul|/table)\b[^>]*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """An HTML body as lines of text (tags gone, entities decoded)."""
    text = _BREAKS.sub("\n", html)
    text = _TAG.sub(" ", text)
    lines = [" ".join(line.split()) for line in html_lib.unescape(text).splitlines()]
    return "\n".join(line for line in lines if line)


__all__ = ["ConsoleSender", "html_to_text"]
