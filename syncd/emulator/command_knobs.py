"""The ``syncd emulator`` options that set the start-up values of runtime knobs.

Each of these can also be changed while the emulator runs (``PUT /_emulator/faults``,
``faults.py``): the network (``--rtt-ms``, ``--uplink-kbps``), late history
(``--history-delay-ms``) and the agent API's rings (``--ring-timeout-seconds``,
``--ring-pause-seconds``; ``routing.py``). ``command.py`` adds them to its parser and passes
what ``knob_settings`` returns to ``EmulatorSettings``.
"""

from __future__ import annotations

import argparse
from typing import Any

from syncd.emulator.settings import EmulatorSettings


def add_knob_arguments(parser: argparse.ArgumentParser, defaults: EmulatorSettings) -> None:
    """Add the knob options to ``parser``, with ``defaults``' values as their defaults."""
    parser.add_argument(
        "--history-delay-ms",
        type=float,
        default=defaults.history_delay_ms,
        help="send subscription history this late, split, shuffled and partly repeated",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=defaults.rtt_ms,
        help="a network round trip added to every request and answer (they overlap)",
    )
    parser.add_argument(
        "--uplink-kbps",
        type=float,
        default=defaults.uplink_kbps,
        help="the kilobits per second all uploads share (default: no limit)",
    )
    parser.add_argument(
        "--ring-timeout-seconds",
        type=float,
        default=defaults.ring_timeout_seconds,
        help="an agent API ring not answered this long turns EXPIRED (0: never; "
        "default: %(default)s, as in LivePerson's example rings)",
    )
    parser.add_argument(
        "--ring-pause-seconds",
        type=float,
        default=defaults.ring_pause_seconds,
        help="how long a conversation whose ring expired or was rejected waits before it "
        "rings again (default: %(default)s)",
    )


def knob_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``EmulatorSettings`` fields the knob options give; raises ValueError naming the
    option when a value is out of range."""
    if args.history_delay_ms < 0:
        raise ValueError("--history-delay-ms must be 0 or more")
    if args.rtt_ms < 0:
        raise ValueError("--rtt-ms must be 0 or more")
    if args.uplink_kbps is not None and args.uplink_kbps <= 0:
        raise ValueError("--uplink-kbps must be above 0")
    if args.ring_timeout_seconds is not None and args.ring_timeout_seconds < 0:
        raise ValueError("--ring-timeout-seconds must be 0 (never) or more")
    if args.ring_pause_seconds < 0:
        raise ValueError("--ring-pause-seconds must be 0 or more")
    return {
        "history_delay_ms": args.history_delay_ms,
        "rtt_ms": args.rtt_ms,
        "uplink_kbps": args.uplink_kbps,
        "ring_timeout_seconds": args.ring_timeout_seconds or None,
        "ring_pause_seconds": args.ring_pause_seconds,
    }
