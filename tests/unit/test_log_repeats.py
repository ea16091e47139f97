"""A repeated warning is logged once, then summarised; a route's newest problem is kept."""

from __future__ import annotations

import logging

from syncd.service.log_repeats import RepeatSummaryFilter
from syncd.service.route_errors import RouteErrorCollector


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _record(
    message: str, level: int = logging.WARNING, name: str = "syncd.link"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_repeats_are_dropped_then_summarised_with_count_and_last_time() -> None:
    clock = _Clock()
    repeats = RepeatSummaryFilter(summary_interval_seconds=300, clock=clock)
    first = _record("route=a: LivePerson unreachable")
    assert repeats.filter(first)
    dropped = []
    for _ in range(9):
        clock.now += 5
        dropped.append(repeats.filter(_record("route=a: LivePerson unreachable")))
    assert dropped == [False] * 9
    clock.now += 300
    summary = _record("route=a: LivePerson unreachable")

    assert repeats.filter(summary)
    assert "repeated 9 more time(s) since" in summary.getMessage()
    assert "last at" in summary.getMessage()


def test_different_messages_and_info_lines_always_pass() -> None:
    clock = _Clock()
    repeats = RepeatSummaryFilter(clock=clock)
    assert repeats.filter(_record("route=a: down"))
    assert repeats.filter(_record("route=b: down"))
    assert repeats.filter(_record("route=a: down", level=logging.ERROR))
    for _ in range(3):
        assert repeats.filter(_record("route=a: file x.jpg published", level=logging.INFO))
        assert repeats.filter(_record("route=a file=x.jpg: failed: not an image"))


def test_a_message_that_stayed_away_long_enough_counts_as_new() -> None:
    clock = _Clock()
    repeats = RepeatSummaryFilter(
        summary_interval_seconds=300, forget_after_seconds=900, clock=clock
    )
    assert repeats.filter(_record("route=a: down"))
    clock.now += 1000
    again = _record("route=a: down")
    assert repeats.filter(again)
    assert "repeated" not in again.getMessage()


def test_the_collector_keeps_the_newest_problem_of_each_route_redacted() -> None:
    collector = RouteErrorCollector()
    logger = logging.getLogger("tests.route_errors")
    logger.addHandler(collector)
    try:
        logger.warning("route=a: first problem")
        logger.error("route=a: second problem with Authorization: Bearer abc.def.ghi")
        logger.error("route=b: line one\nline two")
        logger.error("no route named here")
        logger.info("route=c: only information")
        latest = collector.drain()
    finally:
        logger.removeHandler(collector)

    assert set(latest) == {"a", "b"}
    assert latest["a"].message.startswith("route=a: second problem")
    assert "abc.def.ghi" not in latest["a"].message
    assert latest["b"].message == "route=b: line one\\nline two"
    assert collector.drain() == {}
