"""The daemon as systemd runs it: a real `syncd run` process, a real notify socket, its
stderr as journald would read it, one instance per state database, and `syncd status`
beside it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sqlite3
from pathlib import Path

from syncd.emulator.server import RunningEmulator
from syncd.state.store import StateStore
from tests.helpers.cli import DaemonProcess, NotifyListener, append_daemon_section, run_syncd
from tests.helpers.harness import read_state, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

BIG_TIMEOUT = 90
EX_TEMPFAIL = 75
ROUTE = "scans"

# What a STATUS= line looks like (notify.format_status) once the file was sent and the
# route's session is up.
_SENT_AND_CONNECTED = re.compile(r"STATUS=queued 0, sent 1, failed 0, inbound 0; scans: connected$")


def _database(folder: Path) -> Path:
    return folder / "state" / "syncd.sqlite3"


def _done(folder: Path) -> int:
    counts = read_state(_database(folder), lambda store: store.counts_by_state(ROUTE))
    return 0 if counts is None else counts.get("done", 0)


def _drop(folder: Path, name: str, seed: int = 0) -> None:
    staging = folder / ROUTE / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(jpeg_bytes(640, 480, seed=seed))
    os.rename(staging / name, folder / ROUTE / "outbox" / name)


# --- one instance per state database -----------------------------------------------------


def test_a_second_run_on_the_same_state_exits_75_naming_it_and_the_first_carries_on(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database = _database(tmp_path)
    with DaemonProcess(config, tmp_path / "first.log") as first:
        second = run_syncd("run", "--config", str(config), timeout_seconds=120)

        assert second.returncode == EX_TEMPFAIL
        assert f"state database {database} is in use by another syncd process" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.running
        _drop(tmp_path, "after.jpg")  # the first one still works
        wait_until(lambda: _done(tmp_path) == 1, BIG_TIMEOUT, "the first daemon to send a file")
        assert first.stop() == 0
    assert len(hosted_file_events(emulator)) == 1


# --- sd_notify -----------------------------------------------------------------------------


def _notify_life_cycle(tmp_path: Path, emulator: RunningEmulator, *, abstract: bool) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with NotifyListener(abstract=abstract) as listener:
        daemon = DaemonProcess(config, tmp_path / "daemon.log", notify=listener)
        with daemon:
            assert listener.address.startswith("@" if abstract else "/")
            _drop(tmp_path, "page.jpg")
            listener.wait_for(
                lambda line: bool(_SENT_AND_CONNECTED.match(line)),
                BIG_TIMEOUT,
                "a STATUS= line with the file sent and the route connected",
            )
            assert daemon.stop() == 0
        lines = listener.assignments()
    assert lines[0] == "READY=1"
    statuses = [line for line in lines if line.startswith("STATUS=")]
    assert statuses, lines
    assert all(
        re.match(r"STATUS=queued \d+, sent \d+, failed \d+, inbound \d+; scans: ", s)
        for s in statuses
    )
    assert lines[-1] == "STOPPING=1"
    assert lines.count("READY=1") == 1 and lines.count("STOPPING=1") == 1
    # STATUS= is sent only when it changes: never twice the same line in a row.
    assert all(a != b for a, b in itertools.pairwise(statuses))


def test_a_path_notify_socket_gets_ready_status_with_counts_and_connections_then_stopping(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _notify_life_cycle(tmp_path, emulator, abstract=False)


def test_an_abstract_notify_socket_gets_the_same_messages(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _notify_life_cycle(tmp_path, emulator, abstract=True)


# --- logs for journald --------------------------------------------------------------------


def _log_of_one_send(tmp_path: Path, emulator: RunningEmulator, journald: bool) -> list[str]:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    log_path = tmp_path / "daemon.log"
    log_path.touch()
    env = {}
    if journald:
        # What systemd sets for a service whose stderr is its journal stream.
        status = os.stat(log_path)
        env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
    with DaemonProcess(config, log_path, env=env) as daemon:
        _drop(tmp_path, "page.jpg")
        wait_until(lambda: _done(tmp_path) == 1, BIG_TIMEOUT, "the file to be sent")
        assert daemon.stop() == 0
    return daemon.log().splitlines()


def test_under_journald_every_log_line_carries_its_syslog_priority(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    lines = _log_of_one_send(tmp_path, emulator, journald=True)
    assert lines
    assert all(re.match(r"<[0-7]>[\w.]+: ", line) for line in lines), lines
    assert any(
        line.startswith("<6>syncd.sender: route=scans file=page.jpg: published") for line in lines
    ), lines
    assert "<6>syncd.daemon: syncd stopped" in lines


def test_without_journald_log_lines_are_plain_with_time_and_level(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    lines = _log_of_one_send(tmp_path, emulator, journald=False)
    assert lines
    assert not any(re.match(r"<\d>", line) for line in lines), lines
    plain = re.compile(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    )
    assert all(plain.match(line) for line in lines), lines
    assert any(" INFO syncd.sender: route=scans file=page.jpg: published" in line for line in lines)


def test_journal_stream_naming_another_file_keeps_lines_plain(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    # JOURNAL_STREAM inherited from a parent whose stderr was the journal, while this
    # process's stderr was redirected to a file: no <N> prefixes in that file.
    elsewhere = os.stat(tmp_path)
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    env = {"JOURNAL_STREAM": f"{elsewhere.st_dev}:{elsewhere.st_ino}"}
    with DaemonProcess(config, tmp_path / "daemon.log", env=env) as daemon:
        assert daemon.stop() == 0
    lines = daemon.log().splitlines()
    assert lines and not any(line.startswith("<") for line in lines)


# --- secrets never reach the log ------------------------------------------------------------

_ANY_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_UNREDACTED_SIG = re.compile(r"temp_url_sig=(?!\[REDACTED\])")
_UNREDACTED_BEARER = re.compile(r"(?i)bearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{8,}")


def test_a_full_debug_run_logs_no_token_signature_bearer_or_password(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    append_daemon_section(config, log_level="debug")
    admin_password = emulator.settings.admin_password
    log_path = tmp_path / "daemon.log"
    env = {"SYNCD_ADMIN_PASSWORD": admin_password}
    with DaemonProcess(config, log_path, env=env) as daemon:
        _drop(tmp_path, "page.jpg")
        wait_until(lambda: _done(tmp_path) == 1, BIG_TIMEOUT, "the file to be sent")
        conversation = read_state(_database(tmp_path), lambda store: store.open_conversation(ROUTE))
        assert conversation is not None
        emulator.send_agent_file(conversation, jpeg_bytes(seed=3), caption="signed form")
        inbox = tmp_path / ROUTE / "inbox"
        wait_until(lambda: list(inbox.glob("*.jpg")), BIG_TIMEOUT, "the agent's file")
        assert daemon.stop() == 0
    log = daemon.log()
    # The run did everything worth logging, at the most verbose level.
    assert " DEBUG " in log
    assert "file=page.jpg: published" in log
    assert "received" in log and "into the inbox" in log
    assert "temp_url_sig=[REDACTED]" in log  # the storage URLs were logged, signature hidden

    identity = read_state(_database(tmp_path), lambda store: store.get_identity(ROUTE))
    assert identity is not None and identity.jwt
    secrets = {
        "the consumer JWT": identity.jwt,
        "the JWT's signature": identity.jwt.rsplit(".", 1)[-1],
        "the admin password": admin_password,
        "the Swift temp URL key": emulator.temp_url_key,
    }
    for what, secret in secrets.items():
        assert secret not in log, f"{what} appears in the log"
    assert not _ANY_JWT.search(log)
    assert not _UNREDACTED_SIG.search(log)
    assert not _UNREDACTED_BEARER.search(log)


# --- syncd status beside the daemon --------------------------------------------------------


def _status_json(config: Path) -> dict[str, object]:
    result = run_syncd("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _route_status(config: Path) -> dict[str, object]:
    routes = _status_json(config)["routes"]
    assert isinstance(routes, list)
    route: dict[str, object] = routes[0]
    return route


def test_status_shows_the_route_connected_while_the_daemon_runs_and_not_running_after(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        _drop(tmp_path, "page.jpg")
        wait_until(lambda: _done(tmp_path) == 1, BIG_TIMEOUT, "the file to be sent")
        wait_until(
            lambda: _route_status(config)["connection"] == "connected",
            BIG_TIMEOUT,
            "status to show the route connected",
        )
        running = _status_json(config)
        text = run_syncd("status", "--config", str(config))
        assert daemon.stop() == 0
    assert running["daemon_running"] is True
    route = running["routes"][0]  # type: ignore[index]
    assert route["route"] == ROUTE
    assert route["connection"] == "connected"
    assert isinstance(route["connection_since"], float)
    assert route["outbound"]["done"] == 1
    assert route["conversation"]
    assert text.returncode == 0, text.stderr
    assert "daemon: running" in text.stdout
    assert re.search(r"^  connection: connected since \d{4}-\d\d-\d\d ", text.stdout, re.M)

    stopped = _status_json(config)
    assert stopped["daemon_running"] is False
    route = stopped["routes"][0]  # type: ignore[index]
    assert route["connection"] == "daemon not running"
    assert route["connection_since"] is None
    assert route["outbound"]["done"] == 1  # the counts are still the database's
    text = run_syncd("status", "--config", str(config))
    assert "daemon: not running" in text.stdout
    assert "  connection: daemon not running" in text.stdout


def test_status_shows_an_outage_while_it_lasts(tmp_path: Path, emulator: RunningEmulator) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        _drop(tmp_path, "page.jpg")
        wait_until(lambda: _done(tmp_path) == 1, BIG_TIMEOUT, "the first file to be sent")
        # LivePerson down: open sockets closed at the next request, new ones refused.
        emulator.set_faults(ws_close_rate=1.0, ws_connect_error_rate=1.0)
        _drop(tmp_path, "waiting.jpg")
        outage = wait_until(
            lambda: _route_status(config)["outage"],
            BIG_TIMEOUT,
            "status to show the outage",
        )
        text = run_syncd("status", "--config", str(config))
        assert _route_status(config)["connection"] == "offline"
        emulator.reset_faults()
        wait_until(lambda: _done(tmp_path) == 2, BIG_TIMEOUT, "the waiting file to be sent")
        wait_until(
            lambda: _route_status(config)["outage"] is None,
            BIG_TIMEOUT,
            "status to show the outage over",
        )
        assert _route_status(config)["connection"] == "connected"
        assert daemon.stop() == 0
    assert outage == {"since": outage["since"], "files_waiting": 1}  # type: ignore[index]
    assert isinstance(outage["since"], float)  # type: ignore[index]
    assert re.search(
        r"^  outage: LivePerson unreachable since \d{4}-\d\d-\d\d [\d:]+ \(\d+ s\); "
        r"1 file waiting$",
        text.stdout,
        re.M,
    ), text.stdout
    log = (tmp_path / "daemon.log").read_text()
    assert "LivePerson unreachable (" in log
    assert re.search(r"LivePerson reachable again after \d+ s; 1 file queued", log), log


def test_the_daemon_upgrades_an_old_database_and_records_the_connection(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    from syncd.state.schema import MIGRATIONS

    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database = _database(tmp_path)
    database.parent.mkdir()
    # A database as the previous release left it: schema 3, without the connection columns.
    with StateStore.open(database, migrations=MIGRATIONS[:3]) as old:
        old.note_success(ROUTE, 1_700_000_000.0)
    with DaemonProcess(config, tmp_path / "daemon.log") as daemon:
        wait_until(
            lambda: _route_status(config)["connection"] == "connected",
            BIG_TIMEOUT,
            "the upgraded database to record the connection",
        )
        assert daemon.stop() == 0
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT last_success_at, connection_state FROM route_status WHERE route = ?", [ROUTE]
        ).fetchone()
    connection.close()
    assert row == (1_700_000_000.0, "connected")  # the old value survived the upgrade
