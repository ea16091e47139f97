"""The identity keys: which consumer flow, its key file (and where it comes from), per route ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd.config import identity_warnings, parse_config
from syncd.errors import ConfigError


def _data(liveperson: dict[str, Any], route: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "liveperson": {"account": "12345678", **liveperson},
        "state": {"database": "state/syncd.sqlite3"},
        "route": [{"name": "claims", "outbox": "o", "inbox": "i", **(route or {})}],
    }


def _problems(data: dict[str, Any], base_dir: Path, **options: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base_dir, **options)
    return caught.value.problems


def _key_file(folder: Path, mode: int = 0o600) -> Path:
    path = folder / "lp-consumer-key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\n", encoding="ascii")
    path.chmod(mode)
    return path


def test_a_real_host_needs_an_identity_and_the_problem_names_the_key(tmp_path: Path) -> None:
    problems = _problems(_data({}), tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("liveperson.identity: required for api.liveperson.net")


def test_the_emulator_on_this_machine_defaults_to_signup(tmp_path: Path) -> None:
    config = parse_config(_data({"domain_api": "http://127.0.0.1:8780"}), tmp_path)
    assert config.liveperson.identity == "signup"


def test_authenticated_needs_a_key_file_and_an_issuer(tmp_path: Path) -> None:
    problems = _problems(_data({"identity": "authenticated"}), tmp_path)
    assert problems == [
        'liveperson.private_key_file: required with identity = "authenticated"',
        'liveperson.issuer: required with identity = "authenticated"',
    ]


def test_authenticated_with_its_keys_and_route_details(tmp_path: Path) -> None:
    key = _key_file(tmp_path)
    data = _data(
        {"identity": "authenticated", "private_key_file": key.name, "issuer": "https://x"},
        {"consumer_id": "scanner-12", "display_name": "Claims scanner, Branch 12"},
    )
    config = parse_config(data, tmp_path, environment={})
    assert config.liveperson.private_key_file == key
    assert config.liveperson.issuer == "https://x"
    route = config.route("claims")
    assert (route.consumer_id, route.display_name) == ("scanner-12", "Claims scanner, Branch 12")


def test_a_relative_key_file_comes_from_the_credentials_directory_when_systemd_sets_it(
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    key = _key_file(credentials)
    data = _data({"identity": "authenticated", "private_key_file": key.name, "issuer": "https://x"})
    config = parse_config(data, tmp_path, environment={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.liveperson.private_key_file == key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_can_read_is_refused_like_the_admin_password(
    tmp_path: Path, mode: int
) -> None:
    key = _key_file(tmp_path, mode)
    data = _data({"identity": "authenticated", "private_key_file": str(key), "issuer": "x"})
    assert _problems(data, tmp_path) == [
        f"liveperson.private_key_file: {key} is readable by other users (mode {mode:o}); "
        "chmod 600 it"
    ]


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    data = _data({"identity": "authenticated", "private_key_file": "gone.pem", "issuer": "x"})
    assert _problems(data, tmp_path, environment={}) == [
        f"liveperson.private_key_file: no such file: {tmp_path / 'gone.pem'}"
    ]


def test_unauthenticated_needs_a_connector_id(tmp_path: Path) -> None:
    assert _problems(_data({"identity": "unauthenticated"}), tmp_path) == [
        'liveperson.connector_id: required with identity = "unauthenticated"'
    ]


def test_keys_of_the_other_flow_are_refused_rather_than_ignored(tmp_path: Path) -> None:
    data = _data(
        {"identity": "unauthenticated", "connector_id": "42", "issuer": "x"},
        {"consumer_id": "scanner", "display_name": "Scanner"},
    )
    assert _problems(data, tmp_path) == [
        'liveperson.issuer: only used with identity = "authenticated"',
        'route[0].consumer_id: only used with identity = "authenticated"',
        'route[0].display_name: only used with identity = "authenticated"',
    ]


def test_an_unknown_identity_is_a_choice_problem(tmp_path: Path) -> None:
    problems = _problems(_data({"identity": "oauth"}), tmp_path)
    assert problems == [
        "liveperson.identity: expected one of authenticated, unauthenticated, signup, got 'oauth'"
    ]


def test_signup_against_a_real_host_is_warned_about_quoting_liveperson() -> None:
    warnings = identity_warnings("signup", "https://api.liveperson.net")
    assert len(warnings) == 1
    assert "Please do not use the below method in your production environments" in warnings[0]
    assert "liveperson.identity" in warnings[0]
    assert identity_warnings("signup", "http://127.0.0.1:8780") == []
    assert identity_warnings("authenticated", "https://api.liveperson.net") == []
