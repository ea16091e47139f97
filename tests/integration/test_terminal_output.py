"""What LivePerson or a scanner chose reaches logs and terminals escaped, never raw.

A conversation id, an error text or a file name can hold C1 controls (U+009B is a one-byte
CSI that moves the cursor) or bidi overrides (U+202E shows "gpj.exe" as "exe.jpg").
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest

from syncd.cli.common import say
from syncd.rules.text import printable
from syncd.service.logs import configure_logging
from syncd.state.store import StateStore
from tests.helpers.cli import run_syncd
from tests.helpers.harness import write_config

HOSTILE = "conv\x1b[2J\x9b31m\u202egpj.exe\u2066x\u2069\u200f\x85\u2028end"
RAW_CONTROLS = ("\x1b", "\x9b", "\u202e", "\u2066", "\u2069", "\u200f", "\x85", "\u2028")


def assert_escaped(text: str) -> None:
    for control in RAW_CONTROLS:
        assert control not in text, (control, text)
    for escape in ("\\x1b[2J", "\\x9b31m", "\\u202egpj.exe", "\\u2066x\\u2069", "\\u200f"):
        assert escape in text, (escape, text)


def test_printable_escapes_c0_c1_and_bidi_controls_and_keeps_ordinary_text() -> None:
    assert_escaped(printable(HOSTILE))
    assert printable("Müller - scan\t2.jpg ✓") == "Müller - scan\t2.jpg ✓"


def test_a_log_line_escapes_c1_and_bidi_controls() -> None:
    stream = io.StringIO()
    configure_logging("info", stream, {})
    try:
        logging.getLogger("syncd.test").info("received %s", HOSTILE)
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if type(h).__name__ == "_SyncdStreamHandler"]:
            root.removeHandler(handler)
    assert_escaped(stream.getvalue().rstrip("\n"))


def test_say_prints_one_escaped_line(capsys: pytest.CaptureFixture[str]) -> None:
    say(f"syncd: retry {HOSTILE}\nforged line", error=True)
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert_escaped(captured.err)


def test_status_shows_a_hostile_conversation_id_escaped(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    database = tmp_path / "state" / "syncd.sqlite3"
    database.parent.mkdir(parents=True, exist_ok=True)
    with StateStore.open(database) as store:
        store.record_conversation("scans", HOSTILE, None, time.time())
    result = run_syncd("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "conversation: conv" in result.stdout
    assert_escaped(result.stdout)
    as_json = run_syncd("status", "--config", str(config), "--json")
    for control in RAW_CONTROLS:
        assert control not in as_json.stdout


def test_the_cli_prints_only_through_say() -> None:
    """``say`` is the one place that escapes; a bare print() in syncd/cli would bypass it."""
    cli = Path(__file__).resolve().parents[2] / "syncd" / "cli"
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(cli.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "print(" in line and path.name != "common.py"
    ]
    assert not offenders, offenders
