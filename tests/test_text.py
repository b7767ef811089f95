"""Free-text cleaning: the quick path (text printable but for line breaks and tabs)
must give exactly what the character-by-character cleaning gives."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from monitor.text import MAX_TEXT, clean_text

# Line breaks and tabs, the characters the cleaning removes (controls, bidi and
# zero-width format characters, line and paragraph separators) and some it keeps
# (a no-break space, letters, emoji), mixed in with ordinary text.
CHARS = st.sampled_from(
    ["\n", "\t", "\r", "\x1b", "\x00", "\u202e", "\u200b", "\u2028", "\u2029",
     "\u00a0", "é", "→", "😀", " ", "a", "Z", "0", "["]
)


def reference(value: str) -> str:
    kept = []
    for ch in value:
        unsafe = ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        kept.append(" " if unsafe else ch)
    return "".join(kept)


@given(st.lists(CHARS | st.text(max_size=5), max_size=40).map("".join))
@example("log\x1b[31mred\nnext")
@example("a\rb\tc")
@example("nul\x00")
@example("zero\u200bwidth\n")
@example("line\u2028sep")
@example("no-break\u00a0space\n")
def test_clean_text_keeps_breaks_and_removes_every_control(value: str) -> None:
    assert clean_text(value, limit=MAX_TEXT) == reference(value)


def test_a_log_with_only_line_breaks_and_tabs_is_unchanged() -> None:
    log = "Downloading Zoom\nDownload finished.\n\tInstalling Zoom\nInstall finished."
    assert clean_text(log) == log


def test_an_escape_sequence_in_a_log_is_neutralised() -> None:
    assert clean_text("ok\n\x1b[2J\u202egnp.exe") == "ok\n [2J gnp.exe"
