"""``syncd run``: the daemon in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from syncd.cli.common import (
    EX_CONFIG,
    EX_OK,
    EX_SOFTWARE,
    EX_TEMPFAIL,
    load_config_or_report,
    say,
)
from syncd.errors import (
    AlreadyRunningError,
    ConfigError,
    FolderChangedError,
    StateConfigError,
    StateError,
)
from syncd.service.logs import configure_logging

if TYPE_CHECKING:
    from syncd.service.daemon import Daemon


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until a signal asks it to stop; returns the exit code.

    0 after a graceful stop; 78 only for what a person must fix (the config, a missing outbox
    or inbox, a folder that is a symbolic link or cannot be made, a state file that is not
    syncd's or too new); 75 when another instance holds the state; 70 for runtime faults
    such as a damaged or unwritable state database, which systemd restarts
    (``RestartPreventExitStatus=78`` keeps only the first group down).
    """
    stop_requested = threading.Event()
    daemon_holder: list[Daemon] = []

    def stop(signal_number: int, _frame: FrameType | None) -> None:
        # Only set flags: a signal handler must not do work the main loop is in the middle of.
        stop_requested.set()
        for daemon in daemon_holder:
            daemon.request_stop()

    # Installed before the slow imports and the start-up, so an early SIGTERM is graceful.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    config = load_config_or_report(args.config)
    if config is None:
        return EX_CONFIG
    configure_logging(config.daemon.log_level)
    from syncd.service.daemon import Daemon

    daemon = Daemon(config)
    daemon_holder.append(daemon)
    if stop_requested.is_set():
        return EX_OK
    try:
        daemon.start()
    except ConfigError as error:
        # Found only when starting: a missing route folder, a private key file that cannot
        # be read or parsed.
        for problem in error.problems:
            say(f"syncd: {problem}", error=True)
        daemon.shutdown()
        return EX_CONFIG
    except AlreadyRunningError as error:
        say(f"syncd: {error}", error=True)
        return EX_TEMPFAIL
    except (StateConfigError, FolderChangedError, OSError) as error:
        say(f"syncd: cannot start: {error}", error=True)
        daemon.shutdown()
        return EX_CONFIG
    except StateError as error:
        say(f"syncd: cannot start: {error}", error=True)
        daemon.shutdown()
        return EX_SOFTWARE
    if stop_requested.is_set():
        daemon.request_stop()
    daemon.run_until_stopped()
    return EX_OK
