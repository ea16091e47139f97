"""The emulator's pure parts on their own: subscriptions, event checks, settings, faults."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.emulator.events import check_event
from syncd.emulator.faults import Faults
from syncd.emulator.model import Conversation, ConversationBook, StoredEvent
from syncd.emulator.rejection import Rejection
from syncd.emulator.routing import RingBook
from syncd.emulator.site_settings import FILE_SHARING_PROPERTY, SiteSettings
from syncd.emulator.subscriptions import ConversationSubscription


class RecordingListener:
    """Keeps what the book reports, in order."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, str]] = []

    def conversation_changed(self, conversation: Conversation) -> None:
        self.changes.append(("conversation", conversation.state))

    def event_published(self, conversation: Conversation, event: StoredEvent) -> None:
        self.changes.append(("event", str(event.sequence)))


def test_book_reports_every_change_in_order_and_numbers_only_stored_events() -> None:
    listener = RecordingListener()
    book = ConversationBook("1", listener)
    conversation = book.open_conversation("consumer", "-1", now_ms=1)
    book.publish(
        conversation, "consumer", "CONSUMER", {"type": "ContentEvent"}, numbered=True, now_ms=2
    )
    book.publish(
        conversation, "consumer", "CONSUMER", {"type": "ChatStateEvent"}, numbered=False, now_ms=3
    )
    book.assign_agent(conversation, "agent", now_ms=4)
    assert not book.assign_agent(conversation, "another agent", now_ms=5)
    book.close(conversation, "CONSUMER", now_ms=6)
    assert listener.changes == [
        ("conversation", "OPEN"),
        ("event", "0"),
        ("event", "None"),
        ("conversation", "OPEN"),
        ("conversation", "CLOSE"),
    ]
    with pytest.raises(Rejection):
        book.close(conversation, "AGENT", now_ms=7)


def _subscription(body: dict[str, Any]) -> ConversationSubscription:
    return ConversationSubscription.from_body("consumer", body)


def test_stage_filter_deletes_a_conversation_whose_stage_closes() -> None:
    book = ConversationBook("1", RecordingListener())
    conversation = book.open_conversation("consumer", "-1", now_ms=1)
    subscription = _subscription({"convState": ["OPEN", "CLOSE"], "stage": ["OPEN"]})
    assert [c["type"] for c in subscription.initial_changes([conversation])] == ["UPSERT"]
    book.close(conversation, "CONSUMER", now_ms=2)
    assert subscription.change_for(conversation) == {
        "type": "DELETE",
        "result": {"convId": conversation.conversation_id},
    }
    assert subscription.change_for(conversation) is None


def test_subscription_ignores_other_consumers_and_old_conversations() -> None:
    book = ConversationBook("1", RecordingListener())
    mine = book.open_conversation("consumer", "-1", now_ms=100)
    theirs = book.open_conversation("someone else", "-1", now_ms=100)
    assert _subscription({"minLastUpdatedTime": 101}).initial_changes([mine, theirs]) == []
    assert len(_subscription({}).initial_changes([mine, theirs])) == 1


@pytest.mark.parametrize(
    "body", [{"convState": ["PENDING"]}, {"stage": "SOMETIMES"}, {"minLastUpdatedTime": "0"}]
)
def test_malformed_subscription_bodies_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(Rejection):
        _subscription(body)


def test_single_values_are_accepted_where_arrays_are_documented() -> None:
    assert _subscription({"convState": "OPEN"}).states == frozenset({"OPEN"})
    accept = {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": 4}
    assert check_event(accept, lambda path: True).numbered


@pytest.mark.parametrize(
    "event",
    [
        None,
        {"type": "RichContentEvent", "content": {}},
        {"type": "ContentEvent", "contentType": "forms/secure-invitation", "message": {}},
        {"type": "ContentEvent", "contentType": "text/plain", "message": {"text": "not a string"}},
        {"type": "AcceptStatusEvent", "status": "MAYBE", "sequenceList": [1]},
        {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": ["1"]},
        {"type": "ChatStateEvent", "chatState": "DANCING"},
    ],
)
def test_events_the_emulator_does_not_model_are_refused(event: Any) -> None:
    with pytest.raises(Rejection) as refused:
        check_event(event, lambda path: True)
    assert refused.value.code == 400


def test_site_setting_put_checks_the_id_and_value_and_counts_revisions() -> None:
    settings = SiteSettings(file_sharing_enabled=True)
    with pytest.raises(Rejection):
        settings.put(FILE_SHARING_PROPERTY, {"id": "other", "propertyValue": {"value": True}}, None)
    with pytest.raises(Rejection):
        settings.put(FILE_SHARING_PROPERTY, {"propertyValue": {}}, None)
    settings.put(FILE_SHARING_PROPERTY, {"propertyValue": {"value": True}, "deleted": True}, None)
    assert not settings.file_sharing_enabled
    assert settings.revision == 2


def test_faults_from_the_same_seed_are_the_same_and_reset_restores_defaults() -> None:
    faults = Faults()
    faults.update({"request_error_rate": 0.5, "seed": 99})
    first = [faults.error_for_request("GetClock") is None for _ in range(50)]
    faults.update({"seed": 99})
    assert [faults.error_for_request("GetClock") is None for _ in range(50)] == first
    assert len(set(first)) == 2
    faults.reset()
    assert all(faults.error_for_request("GetClock") is None for _ in range(50))


def test_rings_expire_ring_again_after_the_pause_and_stop_when_the_conversation_is_settled() -> (
    None
):
    rings = RingBook()
    book = ConversationBook("1", RecordingListener())
    conversation = book.open_conversation("consumer", "-1", now_ms=0)
    followed = rings.follow(conversation, now_ms=0, lifetime_ms=100)
    assert followed is not None
    first = followed[0]
    assert rings.tick(99, pause_ms=50, lifetime_ms=100) == []
    assert rings.tick(100, pause_ms=50, lifetime_ms=100) == [first]
    assert first.state == "EXPIRED" and rings.waiting() == []
    assert rings.tick(149, pause_ms=50, lifetime_ms=100) == []
    [second] = rings.tick(150, pause_ms=50, lifetime_ms=None)
    assert second.state == "WAITING" and second.ring_id != first.ring_id
    assert rings.tick(10_000_000, pause_ms=50, lifetime_ms=None) == []  # never expires
    with pytest.raises(Rejection):
        rings.update(first.ring_id, "ACCEPTED", now_ms=151)
    assert rings.update(second.ring_id, "REJECTED", now_ms=200).state == "REJECTED"
    book.close(conversation, "CONSUMER", now_ms=210)  # closed during the pause
    assert rings.follow(conversation, now_ms=210, lifetime_ms=None) is None
    assert rings.tick(1_000_000, pause_ms=50, lifetime_ms=None) == []
