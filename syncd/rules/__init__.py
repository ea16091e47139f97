"""Pure decisions shared by the intake, the sender, the receiver and the configuration.

Nothing in this package touches the filesystem, the network or the clock: every function takes
the facts it needs (names, observations, ``now``) and returns a value, so each rule is tested
with a table of plain inputs and the I/O shell acts on the answers. Import from here
(``from syncd.rules import settle_decision``); the submodules only group the rules by topic.
"""

from syncd.rules.captions import (
    CAPTION_FIELDS,
    MAX_CAPTION_CHARS,
    render_caption,
    validate_caption_template,
)
from syncd.rules.hosts import is_allowed_transport, is_loopback_host
from syncd.rules.names import (
    FAILED_DIR_NAME,
    MAX_CAPTION_NAME_CHARS,
    MAX_FILE_NAME_BYTES,
    MAX_NAME_CANDIDATES,
    OWN_FOLDER_NAMES,
    SENT_DIR_NAME,
    WORK_DIR_NAME,
    candidate_names,
    fitting_name,
    inbox_file_name,
    is_decodable_name,
    is_ignored_name,
    numbered_variant,
    printable_name,
    sanitize_name_part,
)
from syncd.rules.outage import (
    OutageChange,
    OutageNotice,
    OutageWatch,
    count_files,
    format_duration,
    reconnect_delay_seconds,
)
from syncd.rules.retry import (
    DEFAULT_RETRY_POLICY,
    STILL_WRITING_MIN_ATTEMPTS,
    STILL_WRITING_MIN_SECONDS,
    RetryPolicy,
    is_still_writing_exhausted,
    next_attempt_at,
    next_still_writing_check_at,
    parse_retry_after,
    retry_delay_seconds,
)
from syncd.rules.settling import (
    CLOSE_WRITE_SETTLE_SECONDS,
    SettleDecision,
    SettleObservation,
    settle_decision,
    settle_ready_at,
)

__all__ = [
    "CAPTION_FIELDS",
    "CLOSE_WRITE_SETTLE_SECONDS",
    "DEFAULT_RETRY_POLICY",
    "FAILED_DIR_NAME",
    "MAX_CAPTION_CHARS",
    "MAX_CAPTION_NAME_CHARS",
    "MAX_FILE_NAME_BYTES",
    "MAX_NAME_CANDIDATES",
    "OWN_FOLDER_NAMES",
    "SENT_DIR_NAME",
    "STILL_WRITING_MIN_ATTEMPTS",
    "STILL_WRITING_MIN_SECONDS",
    "WORK_DIR_NAME",
    "OutageChange",
    "OutageNotice",
    "OutageWatch",
    "RetryPolicy",
    "SettleDecision",
    "SettleObservation",
    "candidate_names",
    "count_files",
    "fitting_name",
    "format_duration",
    "inbox_file_name",
    "is_allowed_transport",
    "is_decodable_name",
    "is_ignored_name",
    "is_loopback_host",
    "is_still_writing_exhausted",
    "next_attempt_at",
    "next_still_writing_check_at",
    "numbered_variant",
    "parse_retry_after",
    "printable_name",
    "reconnect_delay_seconds",
    "render_caption",
    "retry_delay_seconds",
    "sanitize_name_part",
    "settle_decision",
    "settle_ready_at",
    "validate_caption_template",
]
