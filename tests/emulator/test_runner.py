"""The runner (restart, TLS), the control state, the console page and the CLI."""

from __future__ import annotations

import argparse
import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import requests
import trustme
import websocket

from syncd.emulator import command
from syncd.emulator.app import redact_path
from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from tests.emulator.wire import (
    Consumer,
    make_image,
    publish_text,
    read_close_code,
    request_conversation,
    signup,
    subscribe_events,
)


def test_restart_keeps_state_and_port_and_drops_sockets(emulator: RunningEmulator) -> None:
    token = signup(emulator)
    consumer = Consumer.connect(emulator, token)
    conversation_id = request_conversation(consumer)
    publish_text(consumer, conversation_id, "before the restart", "p")
    base_url = emulator.base_url
    emulator.restart()
    assert read_close_code(consumer.ws) is None
    assert emulator.base_url == base_url
    again = Consumer.connect(emulator, token)
    subscribe_events(again, conversation_id)
    [change] = again.notification("ms.MessagingEventNotification")["body"]["changes"]
    assert change["event"]["message"] == "before the restart"
    again.close()


def test_state_lists_conversations_with_events_and_objects(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    publish_text(consumer, conversation_id, "hello", "p")
    sent = emulator.send_agent_file(conversation_id, make_image("GIF"), "a gif")
    state = requests.get(f"{emulator.base_url}/_emulator/state", timeout=5).json()
    assert state == emulator.state()
    [conversation] = state["conversations"]
    assert conversation["id"] == conversation_id
    assert conversation["state"] == "OPEN"
    assert [(e["sequence"], e["role"]) for e in conversation["events"]] == [
        (0, "CONSUMER"),
        (1, "ASSIGNED_AGENT"),
    ]
    assert conversation["events"][1]["event"]["message"]["fileType"] == "GIF"
    [stored] = state["objects"]
    assert stored["path"] == sent["relativePath"]
    consumer.close()


def test_console_page_lists_conversations_and_its_forms_act_as_the_agent(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    page = requests.get(f"{emulator.base_url}/_emulator/", timeout=5)
    assert page.status_code == 200
    assert conversation_id in page.text
    base = f"{emulator.base_url}/_emulator/conversations/{conversation_id}"
    uploaded = requests.post(
        f"{base}/agent-file",
        files={"file": ("photo.png", make_image("PNG"), "image/png")},
        data={"caption": "<b>from the console</b>"},
        allow_redirects=False,
        timeout=5,
    )
    assert uploaded.status_code == 303
    assert uploaded.headers["Location"] == "/_emulator/"
    texted = requests.post(
        f"{base}/agent-message", data={"text": "typed"}, allow_redirects=False, timeout=5
    )
    assert texted.status_code == 303
    html = requests.get(f"{emulator.base_url}/_emulator/", timeout=5).text
    assert "&lt;b&gt;from the console&lt;/b&gt;" in html
    assert "<b>from the console</b>" not in html
    assert len(emulator.state()["conversations"][0]["events"]) == 2
    consumer.close()


def test_tls_serves_every_service_on_one_https_port(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    authority.cert_pem.write_to_path(str(ca_file))
    with start_emulator(EmulatorSettings(tls_cert=cert_file, tls_key=key_file)) as emulator:
        assert emulator.base_url.startswith("https://")
        signed_up = requests.post(
            f"{emulator.base_url}/api/account/{emulator.account}/signup",
            verify=str(ca_file),
            timeout=5,
        )
        token = signed_up.json()["jwt"]
        ws = websocket.create_connection(
            f"wss://{emulator.host_port}/ws_api/account/{emulator.account}/messaging/consumer?v=3",
            header=[f"Authorization: jwt {token}"],
            sslopt={"ca_certs": str(ca_file), "cert_reqs": ssl.CERT_REQUIRED},
            timeout=5,
        )
        ws.send('{"kind":"req","id":"1","type":"GetClock"}')
        assert json.loads(ws.recv())["code"] == 200
        ws.close()


def test_access_log_path_hides_the_jwt_of_the_path_form() -> None:
    assert (
        redact_path("/ws_api/account/1/messaging/consumer/eyJ.abc.def")
        == "/ws_api/account/1/messaging/consumer/<jwt>"
    )
    assert redact_path("/v1/AUTH_async-images/1/x.PNG") == "/v1/AUTH_async-images/1/x.PNG"


def test_command_options_become_settings() -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    defaults = command.settings_from(parser.parse_args([]))
    assert (defaults.host, defaults.port, defaults.file_sharing_enabled) == (
        "127.0.0.1",
        8780,
        True,
    )
    chosen = command.settings_from(
        parser.parse_args(
            [
                "--port",
                "0",
                "--account",
                "42",
                "--file-sharing-disabled",
                "--idle-timeout-seconds",
                "5",
            ]
        )
    )
    assert (
        chosen.port,
        chosen.account,
        chosen.file_sharing_enabled,
        chosen.idle_timeout_seconds,
    ) == (0, "42", False, 5.0)


def test_identity_options_become_settings() -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    defaults = command.settings_from(parser.parse_args([]))
    assert (defaults.auth_public_key, defaults.unauth_connector_id, defaults.signup_disabled) == (
        None,
        None,
        False,
    )
    assert (defaults.token_lifetime_seconds, defaults.external_token_lifetime_seconds) == (
        None,
        600,
    )
    chosen = command.settings_from(
        parser.parse_args(
            [
                "--auth-public-key",
                "/etc/connector.pem",
                "--auth-issuer",
                "https://brand",
                "--unauth-connector-id",
                "2470021030",
                "--unauth-refresh-window-seconds",
                "30",
                "--token-lifetime-seconds",
                "10",
                "--external-token-lifetime-seconds",
                "10",
                "--signup-disabled",
            ]
        )
    )
    assert (chosen.auth_public_key, chosen.auth_issuer, chosen.unauth_connector_id) == (
        Path("/etc/connector.pem"),
        "https://brand",
        "2470021030",
    )
    assert (
        chosen.unauth_refresh_window_seconds,
        chosen.token_lifetime_seconds,
        chosen.external_token_lifetime_seconds,
        chosen.signup_disabled,
    ) == (30.0, 10, 10, True)


def test_a_public_key_that_is_not_pem_stops_the_command_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "connector.pem"
    bad.write_text("not a key", encoding="ascii")
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    assert command.run(parser.parse_args(["--port", "0", "--auth-public-key", str(bad)])) == 2


def test_command_serves_until_sigterm_and_exits_zero() -> None:
    script = (
        "import argparse, sys\n"
        "from syncd.emulator import command\n"
        "parser = argparse.ArgumentParser()\n"
        "command.add_arguments(parser)\n"
        "sys.exit(command.run(parser.parse_args(sys.argv[1:])))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "--port", "0", "--account", "777"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        domain_api = next(line.split()[-1] for line in lines if "domain_api" in line)
        answer = requests.get(
            f"{domain_api}/api/account/777/service/idp/baseURI.json?version=1.0", timeout=5
        )
        assert answer.json()["service"] == "idp"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
