"""`syncd check --config` as a real subprocess: exit codes and what it says.

0 for a good config; 78 (EX_CONFIG) with every problem on its own line, starting with the
key it is about; 69 (EX_UNAVAILABLE) with ``--online`` when the config is fine but LivePerson
cannot be reached, because that is not something a person must fix in the file.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from syncd.emulator.server import RunningEmulator
from tests.helpers.cli import run_syncd
from tests.helpers.harness import write_config
from tests.helpers.privileges import call_without_capabilities
from tests.helpers.tls import tls_emulator as running_tls_emulator
from tests.helpers.tls import write_ca_file

EX_OK = 0
EX_UNAVAILABLE = 69
EX_CONFIG = 78


def _problem_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.startswith(("  ", "syncd: "))]


def test_a_good_config_exits_0_and_says_it_is_valid(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "http://127.0.0.1:9", "12345678", [{"name": "a"}, {"name": "b"}]
    )
    result = run_syncd("check", "--config", str(config))
    assert result.returncode == EX_OK, result.stderr
    assert f"configuration {config} is valid: 2 route(s)" in result.stdout
    assert result.stderr == ""
    # check only looks: it creates neither the state database nor the inboxes.
    assert not (tmp_path / "state" / "syncd.sqlite3").exists()
    assert not (tmp_path / "a" / "inbox").exists()


def test_a_bad_config_exits_78_listing_every_problem_with_its_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        "[liveperson]\n"
        'account = "12a"\n'
        'domain_api = "http://example.com"\n'
        "surprise = 1\n"
        "[state]\n"
        'database = "state.db"\n'
        "[[route]]\n"
        'name = "two words"\n'
        'outbox = "out"\n'
        'inbox = "in"\n'
        'watch = "inotify"\n'
        "settle_seconds = -1\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    result = run_syncd("check", "--config", str(config))
    assert result.returncode == EX_CONFIG
    assert result.stdout == ""
    assert f"configuration {config} has 6 problem(s)" in result.stderr
    keys = [line.split(":", 1)[0] for line in _problem_lines(result.stderr)[1:]]
    assert sorted(keys) == sorted(
        [
            "liveperson.surprise",
            "liveperson.account",
            "liveperson.domain_api",
            "route[0].name",
            "route[0].watch",
            "route[0].settle_seconds",
        ]
    ), result.stderr
    assert "'12a'" in result.stderr and "'inotify'" in result.stderr  # what was found


def test_a_folder_that_cannot_be_made_exits_78_naming_the_route_key(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should go\n", encoding="utf-8")
    config = write_config(
        tmp_path,
        "http://127.0.0.1:9",
        "12345678",
        [{"name": "scans", "inbox": blocker / "inbox"}],
    )
    result = run_syncd("check", "--config", str(config))
    assert result.returncode == EX_CONFIG
    assert f"route[0].inbox: {blocker / 'inbox'} cannot be made: {blocker} is a file" in (
        result.stderr
    )
    assert "is valid" not in result.stdout


def test_a_read_only_outbox_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    outbox = tmp_path / "scans" / "outbox"
    outbox.chmod(0o500)
    try:
        # As root (CI), check runs without capabilities, as the service user would.
        result = call_without_capabilities(lambda: run_syncd("check", "--config", str(config)))
    finally:
        outbox.chmod(0o700)
    assert result.returncode == EX_CONFIG
    assert f"route[0].outbox: {outbox} is not writable by this user" in result.stderr


def test_a_state_database_that_cannot_open_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    database = tmp_path / "state" / "syncd.sqlite3"
    database.parent.mkdir()
    # Another program's SQLite file at the configured path (a typo in the config).
    with sqlite3.connect(database) as other:
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    other.close()
    result = run_syncd("check", "--config", str(config))
    assert result.returncode == EX_CONFIG
    assert "state.database:" in result.stderr
    assert f"{database} is not a syncd state database" in result.stderr
    with sqlite3.connect(database) as reopened:  # and check left it alone
        tables = [row[0] for row in reopened.execute("SELECT name FROM sqlite_master")]
    reopened.close()
    assert tables == ["invoices"]


def test_a_garbage_state_file_exits_78_naming_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    database = tmp_path / "state" / "syncd.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"this is not a database at all\n" * 200)
    result = run_syncd("check", "--config", str(config))
    assert result.returncode == EX_CONFIG
    assert f"state.database: state database {database}" in result.stderr


def test_online_against_the_running_emulator_exits_0_and_shows_the_domains(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    result = run_syncd("check", "--config", str(config), "--online")
    assert result.returncode == EX_OK, result.stderr
    for service in ("idp", "asyncMessagingEnt", "swift"):
        assert f"  {service}: {emulator.host_port}" in result.stdout
    assert "LivePerson domains resolved" in result.stdout
    assert "consumer sign-up accepted" in result.stdout
    assert "consumer WebSocket answered" in result.stdout
    # Nothing happened in any conversation: the check leaves no trace there.
    assert emulator.state()["conversations"] == []


def test_online_against_a_closed_port_exits_69_saying_liveperson_is_unreachable(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, f"http://127.0.0.1:{port}", "12345678")
    result = run_syncd("check", "--config", str(config), "--online")
    assert result.returncode == EX_UNAVAILABLE
    assert "is valid" in result.stdout  # the config itself is fine ...
    assert "syncd: LivePerson is not reachable:" in result.stderr  # ... LivePerson is not
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_online_is_documented_with_its_exit_code() -> None:
    result = run_syncd("check", "--help")
    assert result.returncode == EX_OK
    help_text = " ".join(result.stdout.split())
    assert "exit 69 when LivePerson is unreachable" in help_text
    assert "78 when its TLS certificate does not verify" in help_text


@pytest.fixture
def tls_emulator(tmp_path: Path) -> Iterator[tuple[RunningEmulator, Path]]:
    """The emulator over HTTPS/WSS with a certificate from a private CA, and that CA's file."""
    authority = trustme.CA()
    with running_tls_emulator(authority, tmp_path) as running:
        yield running, write_ca_file(authority, tmp_path)


@pytest.mark.parametrize("with_ca_file", [True, False])
def test_online_over_tls_verifies_with_ca_file_and_is_a_config_error_without(
    tmp_path: Path, tls_emulator: tuple[RunningEmulator, Path], with_ca_file: bool
) -> None:
    emulator, ca_path = tls_emulator
    assert emulator.base_url.startswith("https://")
    folder = tmp_path / "site"
    folder.mkdir()
    liveperson = {"ca_file": str(ca_path)} if with_ca_file else {}
    config = write_config(folder, emulator.base_url, emulator.account, liveperson=liveperson)
    result = run_syncd("check", "--config", str(config), "--online")
    if with_ca_file:
        assert result.returncode == EX_OK, result.stderr
        assert "consumer WebSocket answered" in result.stdout
    else:
        assert result.returncode == EX_CONFIG, result.stdout + result.stderr
        assert "resolving LivePerson's domains" in result.stderr
        assert "ca_file" in result.stderr  # the message says how to fix it
        assert "Traceback" not in result.stderr
