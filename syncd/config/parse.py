"""Turn parsed TOML (a mapping) into a ``Config``, reporting every problem at once.

Outbox and inbox folders need not exist here (``syncd check`` looks at them separately), so
the example file parses on any machine. The CA bundle, which must already exist, and the
database's folder are checked unless ``check_files`` is False. The connection sections
([liveperson], [state], [metrics]) are read by ``config.sections`` and the ``[[route]]``
tables by ``config.routes``; this module puts the whole ``Config`` together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd.config.fields import TableReader
from syncd.config.model import (
    LOG_LEVEL_CHOICES,
    SECTION_KEYS,
    AdminConfig,
    Config,
    DaemonConfig,
)
from syncd.config.relations import route_relation_problems
from syncd.config.routes import parse_routes
from syncd.config.sections import (
    SECTION_HINTS,
    parse_liveperson,
    parse_metrics,
    parse_state,
    read_section,
)
from syncd.errors import ConfigError


def parse_config(
    data: Mapping[str, Any],
    base_dir: Path,
    *,
    source_path: Path | None = None,
    check_files: bool = True,
    check_secrets: bool = True,
    environment: Mapping[str, str] | None = None,
) -> Config:
    """Check ``data`` (as ``tomllib`` returns it) and build the configuration.

    Relative paths are resolved against ``base_dir`` (the config file's folder).
    ``source_path`` is recorded in the result. With ``check_files`` False, the CA file and the
    database folder are not looked at; with ``check_secrets`` False, neither is the private key
    file (commands that never sign a token, such as ``status``, run without it).
    ``environment`` (default ``os.environ``) supplies ``$CREDENTIALS_DIRECTORY``. Raises
    ConfigError listing every problem found.
    """
    problems: list[str] = []
    top = TableReader(data, "", SECTION_KEYS, problems, hints=SECTION_HINTS)
    base_dir = Path(os.path.abspath(base_dir))
    environment = os.environ if environment is None else environment
    liveperson = parse_liveperson(top, base_dir, check_files, check_secrets, environment)
    state = parse_state(top, base_dir, check_files)
    daemon_table = read_section(top, "daemon")
    daemon = DaemonConfig(
        prepare_workers=daemon_table.integer("prepare_workers", 2, minimum=1, maximum=32),
        log_level=daemon_table.choice("log_level", LOG_LEVEL_CHOICES, "info"),
    )
    admin_table = read_section(top, "admin")
    admin = AdminConfig(username=admin_table.string("username"))
    identity = liveperson.identity if liveperson else "signup"
    metrics = parse_metrics(top)
    routes = parse_routes(top, base_dir, identity)
    problems.extend(route_relation_problems(routes, state.database if state else None))
    if problems or liveperson is None or state is None:
        raise ConfigError(problems)
    return Config(
        liveperson,
        state,
        daemon,
        admin,
        tuple(route for _, route in routes),
        source_path,
        metrics,
    )
