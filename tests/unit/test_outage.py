"""Outage rules: the reconnect schedule, the outage notices, and a route thread's wait."""

from __future__ import annotations

import pytest

from syncd import rules
from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    LinkDownError,
    RequestRejectedError,
)
from syncd.liveperson.link_health import LINK_DOWN_RECHECK_SECONDS, LinkHealth, LinkWaiter
from syncd.liveperson.retrying import ReconnectBackoff, is_link_failure, is_retryable
from syncd.rules import OutageChange, OutageWatch


@pytest.mark.parametrize(
    ("attempts", "fraction", "expected"),
    [(1, 1.0, 1.0), (2, 1.0, 2.0), (4, 1.0, 8.0), (5, 1.0, 10.0), (40, 1.0, 10.0), (5, 0.5, 5.0)],
)
def test_reconnect_waits_grow_to_a_10_second_ceiling_with_full_jitter(
    attempts: int, fraction: float, expected: float
) -> None:
    assert rules.reconnect_delay_seconds(attempts, fraction) == expected
    # Full jitter: any wait from zero to the ceiling.
    assert rules.reconnect_delay_seconds(attempts, 0.0) == 0.0


def test_a_retry_after_is_the_shortest_reconnect_wait() -> None:
    assert rules.reconnect_delay_seconds(9, 0.1, retry_after_seconds=120.0) == 120.0
    assert rules.reconnect_delay_seconds(9, 1.0, retry_after_seconds=2.0) == 10.0


@pytest.mark.parametrize(("attempts", "fraction"), [(0, 0.5), (1, -0.1), (1, 1.5)])
def test_reconnect_delay_refuses_impossible_inputs(attempts: int, fraction: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        rules.reconnect_delay_seconds(attempts, fraction)


def test_the_reconnect_backoff_honours_the_servers_hint() -> None:
    hinted = ConnectionLostError("upgrade refused with HTTP 503", retry_after_seconds=40.0)
    assert ReconnectBackoff().wait_seconds(1, hinted) == 40.0
    assert 0.0 <= ReconnectBackoff().wait_seconds(30, None) <= 10.0
    assert ReconnectBackoff(waits_enabled=False).wait_seconds(30, hinted) == 0.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45.9, "45 s"), (612, "10 min 12 s"), (7500, "2 h 5 min"), (-3, "0 s")],
)
def test_durations_read_like_people_say_them(seconds: float, text: str) -> None:
    assert rules.format_duration(seconds) == text


def test_an_outage_is_told_when_it_starts_every_minute_while_it_lasts_and_when_it_ends() -> None:
    watch = OutageWatch(summary_interval_seconds=60.0)
    assert watch.observe(None, 1000.0) is None
    started = watch.observe(1000.0, 1000.5)
    assert started is not None and started.change == OutageChange.STARTED
    assert watch.observe(1000.0, 1030.0) is None
    ongoing = watch.observe(1000.0, 1061.0)
    assert ongoing is not None and ongoing.change == OutageChange.ONGOING
    assert ongoing.lasted_seconds == 61.0
    assert watch.observe(1000.0, 1100.0) is None
    # A new outage right after an unseen recovery continues the first one.
    assert watch.observe(1105.0, 1110.0) is None
    ended = watch.observe(None, 1612.0)
    assert ended is not None and ended.change == OutageChange.ENDED
    assert (ended.down_since, rules.format_duration(ended.lasted_seconds)) == (
        1000.0,
        "10 min 12 s",
    )
    assert watch.observe(None, 1700.0) is None


def test_link_failures_are_the_links_and_4xx_are_the_files() -> None:
    assert is_link_failure(LinkDownError("down"))
    assert not is_retryable(LinkDownError("down"))  # waited for, not retried in the call
    assert is_link_failure(ConnectionLostError("closed with 1011"))
    assert is_link_failure(RequestRejectedError("ms.PublishEvent", 503, "busy"))
    assert is_link_failure(RequestRejectedError("ms.PublishEvent", 429, "slow down"))
    assert not is_link_failure(RequestRejectedError("ms.PublishEvent", 400, "bad"))


def test_an_outage_starts_with_a_link_failure_and_ends_with_a_connect() -> None:
    health = LinkHealth()
    health.failed(RequestRejectedError("cm.ConsumerRequestConversation", 400, "bad"), 10.0)
    assert health.offline_since is None  # a refusal about us is no outage
    health.failed(ConnectionLostError("refused"), 11.0)
    health.failed(ConnectionLostError("refused"), 12.0)
    assert (health.offline_since, health.failures) == (11.0, 3)
    assert health.backoff_seconds(ReconnectBackoff(waits_enabled=False), 12.0) == 0.0
    health.succeeded()
    assert (health.offline_since, health.failures, health.connections) == (None, 0, 1)


def test_a_route_thread_waits_for_the_link_until_it_connects_again() -> None:
    health = LinkHealth()
    waiter = LinkWaiter(health, ReconnectBackoff())
    assert waiter.seconds_left(100.0) == 0.0
    health.failed(ConnectionLostError("refused"), 100.0)
    assert waiter.failed(LinkDownError("down"), 100.0) == LINK_DOWN_RECHECK_SECONDS
    assert waiter.waiting
    assert waiter.seconds_left(130.0) == LINK_DOWN_RECHECK_SECONDS - 30.0
    health.succeeded()  # the link is back: go at once
    assert waiter.seconds_left(131.0) == 0.0
    # A failure while the link is up (storage 503) waits like a reconnect, at most 10 s.
    assert 0.0 <= waiter.failed(ConnectionLostError("storage 503"), 132.0) <= 10.0
    waiter.succeeded()
    assert not waiter.waiting
    assert waiter.seconds_left(132.0) == 0.0


def test_a_connect_made_during_the_failing_step_does_not_cut_its_retry_after_short() -> None:
    health = LinkHealth()
    waiter = LinkWaiter(health, ReconnectBackoff())
    assert waiter.seconds_left(0.0) == 0.0
    health.succeeded()  # the step's own first connect
    asked = ConnectionLostError("storage answered 503", retry_after_seconds=40.0)
    assert waiter.failed(asked, 1.0) == 40.0
    assert waiter.seconds_left(11.0) == 30.0
    health.succeeded()  # a reconnect after the failure: go at once
    assert waiter.seconds_left(12.0) == 0.0


def test_a_refusal_a_person_must_fix_is_retried_on_the_durable_schedule() -> None:
    rejected = AuthenticationError("the connector does not hold this key")
    waits = [ReconnectBackoff().wait_seconds(attempt, rejected) for attempt in (1, 2, 3, 4)]
    # The schedule's waits (jitter only lengthens them), never the link's 10 s ceiling.
    for wait, scheduled in zip(waits, (5.0, 10.0, 15.0, 120.0), strict=True):
        assert scheduled <= wait <= scheduled * 1.25
