"""The example alert rules pass promtool's own tests; metrics settings parse strictly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from syncd.config import MetricsConfig, load_config
from syncd.errors import ConfigError
from syncd.service.metrics import error_kind

REPOSITORY = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


@needs_promtool
def test_the_example_alert_rules_pass_their_promtool_unit_tests() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "syncd-alerts.test.yml"],
        cwd=REPOSITORY / "monitoring",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _config(tmp_path: Path, metrics: str) -> Path:
    path = tmp_path / "syncd.toml"
    path.write_text(
        '[liveperson]\naccount = "12345678"\nidentity = "signup"\n[state]\ndatabase = "s.db"\n'
        f'[[route]]\nname = "a"\noutbox = "o"\ninbox = "i"\n{metrics}',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_metrics_are_off_unless_listen_is_set(tmp_path: Path) -> None:
    assert load_config(_config(tmp_path, "")).metrics == MetricsConfig()
    assert not MetricsConfig().enabled


def test_listen_takes_host_and_port(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, '[metrics]\nlisten = "127.0.0.1:9464"\n'))
    assert config.metrics == MetricsConfig(host="127.0.0.1", port=9464)
    assert config.metrics.enabled


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":1"])
def test_a_listen_that_is_not_host_and_port_names_the_key(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_config(tmp_path, f'[metrics]\nlisten = "{listen}"\n'))
    assert any(problem.startswith("metrics.listen:") for problem in raised.value.problems)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("route=a: liveperson.account: LivePerson's Domain API does not know account", "account"),
        ("route=a: intake step failed: [Errno 13] Permission denied: '/srv/x'", "permission"),
        ("route=a file=x.jpg: failed: text file, not an image", "file"),
        ("route=a: LivePerson session not ready: GET ... timed out", "liveperson"),
        ("route=a: something new", "other"),
    ],
)
def test_the_last_error_is_classified_by_kind(message: str, kind: str) -> None:
    assert error_kind(message) == kind
