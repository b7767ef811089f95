"""join_bounded: a finding's or a message's text is cut at its limit, whatever a template yields."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.sandbox import join_bounded


def test_short_texts_are_joined_whole() -> None:
    assert join_bounded(iter(["a", "b", "c"]), 10) == "abc"
    assert join_bounded([], 10) == ""
    assert join_bounded(["x" * 10], 10) == "x" * 10
    assert join_bounded(["ab"] * 100, 1000) == "ab" * 100


def test_a_long_text_is_cut_at_the_limit() -> None:
    assert join_bounded(["x" * 11], 10) == "x" * 9 + "…"
    assert join_bounded(["ab"] * 100, 51) == ("ab" * 25) + "…"


def test_an_endless_template_is_stopped_soon_after_its_limit() -> None:
    taken = 0

    def endless() -> Iterator[str]:
        nonlocal taken
        while True:
            taken += 1
            yield "chunk "

    text = join_bounded(endless(), 2000)
    assert len(text) == 2000
    assert text.endswith("…")
    assert taken < 2000 // len("chunk ") + 100
