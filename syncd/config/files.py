"""The configuration on disk: reading the TOML file and judging its permissions.

``syncd check`` and ``syncd run`` both call ``load_config``. Route folders are not looked at
here (they may be mounted later); ``syncd check`` examines them on its own.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from syncd.config.model import Config
from syncd.config.parse import parse_config
from syncd.errors import ConfigError


def load_config(path: Path, *, check_secrets: bool = True) -> Config:
    """Read, parse and check the TOML configuration file at ``path``.

    Relative paths inside it are taken from the file's folder. Returns the ``Config``.
    ``check_secrets`` False leaves the private key file unexamined (see ``parse_config``).
    Raises ConfigError when the file cannot be read, is not UTF-8, is not valid TOML (the
    line and column are given) or holds any problem (all of them are listed).
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([f"{path}: cannot read the configuration file: {reason}"]) from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError([f"{path}: not UTF-8 text (byte {error.start})"]) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: invalid TOML: {error}"]) from error
    absolute = Path(os.path.abspath(path))
    return parse_config(data, absolute.parent, source_path=absolute, check_secrets=check_secrets)


def config_file_permission_warning(path: Path) -> str | None:
    """Return a warning sentence when other users may read or change ``path``, else None.

    The file holds no password, but it decides where scans go; like ssh, syncd warns rather
    than refuses. Returns None when the file cannot be examined. Raises nothing.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & stat.S_IWOTH:
        return (
            f"{path} can be changed by every user on this machine, who could redirect scans "
            f"elsewhere; run: chmod o-w {path}"
        )
    if mode & stat.S_IROTH:
        return f"{path} is readable by every user on this machine; run: chmod o-r {path}"
    return None
