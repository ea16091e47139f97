"""syncd's configuration: one TOML file parsed once into frozen dataclasses.

``load_config(path)`` is what ``syncd check`` and ``syncd run`` call; ``parse_config(data,
base_dir)`` does the same from an already parsed mapping. Every problem found is reported in one
``ConfigError`` whose lines start with their key path. The submodules only group the code:
``model`` (dataclasses and schema), ``fields`` (typed reading), ``parse`` (sections),
``relations`` (rules across routes) and ``files`` (the file on disk).
"""

from syncd.config.files import config_file_permission_warning, load_config
from syncd.config.identity import identity_warnings
from syncd.config.model import (
    AFTER_SEND_CHOICES,
    DEFAULT_CAPTION,
    DEFAULT_DOCUMENT_CAPTION,
    DEFAULT_DOMAIN_API,
    DEFAULT_MAX_PAGES,
    IDENTITY_CHOICES,
    KNOWN_KEYS,
    LOG_LEVEL_CHOICES,
    SECTION_KEYS,
    WATCH_CHOICES,
    AdminConfig,
    AfterSend,
    Config,
    DaemonConfig,
    IdentityMode,
    LivePersonConfig,
    LogLevel,
    MetricsConfig,
    RouteConfig,
    StateConfig,
    WatchMode,
)
from syncd.config.parse import parse_config

__all__ = [
    "AFTER_SEND_CHOICES",
    "DEFAULT_CAPTION",
    "DEFAULT_DOCUMENT_CAPTION",
    "DEFAULT_DOMAIN_API",
    "DEFAULT_MAX_PAGES",
    "IDENTITY_CHOICES",
    "KNOWN_KEYS",
    "LOG_LEVEL_CHOICES",
    "SECTION_KEYS",
    "WATCH_CHOICES",
    "AdminConfig",
    "AfterSend",
    "Config",
    "DaemonConfig",
    "IdentityMode",
    "LivePersonConfig",
    "LogLevel",
    "MetricsConfig",
    "RouteConfig",
    "StateConfig",
    "WatchMode",
    "config_file_permission_warning",
    "identity_warnings",
    "load_config",
    "parse_config",
]
