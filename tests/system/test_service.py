"""syncd.service as shipped, under a real systemd (Debian 12 in systemd-nspawn).

The machine is installed by the README's own blocks (see conftest.py); the emulator runs as
its own unit on the machine's loopback. The tests share one machine and run in file order:
each leaves the service running for the next.
"""

from __future__ import annotations

import json
import time

from tests.system.conftest import ADMIN_PASSWORD, CONFIG, EMULATOR_PORT
from tests.system.container import Machine
from tests.system.readme_blocks import readme_block

OUTBOX = "/srv/scans/invoices/outbox"
SCANNER = "scanner1"
WAIT_SECONDS = 60.0
# LivePerson and syncd are asynchronous: poll their visible state until it is what we expect.
POLL_SECONDS = 0.25
# The promise: `systemctl stop` takes at most this long, even during an outage.
STOP_LIMIT_SECONDS = 2.0

_HOSTED_FILE_CAPTIONS = f"""
import json, urllib.request
with urllib.request.urlopen("http://127.0.0.1:{EMULATOR_PORT}/_emulator/state") as answer:
    state = json.load(answer)
for conversation in state["conversations"]:
    for entry in conversation["events"]:
        event = entry["event"]
        if event.get("contentType") == "hosted/file":
            print(event["message"].get("caption", ""))
"""


def wait_until(what: str, probe: object, timeout_seconds: float = WAIT_SECONDS) -> None:
    """Call ``probe()`` until it returns true; fail naming ``what`` after the timeout."""
    assert callable(probe)
    deadline = time.monotonic() + timeout_seconds
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_SECONDS)


def published_captions(machine: Machine) -> list[str]:
    """The captions of every hosted/file event the emulator holds."""
    result = machine.run("/opt/syncd/bin/python -", stdin=_HOSTED_FILE_CAPTIONS)
    return result.stdout.splitlines()


def times_published(machine: Machine, stem: str) -> int:
    """How many hosted/file events carry the example route's caption for ``stem``."""
    return sum(caption.startswith(f"Invoice {stem} ") for caption in published_captions(machine))


def unit_properties(machine: Machine, unit: str, *names: str) -> dict[str, str]:
    """``systemctl show`` properties of ``unit``."""
    shown = machine.run(f"systemctl show {unit} -p {','.join(names)}").stdout
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def journal(machine: Machine, unit: str = "syncd") -> list[dict[str, str]]:
    """The unit's journal entries of this boot, as journald's JSON objects."""
    output = machine.run(f"journalctl -u {unit} -b -o json --no-pager").stdout
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def syncd_messages(machine: Machine) -> list[tuple[int, str]]:
    """(priority, message) of every line syncd itself wrote to the journal."""
    return [
        (int(entry["PRIORITY"]), str(entry["MESSAGE"]))
        for entry in journal(machine)
        if entry.get("SYSLOG_IDENTIFIER") == "syncd" and isinstance(entry.get("MESSAGE"), str)
    ]


def scanner_drops(
    machine: Machine, source: str, name: str, outbox: str = OUTBOX, umask: str = "027"
) -> None:
    """The scanner account copies ``source`` into ``outbox`` as ``name`` (mode 0640)."""
    machine.run(
        f"id {SCANNER} >/dev/null 2>&1 || useradd --groups scanners --no-create-home {SCANNER}\n"
        f"sudo -u {SCANNER} sh -c 'umask {umask} && cp {source} {outbox}/.{name}.part"
        f" && mv {outbox}/.{name}.part {outbox}/{name}'"
    )


def exists(machine: Machine, path: str) -> bool:
    """Whether ``path`` exists inside the machine."""
    return machine.run(f"test -e {path}", check=False).returncode == 0


def test_the_readme_install_left_syncd_running_as_its_user(machine: Machine) -> None:
    shown = unit_properties(machine, "syncd", "ActiveState", "SubState", "MainPID", "User")
    assert shown["ActiveState"] == "active", shown
    owner = machine.run(f"stat -c %U /proc/{shown['MainPID']}").stdout.strip()
    assert owner == "syncd"
    # The install's /etc/syncd matches the unit's ConfigurationDirectoryMode=.
    assert not [m for _, m in syncd_messages(machine) if "mode is different" in m]
    system_lines = machine.run("journalctl -b --no-pager -u syncd -o cat").stdout
    assert "mode is different" not in system_lines


def test_a_scanner_file_of_mode_0640_is_published(machine: Machine) -> None:
    scanner_drops(machine, "/files/scan.jpg", "first-page.jpg")

    wait_until("first-page.jpg published", lambda: times_published(machine, "first-page") == 1)
    wait_until(
        "first-page.jpg archived in sent/",
        lambda: machine.run(f"test -e {OUTBOX}/sent/first-page.jpg", check=False).returncode == 0,
    )


def test_systemctl_status_shows_the_status_line(machine: Machine) -> None:
    wait_until(
        "the STATUS line to count the sent file",
        lambda: "sent 1" in unit_properties(machine, "syncd", "StatusText")["StatusText"],
    )
    status = machine.run("systemctl status syncd --no-pager --lines=0", check=False).stdout
    assert 'Status: "queued 0, sent 1, failed 0' in status
    assert "invoices: connected" in status


def test_the_journal_has_one_line_per_event_with_its_priority(machine: Machine) -> None:
    scanner_drops(machine, "/files/broken.jpg", "not-an-image.jpg")
    wait_until(
        "the broken file in failed/",
        lambda: (
            machine.run(f"test -e {OUTBOX}/failed/not-an-image.jpg", check=False).returncode == 0
        ),
    )

    messages = syncd_messages(machine)
    assert all("\n" not in message for _, message in messages)
    about_first = [(p, m) for p, m in messages if "first-page.jpg" in m and "published" in m]
    assert len(about_first) == 1, messages
    assert about_first[0][0] == 6  # info
    about_broken = [p for p, m in messages if "not-an-image.jpg" in m]
    assert about_broken and min(about_broken) <= 4  # a warning or worse
    assert not [m for p, m in messages if p <= 3 and "Traceback" in m]
    # The admin password went to enable-file-sharing as a credential, never into a log.
    everything = machine.run("journalctl -b --no-pager -o cat").stdout
    assert ADMIN_PASSWORD not in everything


def test_a_file_syncd_may_read_but_not_move_is_sent_once_and_left_in_place(
    machine: Machine,
) -> None:
    claims = "/mnt/claims-share/outbox"
    machine.run(f"chmod +t {claims}")  # sticky: only a file's owner may move it
    try:
        scanner_drops(machine, "/files/scan.jpg", "claim-1.jpg", outbox=claims)
        wait_until(
            "claim-1.jpg published from a copy",
            lambda: [c for c in published_captions(machine) if "claim-1.jpg" in c],
        )
        status = machine.run(f"sudo -u syncd /opt/syncd/bin/syncd status --config {CONFIG}").stdout
    finally:
        machine.run(f"chmod -t {claims}")
    assert exists(machine, f"{claims}/claim-1.jpg")  # the scanner's original stays
    assert "claim-1.jpg" in status
    assert len([c for c in published_captions(machine) if "claim-1.jpg" in c]) == 1


def test_a_file_syncd_cannot_read_goes_to_failed_with_its_reason(machine: Machine) -> None:
    scanner_drops(machine, "/files/scan.jpg", "private.jpg", umask="077")
    wait_until("private.jpg in failed/", lambda: exists(machine, f"{OUTBOX}/failed/private.jpg"))
    reason = machine.run(f"cat {OUTBOX}/failed/private.jpg.error.txt").stdout
    assert "ermission denied" in reason
    assert times_published(machine, "private") == 0


def test_after_kill_9_systemd_restarts_syncd_and_nothing_is_published_twice(
    machine: Machine,
) -> None:
    before = unit_properties(machine, "syncd", "NRestarts", "MainPID")
    scanner_drops(machine, "/files/scan.jpg", "second-page.jpg")
    machine.run("systemctl kill --signal=KILL syncd")

    wait_until(
        "systemd to restart syncd",
        lambda: (
            unit_properties(machine, "syncd", "NRestarts", "ActiveState")
            == {"NRestarts": str(int(before["NRestarts"]) + 1), "ActiveState": "active"}
        ),
    )
    wait_until("second-page.jpg published", lambda: times_published(machine, "second-page") == 1)
    assert times_published(machine, "first-page") == 1
    assert unit_properties(machine, "syncd", "MainPID")["MainPID"] != before["MainPID"]


def test_metrics_are_served_from_inside_the_sandbox(machine: Machine) -> None:
    # The administrator's edit: uncomment the example's listen line.
    machine.run(f"sed -i 's|^# listen = |listen = |' {CONFIG}")
    machine.run(readme_block("metrics"))
    scrape = (
        "import urllib.request\n"
        "print(urllib.request.urlopen('http://127.0.0.1:9464/metrics').read().decode())\n"
    )

    def scraped() -> str:
        return machine.run("/opt/syncd/bin/python -", stdin=scrape, check=False).stdout

    # first-page.jpg and second-page.jpg so far (private.jpg failed; claim-1.jpg is claims').
    wait_until(
        "the metrics endpoint",
        lambda: 'syncd_files_published_total{route="invoices"} 2.0' in scraped(),
    )
    text = scraped()
    assert 'syncd_files_published_total{route="claims"} 1.0' in text
    assert 'syncd_connection_up{route="invoices"} 1.0' in text


def test_a_misspelt_config_key_fails_once_without_a_restart_loop(machine: Machine) -> None:
    machine.run(f"cp {CONFIG} /root/config.good && sed -i 's/^log_level =/log_levle =/' {CONFIG}")
    try:
        machine.run("systemctl restart syncd", check=False)
        shown = unit_properties(
            machine, "syncd", "ActiveState", "SubState", "ExecMainStatus", "NRestarts"
        )
        # Restart=on-failure would show "activating (auto-restart)"; exit 78 stays failed.
        assert shown["ActiveState"] == "failed", shown
        assert shown["ExecMainStatus"] == "78"
        assert shown["NRestarts"] == "0"
        assert [m for _, m in syncd_messages(machine) if "daemon.log_levle" in m]
    finally:
        machine.run(f"cp /root/config.good {CONFIG} && systemctl reset-failed syncd")
        machine.run("systemctl start syncd")


def test_systemctl_stop_during_an_outage_takes_at_most_two_seconds(machine: Machine) -> None:
    wait_until(
        "the restarted syncd to connect",
        lambda: (
            "invoices: connected" in unit_properties(machine, "syncd", "StatusText")["StatusText"]
        ),
    )
    machine.run("systemctl stop syncd-emulator")
    scanner_drops(machine, "/files/scan.jpg", "during-outage.jpg")
    wait_until(
        "syncd to notice the outage",
        lambda: (
            "invoices: connected"
            not in unit_properties(machine, "syncd", "StatusText")["StatusText"]
        ),
    )

    machine.run("systemctl stop syncd")

    shown = unit_properties(
        machine,
        "syncd",
        "ActiveState",
        "Result",
        "ActiveExitTimestampMonotonic",
        "InactiveEnterTimestampMonotonic",
    )
    assert shown["ActiveState"] == "inactive"
    assert shown["Result"] == "success"
    stop_microseconds = int(shown["InactiveEnterTimestampMonotonic"]) - int(
        shown["ActiveExitTimestampMonotonic"]
    )
    assert stop_microseconds <= STOP_LIMIT_SECONDS * 1_000_000, stop_microseconds
    assert [m for _, m in syncd_messages(machine) if "stopping" in m]
