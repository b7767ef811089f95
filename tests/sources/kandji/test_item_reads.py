"""An item's fleet-wide status pages: which rows are parsed, and pages taken as they come."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.models import Device, FactKind, SourceKind, SubjectKind
from monitor.sources.kandji import collections_scope
from monitor.sources.kandji.collections_scope import YOUNG_THRESHOLD, fewer_collections
from monitor.sources.kandji.item_reads import _each_page, take_rows
from monitor.sources.kandji.models import KLibraryItemStatusRow
from monitor.sources.kandji.outcome import Run
from monitor.sources.kandji.planner import ItemRead, PlannerState

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EDR = "threat-security-policy"
Page = tuple[list[dict[str, Any]], int | None]


class CountingClient:
    """What take_rows asks of a client: parsing a row, counted."""

    def __init__(self) -> None:
        self.parsed: list[dict[str, Any]] = []

    def parse(self, model: type[KLibraryItemStatusRow], raw: dict[str, Any], endpoint: str
              ) -> KLibraryItemStatusRow:
        self.parsed.append(raw)
        return model.model_validate(raw)


def run_of(*ids: str) -> Run:
    devices = {
        i: Device(source="acme", source_kind=SourceKind("kandji"), device_id=i, name=i)
        for i in ids
    }
    return Run(devices, frozenset({FactKind.LIBRARY_ITEMS}), 0, {}, T0)


def row(did: str, status: str, **more: Any) -> dict[str, Any]:
    return {"computer": {"id": did, "name": did}, "status": status, **more}


def keep_errors(kind: SubjectKind, status: str, type_: str) -> bool:
    return status == "ERROR" and type_ == EDR


def test_typed_rows_a_rule_cannot_match_are_dropped_unparsed_and_kept_rows_use_their_type(
) -> None:
    client = CountingClient()
    run = run_of("d1", "d2", "d3")
    state = PlannerState()  # the item's own type is unknown: the rows name theirs
    kept: list[Any] = []
    rows = [
        row("d1", "PASS", type=EDR),
        row("d2", "ERROR", type=EDR, log="scan failed"),
        row("d3", "PASS", type=EDR),
    ]
    item = ItemRead("item-edr", "Avert", 3, 1)
    take_rows(client, run, state, keep_errors, item, rows, kept)  # type: ignore[arg-type]
    assert [r["computer"]["id"] for r in client.parsed] == ["d2"]
    assert [(did, s.status, s.type) for did, s in kept] == [("d2", "ERROR", EDR)]
    assert not run.untyped


def test_a_row_whose_type_is_not_text_is_parsed_as_before() -> None:
    client = CountingClient()
    run = run_of("d1")
    state = PlannerState(item_types={"item-edr": EDR})
    kept: list[Any] = []
    take_rows(client, run, state, keep_errors, ItemRead("item-edr", "Avert", 1, 1),  # type: ignore[arg-type]
              [row("d1", "PASS", type=0)], kept)
    assert len(client.parsed) == 1
    assert kept == []


async def test_pages_are_taken_in_order_as_they_arrive_without_waiting_for_the_rest() -> None:
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future[Page]] = [loop.create_future() for _ in range(3)]
    taken: list[list[dict[str, Any]]] = []
    two_taken = asyncio.Event()

    async def page(n: int) -> tuple[list[dict[str, Any]], int | None]:
        return await answers[n]

    def take(rows: list[dict[str, Any]]) -> None:
        taken.append(rows)
        if len(taken) == 2:
            two_taken.set()

    reading = asyncio.create_task(_each_page([page(n) for n in range(3)], take))
    answers[1].set_result(([{"n": 1}], None))
    answers[0].set_result(([{"n": 0}], None))
    await two_taken.wait()
    assert taken == [[{"n": 0}], [{"n": 1}]]  # page 2 still out: 0 and 1 already taken
    answers[2].set_result(([{"n": 2}], None))
    await reading
    assert taken[-1] == [{"n": 2}]


async def test_a_failed_page_raises_after_every_page_was_answered() -> None:
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future[Page]] = [loop.create_future() for _ in range(3)]
    taken: list[Any] = []

    async def page(n: int) -> tuple[list[dict[str, Any]], int | None]:
        return await answers[n]

    reading = asyncio.create_task(_each_page([page(n) for n in range(3)], taken.append))
    answers[0].set_result(([{"n": 0}], None))
    answers[1].set_exception(RuntimeError("page 1 unusable"))
    await asyncio.wait({reading}, timeout=0.05)  # not a sync: proof it does not end early
    assert not reading.done()  # page 2 is still being asked for
    answers[2].set_result(([{"n": 2}], None))
    with pytest.raises(RuntimeError, match="page 1"):
        await reading
    assert taken == [[{"n": 0}]]


async def test_a_cancelled_read_cancels_the_pages_in_flight() -> None:
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future[Page]] = [loop.create_future() for _ in range(2)]
    started: list[asyncio.Task[Any]] = []
    both_started = asyncio.Event()

    async def page(n: int) -> tuple[list[dict[str, Any]], int | None]:
        task = asyncio.current_task()
        assert task is not None
        started.append(task)
        if len(started) == 2:
            both_started.set()
        return await answers[n]

    reading = asyncio.create_task(_each_page([page(n) for n in range(2)], lambda rows: None))
    await both_started.wait()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert all(t.cancelled() for t in started)


def test_fewer_collections_raises_the_young_threshold_until_the_last_user_leaves() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with fewer_collections():
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
            outer_done = fewer_collections()
            outer_done.__enter__()
            with pytest.raises(ValueError, match="a sweep failed"), fewer_collections():
                raise ValueError("a sweep failed")
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
            outer_done.__exit__(None, None, None)
            assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(500_000, 10, 10)  # never lowered
        with fewer_collections():
            assert gc.get_threshold() == (500_000, 10, 10)
        assert gc.get_threshold() == (500_000, 10, 10)
        assert collections_scope._entered == 0
    finally:
        gc.set_threshold(*before)
