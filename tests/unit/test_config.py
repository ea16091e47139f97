"""Configuration: TOML files in real folders, every problem class, the example file."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd.config import (
    KNOWN_KEYS,
    SECTION_KEYS,
    AdminConfig,
    Config,
    DaemonConfig,
    LivePersonConfig,
    RouteConfig,
    StateConfig,
    config_file_permission_warning,
    load_config,
    parse_config,
)
from syncd.errors import ConfigError
from tests.helpers.privileges import call_without_capabilities

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "config.example.toml"

MINIMAL_TOML = """\
[liveperson]
account = 12345678
# A real host (the default Domain API) needs an identity flow; this one needs no key file.
identity = "unauthenticated"
connector_id = "2470021030"

[state]
database = "state/syncd.sqlite3"

[[route]]
name = "invoices"
outbox = "invoices/outbox"
inbox = "invoices/inbox"

[[route]]
name = "claims"
outbox = "claims/outbox"
inbox = "claims/inbox"
"""

REMOVE = object()


def valid_data() -> dict[str, Any]:
    return tomllib.loads(MINIMAL_TOML)


def edited(data: dict[str, Any], key_path: str, value: object) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key_path`` (``route[1].watch``) set or removed."""
    result = copy.deepcopy(data)
    container: Any = result
    steps: list[str | int] = []
    for part in key_path.split("."):
        name, _, index = part.partition("[")
        steps.append(name)
        if index:
            steps.append(int(index.rstrip("]")))
    *parents, last = steps
    for step in parents:
        container = container.setdefault(step, {}) if isinstance(step, str) else container[step]
    if value is REMOVE:
        del container[last]
    else:
        container[last] = value
    return result


def problems_of(data: dict[str, Any], base_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base_dir)
    return caught.value.problems


def write_config(folder: Path, text: str) -> Path:
    path = folder / "syncd.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- a good configuration -------------------------------------------------------------------


def test_minimal_config_loads_with_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, MINIMAL_TOML))
    assert config.source_path == tmp_path / "syncd.toml"
    assert config.liveperson == LivePersonConfig(
        account="12345678",
        domain_api="https://api.liveperson.net",
        ca_file=None,
        request_timeout_seconds=30.0,
        keepalive_seconds=30.0,
        identity="unauthenticated",
        connector_id="2470021030",
    )
    assert config.state == StateConfig(database=tmp_path / "state" / "syncd.sqlite3")
    assert config.daemon == DaemonConfig(prepare_workers=2, log_level="info")
    assert config.admin == AdminConfig(username=None)
    assert config.route("claims") == RouteConfig(
        name="claims",
        outbox=tmp_path / "claims" / "outbox",
        inbox=tmp_path / "claims" / "inbox",
        skill_id=None,
        caption="{filename}",
        after_send="archive",
        watch="auto",
        settle_seconds=2.0,
        poll_seconds=5.0,
        rescan_seconds=300.0,
        max_download_bytes=5_242_880,
        send_accept_receipts=True,
        save_agent_text=True,
        close_after_idle_minutes=None,
    )
    assert [route.name for route in config.routes] == ["invoices", "claims"]


def test_relative_paths_are_taken_from_the_config_folder_not_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_folder = tmp_path / "etc"
    config_folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path(os.path.relpath(write_config(config_folder, MINIMAL_TOML))))
    assert config.route("invoices").outbox == config_folder / "invoices" / "outbox"
    assert config.state.database.parent == config_folder / "state"


def test_derived_folders_live_inside_the_outbox(tmp_path: Path) -> None:
    route = load_config(write_config(tmp_path, MINIMAL_TOML)).route("invoices")
    assert route.work_dir == route.outbox / ".syncd-work"
    assert route.sent_dir == route.outbox / "sent"
    assert route.failed_dir == route.outbox / "failed"


def test_every_key_can_be_set_and_ids_given_as_integers_become_strings(tmp_path: Path) -> None:
    (tmp_path / "proxy-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    text = MINIMAL_TOML.replace(
        "account = 12345678",
        'account = "012345"\ndomain_api = "http://127.0.0.1:8780/"\nca_file = "proxy-ca.pem"\n'
        "request_timeout_seconds = 12.5\nkeepalive_seconds = 20",
    ).replace(
        'inbox = "claims/inbox"',
        'inbox = "claims/inbox"\nskill_id = 3587214101\ncaption = "{route}: {stem}"\n'
        'after_send = "delete"\nwatch = "POLL"\nsettle_seconds = 0.1\npoll_seconds = 0.5\n'
        "rescan_seconds = 60\nmax_download_bytes = 1_000\nsend_accept_receipts = false\n"
        'document_caption = "{stem} page {page} of {pages}"\nmax_pages = 20',
    )
    text += '\n[daemon]\nprepare_workers = 4\nlog_level = "debug"\n[admin]\nusername = "admin"\n'
    config = load_config(write_config(tmp_path, text))
    assert config.liveperson == LivePersonConfig(
        "012345",
        "http://127.0.0.1:8780",
        tmp_path / "proxy-ca.pem",
        12.5,
        20.0,
        identity="unauthenticated",
        connector_id="2470021030",
    )
    assert config.daemon == DaemonConfig(prepare_workers=4, log_level="debug")
    assert config.admin == AdminConfig(username="admin")
    claims = config.route("claims")
    assert (claims.skill_id, claims.caption, claims.after_send, claims.watch) == (
        "3587214101",
        "{route}: {stem}",
        "delete",
        "poll",
    )
    assert (claims.settle_seconds, claims.poll_seconds, claims.rescan_seconds) == (0.1, 0.5, 60.0)
    assert (claims.max_download_bytes, claims.send_accept_receipts) == (1000, False)
    assert (claims.document_caption, claims.max_pages) == ("{stem} page {page} of {pages}", 20)


def test_config_is_frozen_and_routes_are_looked_up_by_name(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, MINIMAL_TOML))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.route("invoices").settle_seconds = 9  # type: ignore[misc]
    with pytest.raises(KeyError):
        config.route("nope")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8780", "http://127.9.9.9", "http://[::1]:9", "http://localhost:80"]
)
def test_plain_http_is_allowed_to_this_machine(url: str, tmp_path: Path) -> None:
    config = parse_config(edited(valid_data(), "liveperson.domain_api", url), tmp_path)
    assert config.liveperson.domain_api == url


# --- one problem at a time ------------------------------------------------------------------

NAME_RULE = "route[0].name: use 1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-'"

PROBLEM_CASES = [
    # unknown keys, at every level
    ("accout", 1, "accout: unknown key (did you mean 'liveperson.account'?)"),
    ("liveperson.acount", 1, "liveperson.acount: unknown key (did you mean 'account'?)"),
    ("state.path", "x", "state.path: unknown key"),
    ("daemon.workers", 2, "daemon.workers: unknown key (did you mean 'prepare_workers'?)"),
    ("admin.password", "hunter2", "admin.password: unknown key"),
    ("route[1].outbx", "x", "route[1].outbx: unknown key (did you mean 'outbox'?)"),
    # a key spelled right in the wrong table: refused, with the table it belongs in
    ("log_level", "debug", "log_level: unknown key here; it belongs in 'daemon.log_level'"),
    (
        "liveperson.log_level",
        "debug",
        "liveperson.log_level: unknown key here; it belongs in 'daemon.log_level'",
    ),
    (
        "daemon.settle_seconds",
        1,
        "daemon.settle_seconds: unknown key here; it belongs in 'route.settle_seconds'",
    ),
    (
        "route[0].account",
        "123",
        "route[0].account: unknown key here; it belongs in 'liveperson.account'",
    ),
    ("state.username", "x", "state.username: unknown key here; it belongs in 'admin.username'"),
    (
        "admin.database",
        "x.db",
        "admin.database: unknown key here; it belongs in 'state.database'",
    ),
    # missing required keys
    ("liveperson.account", REMOVE, "liveperson.account: required"),
    ("liveperson", REMOVE, "liveperson.account: required"),
    ("state.database", REMOVE, "state.database: required"),
    ("route[0].name", REMOVE, "route[0].name: required"),
    ("route[1].outbox", REMOVE, "route[1].outbox: required"),
    ("route[1].inbox", REMOVE, "route[1].inbox: required"),
    ("route", REMOVE, "route: at least one [[route]] table is required"),
    ("route", [], "route: expected one or more [[route]] tables, got an array"),
    ("route", {"name": "x"}, "route: expected one or more [[route]] tables, got a table"),
    # wrong types
    ("liveperson", "12345", "liveperson: expected a table, got '12345'"),
    ("liveperson.account", True, "liveperson.account: expected a string of digits, got true"),
    ("liveperson.account", "le123", "liveperson.account: expected a string of digits, got 'le123'"),
    ("liveperson.account", -5, "liveperson.account: expected a string of digits, got -5"),
    ("liveperson.domain_api", 8080, "liveperson.domain_api: expected a string, got 8080"),
    ("liveperson.domain_api", False, "liveperson.domain_api: expected a string, got false"),
    # a value is shown whole up to 60 characters (its repr), cut with "..." beyond
    (
        "daemon.prepare_workers",
        "y" * 58,
        "daemon.prepare_workers: expected a whole number, got '" + "y" * 58 + "'",
    ),
    (
        "daemon.prepare_workers",
        "z" * 59,
        "daemon.prepare_workers: expected a whole number, got '" + "z" * 56 + "...",
    ),
    (
        "liveperson.request_timeout_seconds",
        "30",
        "liveperson.request_timeout_seconds: expected a number, got '30'",
    ),
    ("state.database", 3, "state.database: expected a string, got 3"),
    ("state.database", "", "state.database: must not be empty"),
    ("daemon.prepare_workers", 2.5, "daemon.prepare_workers: expected a whole number, got 2.5"),
    ("daemon.prepare_workers", 0, "daemon.prepare_workers: must be within 1..32, got 0"),
    ("admin.username", 7, "admin.username: expected a string, got 7"),
    ("admin.username", "a\nb", "admin.username: must not contain control characters"),
    ("route[0]", "x", "route[0]: expected a table, got 'x'"),
    ("route[1].name", 5, "route[1].name: expected a string, got 5"),
    ("route[1].skill_id", "sales", "route[1].skill_id: expected a string of digits, got 'sales'"),
    ("route[1].settle_seconds", "two", "route[1].settle_seconds: expected a number, got 'two'"),
    ("route[1].poll_seconds", [5], "route[1].poll_seconds: expected a number, got an array"),
    ("route[1].rescan_seconds", True, "route[1].rescan_seconds: expected a number, got true"),
    (
        "route[1].max_download_bytes",
        1.5e6,
        "route[1].max_download_bytes: expected a whole number, got 1500000.0",
    ),
    ("route[1].max_pages", 0, "route[1].max_pages: must be within 1..10000, got 0"),
    (
        "route[1].document_caption",
        "{page}/{pages} {size}",
        "route[1].document_caption: unknown field {size}; use {filename}, {stem}, {route},"
        " {modified}, {page} or {pages}",
    ),
    (
        "route[1].send_accept_receipts",
        "yes",
        "route[1].send_accept_receipts: expected true or false, got 'yes'",
    ),
    # bad enums
    (
        "route[0].watch",
        "inotify",
        "route[0].watch: expected one of auto, events, poll, got 'inotify'",
    ),
    (
        "route[0].after_send",
        "move",
        "route[0].after_send: expected one of archive, delete, got 'move'",
    ),
    (
        "daemon.log_level",
        "loud",
        "daemon.log_level: expected one of debug, info, warning, error, critical, got 'loud'",
    ),
    # out of range numbers
    ("route[0].settle_seconds", 0.05, "route[0].settle_seconds: must be at least 0.1, got 0.05"),
    ("route[0].poll_seconds", 0, "route[0].poll_seconds: must be greater than 0, got 0"),
    ("route[0].rescan_seconds", -1, "route[0].rescan_seconds: must be greater than 0, got -1"),
    (
        "route[0].settle_seconds",
        float("inf"),
        "route[0].settle_seconds: must be a finite number, got inf",
    ),
    (
        "route[0].poll_seconds",
        float("nan"),
        "route[0].poll_seconds: must be a finite number, got nan",
    ),
    (
        "route[0].max_download_bytes",
        0,
        "route[0].max_download_bytes: must be within 1..1099511627776, got 0",
    ),
    (
        "liveperson.keepalive_seconds",
        60,
        "liveperson.keepalive_seconds: must be below 60 (LivePerson closes idle connections "
        "after 60 s), got 60",
    ),
    # route names and paths
    ("route[0].name", "my route", f"{NAME_RULE}, got 'my route'"),
    ("route[0].name", "..", f"{NAME_RULE}, got '..'"),
    ("route[0].name", "-x", f"{NAME_RULE}, got '-x'"),
    ("route[0].name", "x" * 65, f"{NAME_RULE}, got '{'x' * 65}'"),
    (
        "route[0].outbox",
        "~/scans",
        "route[0].outbox: '~' is not expanded; write the full path, got '~/scans'",
    ),
    # caption templates
    (
        "route[0].caption",
        "{filename.__class__}",
        "route[0].caption: {filename.__class__}: attribute access and indexing are not allowed",
    ),
    (
        "route[0].caption",
        "{copies} copies",
        "route[0].caption: unknown field {copies}; use {filename}, {stem}, {route}, {modified},"
        " {page} or {pages}",
    ),
    (
        "route[0].caption",
        "Scan {stem",
        "route[0].caption: malformed template: expected '}' before end of string",
    ),
    # URLs
    (
        "liveperson.domain_api",
        "http://api.liveperson.net",
        "liveperson.domain_api: plain http is only allowed to this machine (127.0.0.0/8, ::1, "
        "localhost), got 'http://api.liveperson.net'; use https://",
    ),
    (
        "liveperson.domain_api",
        "http://10.0.0.5:8780",
        "liveperson.domain_api: plain http is only allowed to this machine (127.0.0.0/8, ::1, "
        "localhost), got 'http://10.0.0.5:8780'; use https://",
    ),
    (
        "liveperson.domain_api",
        "ftp://127.0.0.1",
        "liveperson.domain_api: expected an https:// URL with a host, got 'ftp://127.0.0.1'",
    ),
    (
        "liveperson.domain_api",
        "api.liveperson.net",
        "liveperson.domain_api: expected an https:// URL with a host, got 'api.liveperson.net'",
    ),
    (
        "liveperson.domain_api",
        "https://user:secret@api.liveperson.net",
        "liveperson.domain_api: must not contain credentials, a query or a fragment",
    ),
    (
        "liveperson.domain_api",
        "https://admin:s3cret@host:99999",
        "liveperson.domain_api: not a valid URL: 'https://***@host:99999'",
    ),
    (
        "liveperson.domain_api",
        "https://host:99999",
        "liveperson.domain_api: not a valid URL: 'https://host:99999'",
    ),
    # relations between routes
    ("route[1].name", "invoices", "route[1].name: 'invoices' is already used by route[0]"),
    ("route[1].inbox", "claims/outbox", "route[1].inbox: must differ from route[1].outbox"),
    (
        "route[1].inbox",
        "invoices/outbox/returned",
        "route[1].inbox: inside route[0].outbox, so received files could be sent back",
    ),
    (
        "state.database",
        "claims/outbox/syncd.sqlite3",
        "state.database: inside route[1].outbox; keep it in its own folder",
    ),
]


@pytest.mark.parametrize(
    ("key_path", "value", "expected"),
    PROBLEM_CASES,
    ids=[f"{key_path}={value!r}"[:60] for key_path, value, _ in PROBLEM_CASES],
)
def test_each_mistake_is_reported_once_with_its_key_path(
    key_path: str, value: object, expected: str, tmp_path: Path
) -> None:
    assert problems_of(edited(valid_data(), key_path, value), tmp_path) == [expected]


def test_two_routes_watching_one_outbox_are_refused(tmp_path: Path) -> None:
    data = edited(valid_data(), "route[1].outbox", "invoices/outbox")
    assert (
        f"route[1].outbox: route[0] already watches {tmp_path / 'invoices' / 'outbox'}"
        in problems_of(data, tmp_path)
    )


def test_an_outbox_reached_through_a_symlink_is_still_the_same_outbox(tmp_path: Path) -> None:
    (tmp_path / "invoices" / "outbox").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "invoices" / "outbox")
    data = edited(valid_data(), "route[1].outbox", "alias")
    assert problems_of(data, tmp_path) == [
        f"route[1].outbox: route[0] already watches {tmp_path / 'alias'}"
    ]


def test_an_outbox_inside_another_routes_sent_folder_is_refused(tmp_path: Path) -> None:
    data = edited(valid_data(), "route[1].outbox", "invoices/outbox/sent")
    sent = tmp_path / "invoices" / "outbox" / "sent"
    assert problems_of(data, tmp_path) == [f"route[1].outbox: inside route[0]'s own folder {sent}"]


def test_a_ca_file_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    data = edited(valid_data(), "liveperson.ca_file", "missing.pem")
    assert problems_of(data, tmp_path) == [
        f"liveperson.ca_file: no such file: {tmp_path / 'missing.pem'}"
    ]


# Parses a config given as JSON on stdin and prints its problems as JSON: the parse runs in a
# child process so that, as root, it can run without the capabilities that ignore chmod.
_PROBLEMS_IN_A_CHILD = """
import json, sys
from pathlib import Path
from syncd.config import parse_config
from syncd.errors import ConfigError
try:
    parse_config(json.load(sys.stdin), Path(sys.argv[1]))
except ConfigError as error:
    print(json.dumps(error.problems))
else:
    print("[]")
"""


def test_a_ca_file_this_user_cannot_read_is_refused(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("pem", encoding="ascii")
    ca_file.chmod(0)
    data = edited(valid_data(), "liveperson.ca_file", "ca.pem")
    child = call_without_capabilities(
        lambda: subprocess.run(
            [sys.executable, "-c", _PROBLEMS_IN_A_CHILD, str(tmp_path)],
            input=json.dumps(data),
            capture_output=True,
            text=True,
            cwd=REPOSITORY,
            timeout=60,
            check=True,
        )
    )
    assert json.loads(child.stdout) == [f"liveperson.ca_file: not readable by this user: {ca_file}"]


def test_a_database_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a folder", encoding="ascii")
    assert problems_of(valid_data(), tmp_path) == [
        f"state.database: {tmp_path / 'state'} is not a folder, so {tmp_path / 'state'} "
        "cannot hold the database"
    ]


def test_file_checks_can_be_skipped_for_a_config_meant_for_another_machine(tmp_path: Path) -> None:
    data = edited(valid_data(), "liveperson.ca_file", "/nonexistent/ca.pem")
    data = edited(data, "state.database", "/nonexistent/deeper/state.db")
    config = parse_config(data, tmp_path, check_files=False)
    assert config.liveperson.ca_file == Path("/nonexistent/ca.pem")


# --- every problem at once ------------------------------------------------------------------


def test_five_mistakes_give_five_lines(tmp_path: Path) -> None:
    text = """\
[liveperson]
account = "acme"
domain_api = "http://lp.example.com"

[state]
database = "syncd.sqlite3"

[[route]]
name = "invoices"
outbox = "invoices/outbox"
inbox = "invoices/inbox"
watch = "inotify"

[[route]]
name = "claims"
outbox = "claims/outbox"
inbox = "claims/inbox"
settle_seconds = "two"
colour = "blue"
"""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text))
    assert caught.value.problems == [
        "liveperson.account: expected a string of digits, got 'acme'",
        "liveperson.domain_api: plain http is only allowed to this machine (127.0.0.0/8, ::1, "
        "localhost), got 'http://lp.example.com'; use https://",
        "route[0].watch: expected one of auto, events, poll, got 'inotify'",
        "route[1].colour: unknown key",
        "route[1].settle_seconds: expected a number, got 'two'",
    ]
    assert str(caught.value).count("\n") == 4


# --- the file itself ------------------------------------------------------------------------


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems == [
        f"{missing}: cannot read the configuration file: No such file or directory"
    ]


def test_a_folder_given_as_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path)


def test_a_toml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[liveperson]\naccount = "1"\nkeepalive_seconds = = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: invalid TOML: ")
    assert "line 3, column 21" in problem


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[admin]\nusername = "José"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}: not UTF-8 text (byte 23)"]


@pytest.mark.parametrize(
    ("mode", "expected_fragment"),
    [
        (0o600, None),
        (0o640, None),
        (0o644, "is readable by every user on this machine; run: chmod o-r"),
        (0o666, "can be changed by every user on this machine"),
    ],
)
def test_a_config_others_can_read_or_change_draws_a_warning(
    mode: int, expected_fragment: str | None, tmp_path: Path
) -> None:
    path = write_config(tmp_path, MINIMAL_TOML)
    path.chmod(mode)
    warning = config_file_permission_warning(path)
    if expected_fragment is None:
        assert warning is None
    else:
        assert warning is not None
        assert expected_fragment in warning
        assert str(path) in warning


def test_no_permission_warning_for_a_file_that_is_not_there(tmp_path: Path) -> None:
    assert config_file_permission_warning(tmp_path / "gone.toml") is None


# --- the example file and the schema --------------------------------------------------------


def test_the_example_config_parses_without_problems_anywhere() -> None:
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    config = parse_config(data, EXAMPLE.parent, check_files=False)
    assert [route.name for route in config.routes] == ["invoices", "claims"]
    assert config.route("invoices").outbox == Path("/srv/scans/invoices/outbox")
    assert config.liveperson.domain_api == "https://api.liveperson.net"


def test_the_example_config_loads_once_its_folders_point_somewhere_real(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for absolute in ("/srv/", "/mnt/", "/var/lib/", "/etc/syncd/"):
        text = text.replace(f'"{absolute}', f'"{tmp_path}{absolute}')
    text = text.replace("# ca_file =", "ca_file =")
    (tmp_path / "etc" / "syncd").mkdir(parents=True)
    (tmp_path / "etc" / "syncd" / "corporate-proxy-ca.pem").write_text("pem", encoding="ascii")
    # The example's private key sits next to the config file, private to its owner.
    (tmp_path / "lp-consumer-key.pem").write_text("pem", encoding="ascii")
    (tmp_path / "lp-consumer-key.pem").chmod(0o600)
    config = load_config(write_config(tmp_path, text))
    assert config.state.database == tmp_path / "var" / "lib" / "syncd" / "state.db"
    assert config.liveperson.ca_file == tmp_path / "etc" / "syncd" / "corporate-proxy-ca.pem"
    assert config.route("claims").after_send == "delete"


def documented_keys(text: str) -> set[str]:
    """Keys set or shown commented out (``# key = value``) under each table of a TOML text."""
    keys: set[str] = set()
    section = ""
    for line in text.splitlines():
        header = re.fullmatch(r"\[\[?([a-z_]+)\]\]?\s*", line)
        if header:
            section = header[1]
            continue
        assignment = re.fullmatch(r"#?\s*([a-z_]+)\s*=.*", line)
        if assignment and section:
            keys.add(f"{section}.{assignment[1]}")
    return keys


def test_the_example_config_documents_every_known_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert documented_keys(text) >= KNOWN_KEYS
    # and documents nothing the parser would refuse
    assert documented_keys(text) <= KNOWN_KEYS


def test_each_key_of_the_example_is_explained_by_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    routes_seen = 0
    for number, line in enumerate(lines):
        routes_seen += line == "[[route]]"
        # The second route only shows other values; the first one explains every key.
        if routes_seen < 2 and re.fullmatch(r"[a-z_]+ = .+", line):
            assert lines[number - 1].startswith("#"), f"example line {number + 1}: {line}"


def test_the_schema_matches_the_dataclasses() -> None:
    for section, cls in (
        ("liveperson", LivePersonConfig),
        ("state", StateConfig),
        ("daemon", DaemonConfig),
        ("admin", AdminConfig),
        ("route", RouteConfig),
    ):
        assert tuple(field.name for field in dataclasses.fields(cls)) == SECTION_KEYS[section]
    assert {f"{s}.{k}" for s, keys in SECTION_KEYS.items() for k in keys} == KNOWN_KEYS
    assert {field.name for field in dataclasses.fields(Config)} == {
        *SECTION_KEYS,
        "routes",
        "source_path",
    } - {"route"}


PURE_MODULES = sorted(
    [
        *(REPOSITORY / "syncd" / "config").glob("*.py"),
        *(REPOSITORY / "syncd" / "rules").glob("*.py"),
        REPOSITORY / "syncd" / "errors.py",
        # The sans-IO wire protocol: frames built and parsed, nothing sent.
        *(
            REPOSITORY / "syncd" / "liveperson" / f"{name}.py"
            for name in ("protocol", "request_bodies", "response_bodies", "notifications", "limits")
        ),
    ]
)
PURE_SYNCD_IMPORTS = ("errors", "rules", "config", "liveperson.protocol", "liveperson.limits")


@pytest.mark.parametrize("module", PURE_MODULES, ids=lambda path: path.stem)
def test_the_pure_core_imports_only_the_standard_library(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or top in ("__future__", "syncd")
            assert allowed, f"{module.name} imports {name}"
            if top == "syncd":
                inner = name.removeprefix("syncd.")
                assert inner.startswith(PURE_SYNCD_IMPORTS), name


def test_a_key_file_this_user_cannot_read_is_a_problem_only_when_secrets_are_checked(
    tmp_path: Path,
) -> None:
    # status, files and retry run as the syncd user without the credential; only check and
    # run (which sign tokens) need the key.
    key = tmp_path / "lp-consumer-key.pem"
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[liveperson]\naccount = "12345678"\nidentity = "authenticated"\n'
        'private_key_file = "lp-consumer-key.pem"\nissuer = "https://scans.example.com"\n'
        '[state]\ndatabase = "s.db"\n'
        '[[route]]\nname = "a"\noutbox = "o"\ninbox = "i"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"liveperson\.private_key_file: no such file"):
        load_config(config)
    assert load_config(config, check_secrets=False).liveperson.private_key_file == key
