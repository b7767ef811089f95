"""The documented bodies kept in tests/fixtures are documentation, not inventions: every
copied Kandji example is one the documentation's index lists, and a folder the tests read
whole holds every example the index lists for it."""

from __future__ import annotations

import re

from tests.fixtures import KANDJI_EXAMPLES, applivery_notes, documented_kandji_folders


def _indexed_files() -> set[str]:
    index = (KANDJI_EXAMPLES / "INDEX.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| ([a-z0-9-]+/[a-z0-9-]+/[a-z0-9.-]+) \|", index, re.MULTILINE))


def test_every_copied_example_is_listed_in_the_documentation_index() -> None:
    indexed = _indexed_files()
    copied = {
        p.relative_to(KANDJI_EXAMPLES).as_posix()
        for p in KANDJI_EXAMPLES.rglob("*")
        if p.is_file() and p.name != "INDEX.md"
    }
    assert copied
    assert copied - indexed == set()


def test_every_copied_folder_is_complete() -> None:
    indexed = _indexed_files()
    for folder in {p.parent for p in KANDJI_EXAMPLES.rglob("*") if p.name != "INDEX.md"}:
        if folder.parent.parent != KANDJI_EXAMPLES:
            continue
        rel = folder.relative_to(KANDJI_EXAMPLES).as_posix()
        listed = {f for f in indexed if f.rsplit("/", 1)[0] == rel}
        present = {f"{rel}/{p.name}" for p in folder.iterdir()}
        assert present == listed, rel


def test_the_index_names_the_device_information_requests() -> None:
    folders = documented_kandji_folders("device-information")
    assert {"list-devices", "get-device-details", "get-device-library-items"} <= folders


def test_the_applivery_notes_quote_json_bodies() -> None:
    assert "```json" in applivery_notes()
