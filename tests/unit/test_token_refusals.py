"""When a refused consumer token is renewed: at once for renewable flows; a signup token
first gets one reconnect with the same token (``TokenRefusals``)."""

from __future__ import annotations

from syncd.liveperson.identity_keeper import TokenRefusals


def test_a_renewable_token_is_renewed_at_its_first_refusal() -> None:
    refusals = TokenRefusals()
    assert refusals.closed("consumer-1", renewable=True) is False
    assert refusals.refused


def test_a_signup_token_gets_one_more_try_then_is_refused() -> None:
    refusals = TokenRefusals()
    assert refusals.closed("consumer-1", renewable=False) is True
    assert not refusals.refused
    assert refusals.closed("consumer-1", renewable=False) is False
    assert refusals.refused


def test_a_subscribed_connection_gives_the_signup_token_its_one_more_try_again() -> None:
    refusals = TokenRefusals()
    refusals.closed("consumer-1", renewable=False)
    refusals.subscribed()
    assert refusals.closed("consumer-1", renewable=False) is True
    assert not refusals.refused


def test_a_refusal_before_any_consumer_is_known_counts_at_once() -> None:
    refusals = TokenRefusals()
    assert refusals.closed(None, renewable=False) is False
    assert refusals.refused


def test_another_consumer_gets_its_own_one_more_try() -> None:
    refusals = TokenRefusals()
    refusals.closed("consumer-1", renewable=False)
    assert refusals.closed("consumer-2", renewable=False) is True
