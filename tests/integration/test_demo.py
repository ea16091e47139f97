"""`syncd demo --once` completes its scenario, and `syncd status` shows the real counts."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_demo_completes_and_status_reports_what_happened(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo = subprocess.run(
        [sys.executable, "-m", "syncd", "demo", "--once", "--folder", str(folder)],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=240,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "published scan_0001_invoice_colour.jpg" in demo.stdout
    assert "failed    scan_0004_broken.jpg" in demo.stdout
    assert "received" in demo.stdout
    # The hint is a command that works exactly as printed (no bare `syncd` off PATH).
    (hint,) = [line for line in demo.stdout.splitlines() if line.strip().startswith("try:")]
    hinted = subprocess.run(
        shlex.split(hint.split("try:", 1)[1]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert hinted.returncode == 0, hinted.stderr
    assert "daemon: not running" in hinted.stdout
    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "syncd",
            "status",
            "--json",
            "--config",
            str(folder / "config.toml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    route = json.loads(status.stdout)["routes"][0]
    assert route["outbound"]["done"] == 3
    assert route["outbound"]["failed"] == 1
    assert route["inbound"]["done"] == 1
    assert route["conversation"]
    text = subprocess.run(
        [sys.executable, "-m", "syncd", "status", "--config", str(folder / "config.toml")],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=60,
        check=False,
    )
    assert text.returncode == 0, text.stderr
    lines = [line.strip() for line in text.stdout.splitlines()]
    assert "daemon: not running" in lines
    # Counts come in pipeline order, the way an operator reads the journey of a file.
    assert "outbound: done 3, failed 1" in lines
    assert "inbound: done 1" in lines
    assert f"conversation: {route['conversation']}" in lines
    sent = sorted(p.name for p in (folder / "scanner" / "outbox" / "sent").iterdir())
    assert sent == [
        "scan_0001_invoice_colour.jpg",
        "scan_0002_form.png",
        "scan_0003_phone_photo.jpg",
    ]


def test_the_hint_names_a_syncd_script_by_its_path_when_path_does_not_find_it(
    tmp_path: Path,
) -> None:
    from syncd.demo.runner import syncd_invocation

    script = tmp_path / "venv" / "bin" / "syncd"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)

    assert syncd_invocation(str(script)) == [str(script)]
    assert syncd_invocation("/nowhere/__main__.py") == [sys.executable, "-m", "syncd"]
