"""Identity problems a person must fix, and what syncd does meanwhile.

* Signup disabled (as on a production account) with ``identity = "signup"``: ``check
  --online`` exits 78 naming ``liveperson.identity``; ``run`` keeps the files queued and
  ``status`` says why; switching to ``authenticated`` publishes them once.
* A key the connector does not hold: ``check --online`` exits 78 naming
  ``private_key_file``; ``run`` tries again on the retry schedule, not in a loop.
* SIGKILL while a renewal's answer is in hand but not stored: one consumer, no duplicate.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from syncd.state.model import OutboundState
from tests.emulator.wire import jwt_part
from tests.helpers.cli import DaemonProcess, run_syncd
from tests.helpers.harness import read_state, write_config
from tests.helpers.identity import (
    UNAUTHENTICATED_KEYS,
    BrandKeys,
    authenticated_keys,
    drop_scan,
    identity_settings,
    idp_calls,
    make_brand_keys,
)
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

ROUTE = "scans"
EX_CONFIG = 78


@pytest.fixture
def emulator_settings(brand_keys: BrandKeys) -> EmulatorSettings:
    return identity_settings(brand_keys, signup_disabled=True, token_lifetime_seconds=4)


def _database(folder: Path) -> Path:
    return folder / "state" / "syncd.sqlite3"


def _rows(folder: Path) -> list[Any]:
    """The route's rows in every state, oldest first."""
    rows = read_state(
        _database(folder), lambda store: store.outbound_in_states(OutboundState, route=ROUTE)
    )
    return rows or []


def _counts(folder: Path) -> dict[str, int]:
    counts = read_state(_database(folder), lambda store: store.counts_by_state(ROUTE))
    return counts or {}


def _captions(emulator: RunningEmulator) -> list[str]:
    return sorted(event["event"]["message"]["caption"] for event in hosted_file_events(emulator))


def test_signup_disabled_is_named_by_check_and_status_and_authenticated_then_sends_once(
    tmp_path: Path, emulator: RunningEmulator, brand_keys: BrandKeys
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account, [{"name": ROUTE}])

    check = run_syncd("check", "--config", str(config), "--online")
    assert check.returncode == EX_CONFIG, check.stdout + check.stderr
    assert "liveperson.identity" in check.stderr
    assert "HTTP 403" in check.stderr

    names = ["invoice_1.jpg", "invoice_2.jpg"]
    with DaemonProcess(config, tmp_path / "signup.log") as daemon:
        for index, name in enumerate(names):
            drop_scan(tmp_path / ROUTE / "outbox", name, seed=index)

        def refused() -> bool:
            daemon.notify.drain()
            rows = _rows(tmp_path)
            return len(rows) == 2 and all(
                row.last_error and "liveperson.identity" in row.last_error for row in rows[:1]
            )

        wait_until(refused, 60, "the refusal recorded on the queued files")
        status = run_syncd("status", "--config", str(config), "--json")
        assert daemon.running
    route = json.loads(status.stdout)["routes"][0]
    assert route["connection"] == "auth-failed"
    assert "liveperson.identity" in route["last_error"]
    assert route["outbound"].get("done", 0) == 0
    assert hosted_file_events(emulator) == []

    # The fix: the authenticated flow. The queued files go out, once each.
    text = config.read_text(encoding="utf-8")
    keys = "".join(f'{key} = "{value}"\n' for key, value in authenticated_keys(brand_keys).items())
    config.write_text(text.replace("[state]", keys + "\n[state]"), encoding="utf-8")
    with DaemonProcess(config, tmp_path / "authenticated.log") as daemon:

        def sent() -> bool:
            daemon.notify.drain()
            return _counts(tmp_path).get("done", 0) == 2

        wait_until(sent, 90, "both files sent")
    assert _captions(emulator) == names
    assert [c["flow"] for c in emulator.state()["consumers"]] == ["authenticated"]
    assert idp_calls(emulator, "signup", ok=True) == []
    status = run_syncd("status", "--config", str(config))
    assert "identity: authenticated, consumer" in status.stdout


def test_a_key_the_connector_does_not_hold_is_named_and_not_retried_in_a_loop(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    wrong = make_brand_keys(tmp_path, "wrong")
    config = write_config(
        tmp_path, emulator.base_url, emulator.account, [{"name": ROUTE}], authenticated_keys(wrong)
    )

    check = run_syncd("check", "--config", str(config), "--online")
    assert check.returncode == EX_CONFIG, check.stdout + check.stderr
    assert "liveperson.private_key_file" in check.stderr

    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        drop_scan(tmp_path / ROUTE / "outbox", "claim.jpg", seed=1)

        def retried_twice() -> bool:
            daemon.notify.drain()
            rows = _rows(tmp_path)
            return bool(rows) and rows[0].attempts >= 2

        row = wait_until(lambda: retried_twice() and _rows(tmp_path)[0], 90, "two retries")
        refusals = idp_calls(emulator, "authenticate", ok=False)
        assert daemon.running
    assert "liveperson.private_key_file" in (row.last_error or "")
    # One authentication per attempt of the file (and per receiver pass), never a loop:
    # the schedule's first waits are 5 and 10 s.
    assert 2 <= len(refusals) <= 2 * (row.attempts + 1)
    assert hosted_file_events(emulator) == []


def test_a_wrong_connector_id_is_named_by_check_online(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    liveperson = {**UNAUTHENTICATED_KEYS, "connector_id": "999"}
    config = write_config(
        tmp_path, emulator.base_url, emulator.account, [{"name": ROUTE}], liveperson
    )
    check = run_syncd("check", "--config", str(config), "--online")
    assert check.returncode == EX_CONFIG, check.stdout + check.stderr
    assert "liveperson.connector_id" in check.stderr
    assert "HTTP 404" in check.stderr


def test_check_online_with_each_production_flow_opens_the_socket_and_no_conversation(
    tmp_path: Path, emulator: RunningEmulator, brand_keys: BrandKeys
) -> None:
    for index, liveperson in enumerate(
        [authenticated_keys(brand_keys), dict(UNAUTHENTICATED_KEYS)]
    ):
        folder = tmp_path / str(index)
        folder.mkdir()
        config = write_config(
            folder, emulator.base_url, emulator.account, [{"name": ROUTE}], liveperson
        )
        check = run_syncd("check", "--config", str(config), "--online")
        assert check.returncode == 0, check.stdout + check.stderr
        assert f"{liveperson['identity']} consumer token accepted" in check.stdout
        assert "consumer WebSocket answered" in check.stdout
    assert emulator.state()["conversations"] == []
    assert idp_calls(emulator, "signup", ok=None) == []


@pytest.mark.parametrize("flow", ["authenticated", "unauthenticated"])
def test_sigkill_with_a_renewed_token_not_yet_stored_keeps_one_consumer_and_no_duplicate(
    tmp_path: Path, emulator: RunningEmulator, brand_keys: BrandKeys, flow: str
) -> None:
    liveperson = (
        authenticated_keys(brand_keys) if flow == "authenticated" else dict(UNAUTHENTICATED_KEYS)
    )
    config = write_config(
        tmp_path, emulator.base_url, emulator.account, [{"name": ROUTE}], liveperson
    )
    outbox = tmp_path / ROUTE / "outbox"
    crash = {"SYNCD_CRASH_AFTER": "token-renewal-answered", "SYNCD_CRASH_AFTER_COUNT": "2"}
    daemon = DaemonProcess(config, tmp_path / "crashing.log", env=crash).start()
    try:
        for index in range(3):
            drop_scan(outbox, f"before_{index}.jpg", seed=index)

        def killed() -> bool:
            daemon.notify.drain()
            return not daemon.running

        wait_until(killed, 60, "the SIGKILL at the second renewal")
        assert daemon.process is not None and daemon.process.returncode == -9
    finally:
        daemon.stop()
    for index in range(2):
        drop_scan(outbox, f"after_{index}.jpg", seed=10 + index)
    with DaemonProcess(config, tmp_path / "restarted.log") as restarted:

        def all_sent() -> bool:
            restarted.notify.drain()
            return _counts(tmp_path).get("done", 0) == 5

        wait_until(all_sent, 90, "every file sent after the restart")
        # And it keeps renewing as the same consumer after the restart.
        call = "authenticate" if flow == "authenticated" else "connector/authenticate"
        renewed = len(idp_calls(emulator, call))

        def renewed_again() -> bool:
            restarted.notify.drain()
            return len(idp_calls(emulator, call)) > renewed

        wait_until(renewed_again, 30, "a renewal after the restart")
    assert _captions(emulator) == sorted(
        [f"before_{i}.jpg" for i in range(3)] + [f"after_{i}.jpg" for i in range(2)]
    )
    state = emulator.state()
    assert len(state["consumers"]) == 1
    assert len(state["conversations"]) == 1
    assert {event["originatorId"] for event in hosted_file_events(emulator)} == {
        state["consumers"][0]["consumerId"]
    }


def test_an_anonymous_identity_past_its_refresh_window_is_replaced_with_a_warning_in_status(
    tmp_path: Path, brand_keys: BrandKeys
) -> None:
    settings = identity_settings(
        brand_keys, external_token_lifetime_seconds=2, unauth_refresh_window_seconds=0
    )
    with start_emulator(settings) as emulator:
        config = write_config(
            tmp_path,
            emulator.base_url,
            emulator.account,
            [{"name": ROUTE}],
            dict(UNAUTHENTICATED_KEYS),
        )
        outbox = tmp_path / ROUTE / "outbox"
        with DaemonProcess(config, tmp_path / "first.log") as daemon:
            drop_scan(outbox, "first.jpg", seed=1)

            def first_sent() -> bool:
                daemon.notify.drain()
                return _counts(tmp_path).get("done", 0) == 1

            wait_until(first_sent, 60, "the first file sent")
        stored = read_state(_database(tmp_path), lambda store: store.get_identity(ROUTE))
        assert stored is not None and stored.external_token is not None
        expired_at = jwt_part(stored.external_token, 1)["exp"]
        # Stopped for longer than the external token plus its (zero) refresh window.
        wait_until(lambda: time.time() > expired_at + 1, 10, "the external token to expire")

        drop_scan(outbox, "second.jpg", seed=2)
        with DaemonProcess(config, tmp_path / "second.log") as daemon:

            def second_sent() -> bool:
                daemon.notify.drain()
                return _counts(tmp_path).get("done", 0) == 2

            wait_until(second_sent, 60, "the second file sent")
            status = run_syncd("status", "--config", str(config))
        log = daemon.log()
        consumers = [c["consumerId"] for c in emulator.state()["consumers"]]
        events = hosted_file_events(emulator)
    assert "refresh window has passed" in log and "NEW consumer" in log
    warning = next(line for line in log.splitlines() if "NEW consumer" in line)
    assert " WARNING " in warning
    assert "new consumer since" in status.stdout
    assert "refresh window has passed" in status.stdout
    assert len(consumers) == 2
    # Each file once, the second by the new consumer in its own conversation.
    assert [(e["event"]["message"]["caption"], e["originatorId"]) for e in events] == [
        ("first.jpg", consumers[0]),
        ("second.jpg", consumers[1]),
    ]
