"""Escaping per message flavour: what a printed value may and may not do in a body.

Each flavour's Jinja environment runs every printed value through its ``finalize`` hook
(:data:`FINALIZERS`), so device data cannot bring formatting of its own (see
:mod:`monitor.notify.templates`). Filters return :class:`Escaped` text, which the hook
leaves as it is: ``mrkdwn`` (Slack text), ``code`` (inside a code span) and ``url``
(:func:`link_target`: only ``http``/``https`` links, with every character a Markdown
link, an HTML attribute or Slack's ``<url|label>`` could read percent-encoded).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from markupsafe import Markup

from monitor.sources.links import safe_url
from monitor.text import one_line


class Escaped(str):
    """Text already escaped for its flavour: ``finalize`` leaves it as it is."""

    __slots__ = ()


_MD_SPECIALS = str.maketrans({c: "\\" + c for c in "\\`*_[]()#|~!{}<>"})
_MENTIONS = ("@everyone", "@here", "@channel")


def escape_markdown(value: object) -> str:
    """Text for a Markdown body: specials escaped, no mention, link or tag can come alive."""
    text = one_line(str(value)).translate(_MD_SPECIALS)
    for mention in _MENTIONS:
        if mention in text.lower():
            text = _insensitive_replace(text, mention)
    return text.replace("://", ":\u200b//")


def _insensitive_replace(text: str, word: str) -> str:
    """``text`` with a zero-width space after the ``@`` of every ``word`` (any case)."""
    lowered = text.lower()
    out, start = [], 0
    while (i := lowered.find(word, start)) >= 0:
        out.append(text[start:i])
        out.append("@\u200b" + text[i + 1 : i + len(word)])
        start = i + len(word)
    out.append(text[start:])
    return "".join(out)


def _finalize_text(value: object) -> object:
    if isinstance(value, Escaped | Markup) or not isinstance(value, str):
        return value
    return one_line(value)


def _finalize_markdown(value: object) -> object:
    if isinstance(value, Escaped | Markup) or not isinstance(value, str):
        return value
    return escape_markdown(value)


def _finalize_html(value: object) -> object:
    if isinstance(value, str) and not isinstance(value, Markup):
        return one_line(value)
    return value


def mrkdwn(value: object) -> str:
    """Text for a Slack body, escaped once (the flavour's ``finalize`` then leaves it).

    Apprise turns a Markdown body into Slack mrkdwn and escapes ``&`` itself, but passes
    ``<...>`` through as is, where Slack reads it as a link or a mention (a device named
    ``<!channel>`` would page the whole channel).
    """
    return Escaped(escape_markdown(value))


def code(value: object) -> str:
    """Text inside a Markdown code span: apprise escapes it; a backtick would end it."""
    return Escaped(one_line(str(value)).replace("`", "'"))


FINALIZERS: Mapping[str, Callable[[object], object]] = {
    "txt": _finalize_text,
    "md": _finalize_markdown,
    "slack": _finalize_markdown,
    "html": _finalize_html,
}


def link_target(value: object) -> str:
    """A link target: the URL made safe (:func:`monitor.sources.links.safe_url`), or
    empty when it is not an ``http``/``https`` URL."""
    return Escaped(safe_url(one_line(str(value))) or "")


__all__ = ["FINALIZERS", "Escaped", "code", "escape_markdown", "link_target", "mrkdwn"]
