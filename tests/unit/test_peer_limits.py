"""The pure parts of the peer limits: JSON size and nesting, sequences, deadline alarms."""

from __future__ import annotations

import threading

import pytest

from syncd.errors import ProtocolError
from syncd.liveperson import notifications, protocol
from syncd.liveperson.deadlines import Watchdog
from syncd.liveperson.limits import (
    MAX_SEQUENCE,
    PeerLimitError,
    checked_sequence,
    json_depth_exceeds,
    load_json,
)


def test_nesting_is_counted_outside_strings_only() -> None:
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 3)
    assert not json_depth_exceeds(b'["\\"[[[[[[[[", [[1]]]', 3)
    assert json_depth_exceeds(b'["\\"[[[[[[[[", [[[1]]]]', 3)
    assert json_depth_exceeds(b"[" * 4 + b"]" * 4, 3)
    assert not json_depth_exceeds(b"[[[]]][[[]]][[[]]]", 3)


def test_an_unterminated_string_full_of_escaped_quotes_is_scanned_in_one_pass() -> None:
    # A backtracking pattern would take quadratic time on this (minutes at 8 MB).
    text = b"[" * 40 + b'"\\"' * 2_000_000
    assert json_depth_exceeds(text, 32)


def test_load_json_refuses_size_and_depth_before_parsing_and_never_recurses() -> None:
    with pytest.raises(PeerLimitError, match="more than the limit of 10"):
        load_json(b"[" + b"1," * 10 + b"1]", "the answer", 10)
    with pytest.raises(PeerLimitError, match="nests deeper than 32"):
        load_json("[" * 100_000 + "]" * 100_000, "the answer", 10**7)
    with pytest.raises(ProtocolError, match="not JSON"):
        load_json(b"{", "the answer", 10)
    assert load_json('{"a": [1, {"b": "\\u202e"}]}', "the answer", 100) == {
        "a": [1, {"b": "\u202e"}]
    }


@pytest.mark.parametrize("value", [True, False, 2**63, 2**62, MAX_SEQUENCE + 1, -1, 1.0, "3"])
def test_an_insane_sequence_is_refused(value: object) -> None:
    with pytest.raises(PeerLimitError):
        checked_sequence(value)


def test_sane_sequences_pass_and_a_missing_one_is_none() -> None:
    assert [checked_sequence(v) for v in (0, 7, MAX_SEQUENCE, None)] == [0, 7, MAX_SEQUENCE, None]


def test_a_frame_with_insane_sequences_keeps_its_sane_events_and_names_the_others() -> None:
    def change(sequence: object) -> dict[str, object]:
        return {"dialogId": "c1", "sequence": sequence, "event": {"type": "ContentEvent"}}

    body = {"changes": [change(True), change(2**63), change(4), change(None)]}
    events, refused = notifications.parse_messaging_events_checked(body)
    assert [event.sequence for event in events] == [4, None]
    assert len(refused) == 2 and all("c1" in reason for reason in refused)


def test_a_frame_nested_too_deep_is_a_peer_limit_error() -> None:
    with pytest.raises(PeerLimitError):
        protocol.parse_frame(
            '{"kind":"notification","type":"x","body":' + "[" * 5000 + "]" * 5000 + "}"
        )


def test_an_alarm_fires_once_at_its_time_and_a_cancelled_one_never() -> None:
    watchdog = Watchdog()
    fired = threading.Event()
    count: list[int] = []

    def action() -> None:
        count.append(1)
        fired.set()

    cancelled = watchdog.arm(0.05, lambda: count.append(100))
    assert cancelled.cancel() is False
    alarm = watchdog.arm(0.05, action)
    assert fired.wait(10)
    assert alarm.cancel() is True and alarm.fired
    alarm.fire()  # a second fire does nothing
    assert count == [1]


def test_an_alarm_armed_later_but_due_sooner_fires_first() -> None:
    watchdog = Watchdog()
    order: list[str] = []
    done = threading.Event()
    watchdog.arm(0.5, lambda: (order.append("late"), done.set()))
    watchdog.arm(0.05, lambda: order.append("soon"))
    assert done.wait(10)
    assert order == ["soon", "late"]


def test_a_conversation_once_tracked_is_told_apart_from_one_never_known() -> None:
    from syncd.liveperson.conversation_tracker import ConversationTracker
    from syncd.liveperson.notifications import ConversationChange

    tracker = ConversationTracker()
    tracker.set_open("ours")
    tracker.track("ours")
    stranger = ConversationChange("UPSERT", "stranger", "CLOSE", None, None)
    assert tracker.apply_conversation_changes([stranger]) == []
    closing = ConversationChange("UPSERT", "ours", "CLOSE", None, None)
    assert tracker.apply_conversation_changes([closing]) == [closing]
    assert not tracker.is_following("ours") and tracker.was_following("ours")
    assert not tracker.is_following("stranger") and not tracker.was_following("stranger")
