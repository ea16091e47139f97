"""Production identities survive token expiry: the daemon renews, the consumer stays.

With short LivePerson tokens (and, for the unauthenticated flow, short external tokens) a
real ``syncd run`` keeps sending files while its token is renewed again and again. The
emulator's IdP log and state prove the outcome: every file published once, into one
conversation, by one consumer, and no signup call. The 90 s variants of the issue (10 s
tokens) run under the ``soak`` marker; the default run uses 3 s tokens, which renew as
often in a quarter of the time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from tests.helpers.cli import DaemonProcess
from tests.helpers.harness import read_state, write_config
from tests.helpers.identity import (
    UNAUTHENTICATED_KEYS,
    BrandKeys,
    authenticated_keys,
    drop_scan,
    identity_settings,
    idp_calls,
)
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

ROUTE = "scans"
MIN_RENEWALS = 6


def _done(folder: Path) -> int:
    database = folder / "state" / "syncd.sqlite3"
    counts = read_state(database, lambda store: store.counts_by_state(ROUTE))
    return 0 if counts is None else counts.get("done", 0)


def _renewal_calls(emulator: RunningEmulator, flow: str) -> int:
    """LivePerson tokens handed out after the first one."""
    call = "authenticate" if flow == "authenticated" else "connector/authenticate"
    return max(0, len(idp_calls(emulator, call)) - 1)


def _send_across_renewals(
    emulator: RunningEmulator,
    folder: Path,
    flow: str,
    min_seconds: float,
    daemon: DaemonProcess,
) -> list[str]:
    """Drop one scan per token: each waits for its publish, then for the next renewal.

    Stops once ``MIN_RENEWALS`` renewals happened and ``min_seconds`` passed; returns the
    names dropped. The daemon's notify socket is drained as systemd would: a full one
    would block its main loop.
    """

    def renewals() -> int:
        daemon.notify.drain()
        return _renewal_calls(emulator, flow)

    outbox = folder / ROUTE / "outbox"
    names: list[str] = []
    started = time.monotonic()
    while renewals() < MIN_RENEWALS or time.monotonic() - started < min_seconds:
        name = f"scan_{len(names):03d}.jpg"
        drop_scan(outbox, name, seed=len(names))
        names.append(name)
        wait_until(lambda: _done(folder) == len(names), 60, f"{name} published")
        seen = renewals()
        wait_until(lambda seen=seen: renewals() > seen, 60, "a token renewal")
    return names


def _assert_one_consumer_one_conversation_each_file_once(
    emulator: RunningEmulator, names: list[str]
) -> None:
    events = hosted_file_events(emulator)
    assert sorted(event["event"]["message"]["caption"] for event in events) == sorted(names)
    assert len({event["event"]["message"]["relativePath"] for event in events}) == len(names)
    state = emulator.state()
    assert len(state["conversations"]) == 1
    assert {event["conversationId"] for event in events} == {state["conversations"][0]["id"]}
    originators = {event["originatorId"] for event in events}
    assert len(originators) == 1
    assert [consumer["consumerId"] for consumer in state["consumers"]] == list(originators)
    assert idp_calls(emulator, "signup", ok=None) == []


def _run_renewal_scenario(
    tmp_path: Path,
    emulator: RunningEmulator,
    flow: str,
    liveperson: dict[str, Any],
    min_seconds: float,
) -> None:
    routes: list[dict[str, Any]] = [{"name": ROUTE}]
    if flow == "authenticated":
        routes = [{"name": ROUTE, "consumer_id": "scanner-7", "display_name": "Claims scanner"}]
    config = write_config(tmp_path, emulator.base_url, emulator.account, routes, liveperson)
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        names = _send_across_renewals(emulator, tmp_path, flow, min_seconds, daemon)
        assert daemon.running
    log = daemon.log()

    assert len(names) >= MIN_RENEWALS
    _assert_one_consumer_one_conversation_each_file_once(emulator, names)
    # Our own files are recognised as ours (by role: the authenticated originatorId is not
    # the token's sub), so none came back as a "received" file.
    inbox = tmp_path / ROUTE / "inbox"
    assert not inbox.exists() or list(inbox.iterdir()) == []
    assert "NEW consumer" not in log
    assert "eyJ" not in log  # tokens are never logged
    identity = read_state(
        tmp_path / "state" / "syncd.sqlite3", lambda store: store.get_identity(ROUTE)
    )
    assert identity is not None
    assert (identity.flow, identity.replaced_reason) == (flow, None)
    # The stored consumer id is the token's sub (for authenticated consumers a hash that
    # differs from the originatorId their events carry).
    assert identity.consumer_id == emulator.state()["consumers"][0]["tokenSub"]
    if flow == "unauthenticated":
        # Each renewal asked to refresh the external token rather than for a new identity.
        # The emulator refuses refreshes before expiry (as LivePerson promises none); the
        # still-valid token is exchanged then, and refreshed once it has expired.
        refreshes = idp_calls(emulator, "anonymous/refresh", ok=None)
        assert len(refreshes) >= MIN_RENEWALS
        assert any(entry["ok"] for entry in refreshes)
        assert len(idp_calls(emulator, "anonymous/authorize")) == 1
        assert identity.refresh_deadline is not None


def _short_tokens(keys: BrandKeys, seconds: int) -> EmulatorSettings:
    return identity_settings(
        keys, token_lifetime_seconds=seconds, external_token_lifetime_seconds=seconds
    )


@pytest.fixture
def emulator_settings(brand_keys: BrandKeys) -> EmulatorSettings:
    return _short_tokens(brand_keys, 3)


def test_authenticated_tokens_are_renewed_and_the_consumer_and_conversation_stay(
    tmp_path: Path, emulator: RunningEmulator, brand_keys: BrandKeys
) -> None:
    _run_renewal_scenario(
        tmp_path, emulator, "authenticated", authenticated_keys(brand_keys), min_seconds=0
    )
    consumer = emulator.state()["consumers"][0]
    assert (consumer["sub"], consumer["name"]) == ("scanner-7", f"Claims scanner {ROUTE}")


def test_unauthenticated_tokens_are_refreshed_and_the_consumer_and_conversation_stay(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _run_renewal_scenario(
        tmp_path, emulator, "unauthenticated", dict(UNAUTHENTICATED_KEYS), min_seconds=0
    )


@pytest.mark.soak
@pytest.mark.parametrize("flow", ["authenticated", "unauthenticated"])
def test_ninety_seconds_of_sending_with_ten_second_tokens(
    tmp_path: Path, brand_keys: BrandKeys, flow: str
) -> None:
    liveperson = (
        authenticated_keys(brand_keys) if flow == "authenticated" else dict(UNAUTHENTICATED_KEYS)
    )
    with start_emulator(_short_tokens(brand_keys, 10)) as emulator:
        _run_renewal_scenario(tmp_path, emulator, flow, liveperson, min_seconds=90)
