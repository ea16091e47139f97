"""``syncd emulator``: run the LivePerson emulator in the foreground until SIGINT/SIGTERM.

``syncd.cli`` dispatches ``syncd emulator`` to ``add_arguments`` and ``run``; ``run`` prints
the URLs a person needs (the Domain API base for ``domain_api``, the control API, the console page).

The emulator is a test tool. Bound to anything but loopback it warns, and refuses to start
without a control token (``--control-token`` or ``SYNCD_EMULATOR_CONTROL_TOKEN``), which the
control API and the console then require (``guard.py``). The admin password comes from a
file (``--admin-password-file``) or ``SYNCD_EMULATOR_ADMIN_PASSWORD``, never from the
command line, where every local user could read it in the process list.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from syncd.emulator.command_knobs import add_knob_arguments, knob_settings
from syncd.emulator.settings import (
    AGENT_ACCEPT_CHOICES,
    PARTICIPANT_ID_CHOICES,
    EmulatorSettings,
)

DEFAULT_PORT = 8780
CONTROL_TOKEN_VARIABLE = "SYNCD_EMULATOR_CONTROL_TOKEN"  # noqa: S105 - a variable name
ADMIN_PASSWORD_VARIABLE = "SYNCD_EMULATOR_ADMIN_PASSWORD"  # noqa: S105 - a variable name


class _RefusedOnCommandLine(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            "the admin password is not taken from the command line (every local user can "
            f"read it there): use --admin-password-file or ${ADMIN_PASSWORD_VARIABLE}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    defaults = EmulatorSettings()
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0: any free)")
    parser.add_argument("--account", default=defaults.account, help="LivePerson account id")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (serve HTTPS/WSS)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--upload-url-ttl-seconds",
        type=int,
        default=defaults.upload_url_ttl_seconds,
        help="lifetime of upload and download URLs",
    )
    parser.add_argument(
        "--admin-user",
        default=defaults.admin_user,
        help="the account admin's login, for `syncd enable-file-sharing` (default: %(default)s)",
    )
    parser.add_argument(
        "--admin-password-file",
        type=Path,
        help=(
            f"file holding the admin password (else ${ADMIN_PASSWORD_VARIABLE}, else the "
            "documented local default, on loopback only)"
        ),
    )
    # The old option, refused with the way out (and so that it is not taken as an
    # abbreviation of --admin-password-file).
    parser.add_argument("--admin-password", action=_RefusedOnCommandLine, help=argparse.SUPPRESS)
    parser.add_argument(
        "--control-token",
        help=(
            f"secret the control API and console require (else ${CONTROL_TOKEN_VARIABLE}); "
            "needed when --host is not loopback"
        ),
    )
    parser.add_argument(
        "--file-sharing-disabled",
        action="store_true",
        help="start with messaging.file.sharing.enabled = false",
    )
    parser.add_argument(
        "--idle-timeout-seconds",
        type=float,
        default=defaults.idle_timeout_seconds,
        help="drop consumer sockets silent for this long",
    )
    identity = parser.add_argument_group("consumer identity")
    identity.add_argument(
        "--auth-public-key",
        type=Path,
        metavar="FILE",
        help="PEM public key of the authentication connector: enables the authenticated "
        "flow (RS256 external JWTs)",
    )
    identity.add_argument(
        "--auth-issuer", metavar="ISS", help="the 'iss' external JWTs must carry (default: any)"
    )
    identity.add_argument(
        "--unauth-connector-id",
        metavar="ID",
        help="connector id of the unauthenticated (anonymous) flow: enables it",
    )
    identity.add_argument(
        "--unauth-refresh-window-seconds",
        type=float,
        default=defaults.unauth_refresh_window_seconds,
        help="how long after it expires an anonymous token can still be refreshed",
    )
    identity.add_argument(
        "--unauth-refresh-only-expired",
        action=argparse.BooleanOptionalAction,
        default=defaults.unauth_refresh_only_expired,
        help="refuse to refresh an anonymous token before it has expired, as LivePerson "
        "promises no earlier refresh (default: on)",
    )
    identity.add_argument(
        "--token-lifetime-seconds",
        type=int,
        help="lifetime of LivePerson consumer tokens (default: ~13 years for signup, an hour "
        "for the connector flows)",
    )
    identity.add_argument(
        "--external-token-lifetime-seconds",
        type=int,
        default=defaults.external_token_lifetime_seconds,
        help="lifetime of anonymous external tokens",
    )
    identity.add_argument(
        "--signup-disabled",
        action="store_true",
        help="refuse /signup, as production accounts do",
    )
    parser.add_argument(
        "--agent-accept",
        choices=AGENT_ACCEPT_CHOICES,
        default=defaults.agent_accept,
        help="auto: the agent accepts each new conversation at once; manual: it waits for "
        "Accept on the console",
    )
    parser.add_argument(
        "--auto-close-seconds",
        type=float,
        default=None,
        help="close conversations after this long without consumer activity (default: never)",
    )
    parser.add_argument(
        "--participant-ids",
        choices=PARTICIPANT_ID_CHOICES,
        default=defaults.participant_ids,
        help="distinct: the consumer's originatorId differs from its token's sub",
    )
    add_knob_arguments(parser, defaults)


def is_loopback_bind(host: str) -> bool:
    """True when listening on ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a wildcard ("", 0.0.0.0, ::) or a name: other machines may reach it


def settings_from(
    args: argparse.Namespace, env: Mapping[str, str] = os.environ
) -> EmulatorSettings:
    """Return the settings the parsed ``args`` and the environment ``env`` describe.

    Raises ValueError when only one of --tls-cert and --tls-key is given, when the host is
    not loopback and there is no control token or no admin password of one's own, or when a
    knob option is out of range (``knob_settings``), and OSError when the password file
    cannot be read.
    """
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    defaults = EmulatorSettings()
    control_token = args.control_token or env.get(CONTROL_TOKEN_VARIABLE) or None
    password = env.get(ADMIN_PASSWORD_VARIABLE) or None
    if args.admin_password_file is not None:
        password = args.admin_password_file.read_text(encoding="utf-8").rstrip("\r\n")
    if not is_loopback_bind(args.host):
        if control_token is None:
            raise ValueError(
                f"--host {args.host} is not loopback: set --control-token (or "
                f"${CONTROL_TOKEN_VARIABLE}) so that only you can use the control API"
            )
        if password is None:
            raise ValueError(
                f"--host {args.host} is not loopback: set --admin-password-file (or "
                f"${ADMIN_PASSWORD_VARIABLE}) instead of the documented default password"
            )
    if args.auto_close_seconds is not None and args.auto_close_seconds <= 0:
        raise ValueError("--auto-close-seconds must be above 0")
    return EmulatorSettings(
        host=args.host,
        port=args.port,
        account=args.account,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        upload_url_ttl_seconds=args.upload_url_ttl_seconds,
        admin_user=args.admin_user,
        admin_password=password or defaults.admin_password,
        file_sharing_enabled=not args.file_sharing_disabled,
        idle_timeout_seconds=args.idle_timeout_seconds,
        control_token=control_token,
        auth_public_key=args.auth_public_key,
        auth_issuer=args.auth_issuer,
        unauth_connector_id=args.unauth_connector_id,
        unauth_refresh_window_seconds=args.unauth_refresh_window_seconds,
        token_lifetime_seconds=args.token_lifetime_seconds,
        external_token_lifetime_seconds=args.external_token_lifetime_seconds,
        signup_disabled=args.signup_disabled,
        unauth_refresh_only_expired=args.unauth_refresh_only_expired,
        agent_accept=args.agent_accept,
        auto_close_seconds=args.auto_close_seconds,
        participant_ids=args.participant_ids,
        **knob_settings(args),
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return 0, or 2 when the options or port are unusable."""
    # Imported here: every `syncd` command builds this parser, and the server pulls in aiohttp.
    from syncd.emulator.server import start_emulator

    if not is_loopback_bind(args.host):
        print(
            f"syncd emulator: warning: listening on {args.host!r}, not loopback: other "
            "machines can reach this test tool; the control API and console require the "
            "control token",
            file=sys.stderr,
        )
    try:
        settings = settings_from(args)
        emulator = start_emulator(settings)
    except (ValueError, OSError) as error:
        # ValueError also covers an --auth-public-key that is not a PEM RSA public key.
        print(f"syncd emulator: {error}", file=sys.stderr)
        return 2
    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous = {
        signal_number: signal.signal(signal_number, request_stop)
        for signal_number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        base = emulator.base_url
        print(f"LivePerson emulator for account {emulator.account}", flush=True)
        print(f"  domain_api:  {base}", flush=True)
        print(f"  control API: {base}/_emulator/state", flush=True)
        token_hint = "?token=<control token>" if settings.control_token else ""
        print(f"  console:     {base}/_emulator/{token_hint}", flush=True)
        while not stop_requested.wait(timeout=1.0):
            pass
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
        emulator.stop()
    return 0
