"""Journald-friendly, one-line, redacted logging, written to real files standing in for stderr."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.errors import ConfigError
from syncd.liveperson.response_bodies import parse_temp_url
from syncd.service.log_context import route_logger
from syncd.service.log_redaction import RedactingFilter, redact
from syncd.service.logs import configure_logging

LOGGER_NAME = "syncd.test"


@pytest.fixture(autouse=True)
def restored_root_logger() -> Iterator[None]:
    """Undo configure_logging's changes to the process-wide root logger after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if any(isinstance(each, RedactingFilter) for each in handler.filters):
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def stderr_file(tmp_path: Path) -> Iterator[TextIO]:
    with open(tmp_path / "stderr.log", "w", encoding="utf-8") as stream:
        yield stream


def journal_environment(stream: TextIO) -> dict[str, str]:
    """What systemd puts in JOURNAL_STREAM when ``stream`` is its journal connection."""
    status = os.fstat(stream.fileno())
    return {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}


def written_lines(stream: TextIO) -> list[str]:
    """The lines as journald would split them: on newline characters only."""
    stream.flush()
    text = Path(stream.name).read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_jwt() -> str:
    """A real HS256 JWT shaped like an IdP signup token."""
    header = base64url(json.dumps({"kid": "00001", "typ": "JWT", "alg": "HS256"}).encode())
    claims = {"sub": "ac84e1cf-3c55-4a3b-9d2e", "aud": "acc:66001775", "exp": 2053910318}
    payload = base64url(json.dumps(claims).encode())
    signature = hmac.new(b"test key", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{base64url(signature)}"


def swift_temp_url() -> tuple[str, str]:
    """A Swift temp URL signed the way Swift signs them, and its 40-hex signature."""
    path = "/v1/AUTH_syncd/files/2f0c7d52-6a4e-4e8b-9a55-0d8f3e1b7c21.jpg"
    expires = 1893456000
    body = f"PUT\n{expires}\n{path}".encode()
    signature = hmac.new(b"container key", body, hashlib.sha1).hexdigest()
    url = f"https://storage.example.net{path}?temp_url_sig={signature}&temp_url_expires={expires}"
    return url, signature


def test_under_journald_each_level_gets_its_syslog_priority_prefix(stderr_file: TextIO) -> None:
    configure_logging("debug", stderr_file, journal_environment(stderr_file))
    logger = logging.getLogger(LOGGER_NAME)
    logger.debug("polling")
    logger.info("started")
    logger.warning("slow")
    logger.error("failed")
    assert written_lines(stderr_file) == [
        "<7>syncd.test: polling",
        "<6>syncd.test: started",
        "<4>syncd.test: slow",
        "<3>syncd.test: failed",
    ]


def test_without_journald_lines_carry_time_level_and_logger(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, {})
    logging.getLogger(LOGGER_NAME).info("started")
    (line,) = written_lines(stderr_file)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO syncd\.test: started", line)


def test_a_journal_stream_naming_another_file_means_stderr_was_redirected(
    stderr_file: TextIO, tmp_path: Path
) -> None:
    with open(tmp_path / "journal-socket-stand-in", "w", encoding="utf-8") as other:
        configure_logging("info", stderr_file, journal_environment(other))
    logging.getLogger(LOGGER_NAME).warning("slow")
    (line,) = written_lines(stderr_file)
    assert not line.startswith("<")
    assert line.endswith(" WARNING syncd.test: slow")


def test_records_below_the_configured_level_are_not_written(stderr_file: TextIO) -> None:
    configure_logging("WARNING", stderr_file, journal_environment(stderr_file))
    logger = logging.getLogger(LOGGER_NAME)
    logger.info("routine")
    logger.warning("unusual")
    assert written_lines(stderr_file) == ["<4>syncd.test: unusual"]


def test_an_unknown_level_is_a_config_error(stderr_file: TextIO) -> None:
    with pytest.raises(ConfigError) as raised:
        configure_logging("verbose", stderr_file, {})
    assert "verbose" in raised.value.problems[0]


def test_configuring_again_replaces_the_handler_instead_of_adding_one(
    stderr_file: TextIO, tmp_path: Path
) -> None:
    configure_logging("info", stderr_file, {})
    with open(tmp_path / "second.log", "w", encoding="utf-8") as second_file:
        configure_logging("info", second_file, journal_environment(second_file))
        logging.getLogger(LOGGER_NAME).info("once")
        assert written_lines(second_file) == ["<6>syncd.test: once"]
    stderr_file.flush()
    assert Path(stderr_file.name).read_text(encoding="utf-8") == ""


def test_a_multi_line_message_stays_one_line(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("first\nsecond\r\nthird\u2028fourth")
    assert written_lines(stderr_file) == ["<6>syncd.test: first\\nsecond\\r\\nthird\\u2028fourth"]


def test_a_traceback_is_folded_into_the_error_line(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))

    def decode_scan() -> None:
        raise ValueError("truncated JPEG")

    try:
        decode_scan()
    except ValueError:
        logging.getLogger(LOGGER_NAME).exception("cannot prepare scan_0001.jpg")
    (line,) = written_lines(stderr_file)
    assert line.startswith("<3>syncd.test: cannot prepare scan_0001.jpg\\nTraceback")
    assert "in decode_scan\\n" in line
    assert line.endswith("ValueError: truncated JPEG")


def test_control_characters_from_a_hostile_file_name_are_escaped(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("received %s", "evil\x1b[2J\x07.jpg")
    assert written_lines(stderr_file) == ["<6>syncd.test: received evil\\x1b[2J\\x07.jpg"]


def test_a_jwt_in_a_message_is_redacted(stderr_file: TextIO) -> None:
    token = signed_jwt()
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info(f"signed up, token {token} stored")
    assert written_lines(stderr_file) == ["<6>syncd.test: signed up, token [REDACTED] stored"]


def test_a_jwt_in_a_websocket_path_argument_is_redacted(stderr_file: TextIO) -> None:
    token = signed_jwt()
    url = f"wss://va.msg.liveperson.net/ws_api/account/66001775/messaging/consumer/{token}?v=3"
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("connecting to %s", url)
    (line,) = written_lines(stderr_file)
    assert token not in line
    assert line.endswith("consumer/[REDACTED]?v=3")


def test_an_authorization_header_keeps_its_scheme_and_loses_its_token(
    stderr_file: TextIO,
) -> None:
    headers = {"Authorization": f"jwt {signed_jwt()}", "Accept": "application/json"}
    configure_logging("debug", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).debug("upgrade headers %r", headers)
    assert written_lines(stderr_file) == [
        "<7>syncd.test: upgrade headers "
        "{'Authorization': 'jwt [REDACTED]', 'Accept': 'application/json'}"
    ]


def test_a_bearer_token_is_redacted(stderr_file: TextIO) -> None:
    bearer = hashlib.sha256(b"login session").hexdigest()
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("PUT setting with Bearer %s refused", bearer)
    assert written_lines(stderr_file) == [
        "<6>syncd.test: PUT setting with Bearer [REDACTED] refused"
    ]


def test_a_temp_url_signature_is_redacted_and_the_expiry_stays_readable(
    stderr_file: TextIO,
) -> None:
    url, signature = swift_temp_url()
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("uploading to %s", url)
    (line,) = written_lines(stderr_file)
    assert signature not in line
    assert "?temp_url_sig=[REDACTED]&temp_url_expires=1893456000" in line


def test_passwords_in_a_login_body_and_a_form_are_redacted(stderr_file: TextIO) -> None:
    body = json.dumps({"username": "admin", "password": "correct horse battery staple"})
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logger = logging.getLogger(LOGGER_NAME)
    logger.info("login body %s", body)
    logger.info("form %s", "username=admin&password=hunter2&v=1.3")
    assert written_lines(stderr_file) == [
        '<6>syncd.test: login body {"username": "admin", "password": "[REDACTED]"}',
        "<6>syncd.test: form username=admin&password=[REDACTED]&v=1.3",
    ]


def test_login_response_secrets_are_redacted_and_the_rest_kept(stderr_file: TextIO) -> None:
    response = {
        "bearer": hashlib.sha256(b"bearer").hexdigest(),
        "csrf": hashlib.sha256(b"csrf").hexdigest()[:32],
        "jwt": signed_jwt(),
        "config": {"userId": "3210", "loginName": "admin"},
    }
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("login answered %s", json.dumps(response))
    assert written_lines(stderr_file) == [
        '<6>syncd.test: login answered {"bearer": "[REDACTED]", "csrf": "[REDACTED]", '
        '"jwt": "[REDACTED]", "config": {"userId": "3210", "loginName": "admin"}}'
    ]


def test_json_quoted_inside_json_is_redacted(stderr_file: TextIO) -> None:
    inner = json.dumps({"password": "s3cret value"})
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logging.getLogger(LOGGER_NAME).info("frame %s", json.dumps({"body": inner}))
    (line,) = written_lines(stderr_file)
    assert "s3cret" not in line
    assert '\\"password\\": \\"[REDACTED]\\"' in line


def test_secrets_in_an_exception_traceback_are_redacted(stderr_file: TextIO) -> None:
    url, signature = swift_temp_url()
    token = signed_jwt()
    configure_logging("info", stderr_file, journal_environment(stderr_file))

    def upload() -> None:
        raise ConnectionError(f"PUT {url} failed (Authorization: jwt {token})")

    try:
        upload()
    except ConnectionError:
        logging.getLogger(LOGGER_NAME).exception("upload failed")
    (line,) = written_lines(stderr_file)
    assert signature not in line
    assert token not in line
    assert "temp_url_sig=[REDACTED]" in line
    assert "Authorization: jwt [REDACTED])" in line


def test_words_that_only_mention_secrets_are_left_alone(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    logger = logging.getLogger(LOGGER_NAME)
    logger.info("cannot read jwt: state row missing")
    logger.info("password file %s is group-readable", "/etc/syncd/lp-admin-password")
    assert written_lines(stderr_file) == [
        "<6>syncd.test: cannot read jwt: state row missing",
        "<6>syncd.test: password file /etc/syncd/lp-admin-password is group-readable",
    ]


def test_a_record_with_mismatched_arguments_is_shown_instead_of_raised() -> None:
    # Checked on the filter itself: pytest's own capture handler would raise on this record.
    token = signed_jwt()
    record = logging.LogRecord(
        LOGGER_NAME, logging.INFO, __file__, 1, "sent %s as %s with %s", (token,), None
    )
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == (
        "'sent %s as %s with %s' % ('[REDACTED]',) "
        "(unformattable: not enough arguments for format string)"
    )


SECRET_RENDERINGS = [
    "Authorization: jwt {secret}",
    "{{'Authorization': 'Bearer {secret}'}}",
    "curl -H 'Authorization: Bearer {secret}'",
    "token eyJ{secret}.eyJ{secret}.{secret}",
    '{{"password": "{secret}"}}',
    "username=admin&password={secret}&v=1.3",
    '{{"bearer": "{secret}", "csrf": "{secret}"}}',
    "?temp_url_sig={secret}&temp_url_expires=1893456000",
    "Cookie: Session_id={secret}; path=/",
]


@settings(max_examples=400)
@given(
    rendering=st.sampled_from(SECRET_RENDERINGS),
    secret=st.text(alphabet="abcdefABCDEF0123456789", min_size=16, max_size=40),
    before=st.text(max_size=12),
    after=st.text(max_size=12),
)
def test_a_secret_never_survives_whatever_text_surrounds_it(
    rendering: str, secret: str, before: str, after: str
) -> None:
    text = before + rendering.format(secret=secret) + after
    assert secret not in redact(text)


def test_python_warnings_are_logged_as_one_line(stderr_file: TextIO) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("info", stderr_file, journal_environment(stderr_file))
        warnings.warn("image has\n90000000 pixels", RuntimeWarning, stacklevel=1)
    (line,) = written_lines(stderr_file)
    assert line.startswith("<4>py.warnings: ")
    assert "RuntimeWarning: image has\\n90000000 pixels" in line


def test_a_route_logger_names_the_route_and_the_file(stderr_file: TextIO) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    log = route_logger("invoices", "syncd.sender").bind(file="scan_0001.jpg")
    log.info("published as sequence %d", 12)
    assert written_lines(stderr_file) == [
        "<6>syncd.sender: route=invoices file=scan_0001.jpg: published as sequence 12"
    ]


def test_context_values_with_spaces_or_percent_signs_are_quoted_and_kept_literal(
    stderr_file: TextIO,
) -> None:
    configure_logging("info", stderr_file, journal_environment(stderr_file))
    log = route_logger("claims", "syncd.receiver", file="100% done scan.jpg")
    log.info("saved")
    log.info("saved as %s", "inbox/100.jpg")
    assert written_lines(stderr_file) == [
        "<6>syncd.receiver: route=claims file='100% done scan.jpg': saved",
        "<6>syncd.receiver: route=claims file='100% done scan.jpg': saved as inbox/100.jpg",
    ]


def test_a_route_logger_records_the_function_that_called_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="syncd.sender")
    route_logger("invoices", "syncd.sender").warning("slow upload")
    (record,) = caplog.records
    assert record.funcName == "test_a_route_logger_records_the_function_that_called_it"
    assert record.getMessage() == "route=invoices: slow upload"


@pytest.mark.parametrize("level", ["info", "debug"])
def test_watchdogs_stop_race_is_not_reported_as_an_error(stderr_file: TextIO, level: str) -> None:
    configure_logging(level, stderr_file, journal_environment(stderr_file))
    # The very call watchdog 7 makes when an observer stops between two reads.
    logging.getLogger("watchdog.observers.inotify").error(
        "InotifyEmitter.queue_events() called when the thread is inactive"
    )
    logging.getLogger("watchdog.observers.inotify").error("a real watchdog error")
    expected_race = (
        [
            "<7>watchdog.observers.inotify: InotifyEmitter.queue_events() called when the thread "
            "is inactive"
        ]
        if level == "debug"
        else []
    )
    assert written_lines(stderr_file) == [
        *expected_race,
        "<3>watchdog.observers.inotify: a real watchdog error",
    ]


def test_a_temp_urls_repr_never_shows_its_signature() -> None:
    signature = "c2lnbmF0dXJlLXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQ"
    temp_url = parse_temp_url(
        {
            "relativePath": "/v1/AUTH_async-images/le123/0001.jpg",
            "queryParams": {"temp_url_sig": signature, "temp_url_expires": "1800000000"},
        }
    )
    assert temp_url.query()["temp_url_sig"] == signature
    assert signature not in repr(temp_url)
    assert "/v1/AUTH_async-images/le123/0001.jpg" in repr(temp_url)
