"""The README and --help tell the truth about the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli import SUBCOMMAND_HELP, build_parser

REPOSITORY = Path(__file__).resolve().parents[2]
README = (REPOSITORY / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_the_two_newcomer_commands() -> None:
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]


@pytest.mark.parametrize("subcommand", sorted(SUBCOMMAND_HELP))
def test_the_readme_documents_every_subcommand(subcommand: str) -> None:
    assert f"`syncd {subcommand}" in README


def test_the_parser_has_exactly_the_documented_subcommands() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert set(actions[0].choices) == set(SUBCOMMAND_HELP)  # type: ignore[arg-type]


@pytest.mark.parametrize("subcommand", sorted(SUBCOMMAND_HELP))
def test_every_subcommand_answers_help(subcommand: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncd", subcommand, "--help"],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert SUBCOMMAND_HELP[subcommand] in " ".join(result.stdout.split())


def test_a_bad_config_exits_78_and_names_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[liveperson]\naccount = "12a"\ndomain_api = "http://example.com"\nsurprise = 1\n'
        '[state]\ndatabase = "s.db"\n[[route]]\nname = "x"\noutbox = "o"\ninbox = "i"\n'
        'watch = "inotify"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "syncd", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=False,
    )
    assert result.returncode == 78
    for key in (
        "liveperson.account",
        "liveperson.domain_api",
        "liveperson.surprise",
        "route[0].watch",
    ):
        assert key in result.stderr


DOCUMENTS = {
    "README.md": README,
    "config.example.toml": (REPOSITORY / "config.example.toml").read_text(encoding="utf-8"),
    "systemd/syncd.service": (REPOSITORY / "systemd" / "syncd.service").read_text(encoding="utf-8"),
}


@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_every_document_names_the_one_config_path_and_mode(document: str) -> None:
    text = DOCUMENTS[document]
    paths = set(re.findall(r"/etc/syncd/[\w.-]+\.toml", text))
    assert paths <= {"/etc/syncd/config.toml"}, paths
    # Wherever a line gives the config file's mode, it is 0640.
    for line in text.splitlines():
        if "config.toml" in line:
            assert set(re.findall(r"\b0[0-7]{3}\b", line)) <= {"0640"}, line


def test_the_readme_gives_the_emulator_logins_it_really_has() -> None:
    from syncd.emulator.settings import EmulatorSettings

    defaults = EmulatorSettings()
    for value in (defaults.account, defaults.admin_user, defaults.admin_password):
        assert f"`{value}`" in README


def test_no_readme_command_runs_a_bare_syncd_that_path_does_not_find() -> None:
    # The install puts syncd in /opt/syncd/bin, which is not on PATH: every command block
    # must call it by that path (prose may say `syncd status`).
    blocks = re.findall(r"```sh\n(.*?)```", README, re.DOTALL)
    for block in blocks:
        for line in block.splitlines():
            for command in re.split(r"&&|\|\||[;|]", line.split("#", 1)[0]):
                words = command.split()
                while words[:1] == ["sudo"]:
                    words = words[3:] if words[1:2] == ["-u"] else words[1:]
                assert words[:1] != ["syncd"], line
