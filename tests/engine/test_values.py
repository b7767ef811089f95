"""Reading fact values: versions compare part by part, timestamps become aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from monitor.engine.values import as_bool, as_timestamp, as_version

parts = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=5)


def _norm(p: list[int]) -> tuple[int, ...]:
    out = list(p)
    while len(out) > 1 and out[-1] == 0:
        out.pop()
    return tuple(out)


@given(parts, parts)
def test_versions_order_like_their_numeric_parts(a: list[int], b: list[int]) -> None:
    va, vb = as_version(".".join(map(str, a))), as_version(".".join(map(str, b)))
    assert va is not None
    assert vb is not None
    assert (va < vb) == (_norm(a) < _norm(b))
    assert (va == vb) == (_norm(a) == _norm(b))


def test_version_forms() -> None:
    assert as_version("v14.4.1") == (14, 4, 1)
    assert as_version("17.5.1 (21F90)") == (17, 5, 1)
    assert as_version(14) == (14,)
    assert as_version(14.1) is None
    assert as_version("Sonoma") is None
    assert as_version(True) is None


def test_timestamp_forms() -> None:
    want = datetime(2024, 7, 23, 14, 11, 37, tzinfo=UTC)
    assert as_timestamp("2024-07-23T14:11:37Z") == want
    assert as_timestamp("2024-07-23 16:11:37+02:00") == want
    assert as_timestamp(datetime(2024, 7, 23, 14, 11, 37)) == want  # naive is UTC
    assert as_timestamp(want.astimezone(timezone(timedelta(hours=-5)))) == want
    assert as_timestamp(date(2024, 7, 23)) == datetime(2024, 7, 23, tzinfo=UTC)
    assert as_timestamp("") is None
    assert as_timestamp("yesterday") is None


def test_vendor_booleans() -> None:
    assert [as_bool(v) for v in (True, "True", "yes", "0", "False", "maybe", 1)] == [
        True,
        True,
        True,
        False,
        False,
        None,
        None,
    ]
