"""``syncd demo``: the whole product on one machine, without a LivePerson account.

It starts the bundled emulator on a free loopback port, writes a config into a folder of
its own, starts the daemon, drops sample scans into the outbox as a scanner would, shows a
line per file as it is published, has an "agent" send a file back into the inbox, and
prints a summary. ``--once`` exits when that scenario has completed (tests use it);
otherwise it keeps running until Ctrl-C so a person can drop their own files.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from syncd.config import load_config
from syncd.service.logs import configure_logging
from syncd.state.model import OutboundRow, OutboundState

if TYPE_CHECKING:
    from syncd.service.daemon import Daemon

MARKER = ".syncd-demo"
SCENARIO_TIMEOUT_SECONDS = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``syncd demo``'s options to ``parser``."""
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path("demo-run"),
        help="where the demo keeps its config, outbox, inbox and state (default: ./demo-run)",
    )
    parser.add_argument(
        "--once", action="store_true", help="exit 0 once the scenario has completed"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="emulator port (default: a free loopback port)"
    )


def _prepare_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / MARKER).exists():
            raise SystemExit(f"syncd demo: {folder} exists and is not a demo folder; pick --folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by syncd demo; safe to delete\n", encoding="utf-8")


def write_demo_config(folder: Path, domain_api: str, account: str) -> Path:
    """Write the demo's config file into ``folder`` and return its path."""
    config = folder / "config.toml"
    config.write_text(
        f"""# Written by `syncd demo`: one route against the bundled emulator.
[liveperson]
account = "{account}"
domain_api = "{domain_api}"

[state]
database = "state/syncd.sqlite3"

[[route]]
name = "scanner"
outbox = "scanner/outbox"
inbox = "scanner/inbox"
create_folders = true
caption = "{{stem}} ({{modified:%Y-%m-%d %H:%M}})"
after_send = "archive"
settle_seconds = 0.5
""",
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _post(url: str, data: bytes, content_type: str) -> dict[str, object]:
    # The demo only ever talks to its own emulator on loopback over http.
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        result: dict[str, object] = json.loads(response.read() or b"{}")
        return result


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when the scenario completed, 1 when it timed out."""
    # Imported here, not at the top: every `syncd` command builds the demo's options, and
    # these pull in the daemon, Pillow and aiohttp (half a second before `syncd status`).
    from syncd.demo.scans import grey_form_png, write_demo_scans
    from syncd.emulator.server import EmulatorSettings, start_emulator
    from syncd.service.daemon import Daemon

    folder: Path = args.folder.resolve()
    _prepare_folder(folder)
    configure_logging(os.environ.get("SYNCD_DEMO_LOG_LEVEL", "warning"))
    print("syncd demo: starting the LivePerson emulator…")
    with start_emulator(EmulatorSettings(port=args.port)) as emulator:
        config = load_config(write_demo_config(folder, emulator.base_url, emulator.account))
        route = config.routes[0]
        started_at: dict[str, float] = {}
        published: list[OutboundRow] = []
        lock = threading.Lock()

        def on_published(row: OutboundRow) -> None:
            latency = time.time() - started_at.get(row.source_name, time.time())
            with lock:
                published.append(row)
            print(
                f"  published {row.source_name} → conversation {row.conversation_id} "
                f"(sequence {row.sequence}, {row.size_bytes:,} → {row.upload_bytes or 0:,} bytes, "
                f"{latency:.1f} s)",
                flush=True,
            )

        daemon = Daemon(config, on_published=on_published)
        daemon.start()
        loop = threading.Thread(target=daemon.run_until_stopped, name="demo-daemon", daemon=True)
        loop.start()
        try:
            print(f"syncd demo: daemon running; outbox {route.outbox}")
            print("syncd demo: a scanner drops 4 pages (one of them broken)…")
            staging = folder / "scanner-staging"
            for path in write_demo_scans(staging):
                started_at[path.name] = time.time()
                os.rename(path, route.outbox / path.name)  # a scanner's "write, then move"
            outcome = _wait_for_outbound(daemon, 4)
            for row in outcome:
                if row.state == OutboundState.FAILED:
                    print(
                        f"  failed    {row.source_name}: {row.last_error} (see {route.failed_dir})"
                    )
            conversation_id = next((r.conversation_id for r in published), None)
            received = None
            if conversation_id is not None:
                print("syncd demo: an agent sends a signed form back…")
                _post(
                    f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-file"
                    "?caption=signed%20form",
                    grey_form_png(seed=7),
                    "application/octet-stream",
                )
                received = _wait_for_inbox(route.inbox)
                if received is not None:
                    print(f"  received  {received.name} in {route.inbox}")
            _print_summary(outcome, emulator.base_url, config.source_path)
            complete = len(outcome) == 4 and received is not None
            if args.once:
                return 0 if complete else 1
            print("syncd demo: drop your own JPEG/PNG/GIF into the outbox; Ctrl-C to stop.")
            while loop.is_alive():
                loop.join(timeout=0.5)
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            daemon.request_stop()
            loop.join(timeout=60)


def _wait_for_outbound(daemon: Daemon, count: int) -> list[OutboundRow]:
    deadline = time.monotonic() + SCENARIO_TIMEOUT_SECONDS
    finished: list[OutboundRow] = []
    while time.monotonic() < deadline:
        finished = daemon.store.outbound_in_states((OutboundState.DONE, OutboundState.FAILED))
        if len(finished) >= count:
            break
        time.sleep(0.2)
    return finished


def _wait_for_inbox(inbox: Path) -> Path | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        files = [p for p in inbox.iterdir() if not p.name.startswith(".")]
        if files:
            return files[0]
        time.sleep(0.2)
    return None


def _print_summary(rows: list[OutboundRow], emulator_url: str, config_path: Path | None) -> None:
    print("\nsummary")
    print(f"  {'file':34} {'state':7} {'conversation':38} {'before':>10} {'after':>10} latency")
    for row in sorted(rows, key=lambda r: r.id):
        latency = (row.published_at or row.updated_at) - row.created_at
        print(
            f"  {row.source_name:34} {row.state:7} {row.conversation_id or '-':38} "
            f"{row.size_bytes:>10,} {row.upload_bytes or 0:>10,} {latency:6.1f} s"
        )
    print(f"\nemulator: {emulator_url}/_emulator/ (state: {emulator_url}/_emulator/state)")
    status = shlex.join([*syncd_invocation(), "status", "--config", str(config_path)])
    print(f"config:   {config_path}\n  try:    {status}")
    sys.stdout.flush()


def syncd_invocation(argv0: str | None = None) -> list[str]:
    """The words that run this same syncd again, exactly as a person can type them here.

    Goes in: the program path this process was started as (default ``sys.argv[0]``). Comes
    out: ``["syncd"]`` when that name on ``PATH`` is this program, the program's path when it
    is a ``syncd`` script that ``PATH`` does not find (``make demo`` runs ``.venv/bin/syncd``),
    else this interpreter with ``-m syncd``. Raises nothing.
    """
    program = Path(argv0 if argv0 is not None else sys.argv[0])
    if program.name == "syncd":
        on_path = shutil.which("syncd")
        if on_path is not None and Path(on_path).resolve() == program.resolve():
            return ["syncd"]
        if program.is_file():
            return [str(program)]
    return [sys.executable, "-m", "syncd"]
