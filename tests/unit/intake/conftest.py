"""What the intake's unit tests share: a route whose outbox and inbox are empty folders, its
open folders and a state database, all under the test's own ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.config import RouteConfig
from syncd.folders.route import RouteFolders
from syncd.state.store import StateStore

# The route's settle time; the tests count their clocks in it.
SETTLE_SECONDS = 2.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state.sqlite3") as opened:
        yield opened


@pytest.fixture
def route(tmp_path: Path) -> RouteConfig:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (tmp_path / "inbox").mkdir()
    return RouteConfig("scans", outbox, tmp_path / "inbox", settle_seconds=SETTLE_SECONDS)


@pytest.fixture
def folders(route: RouteConfig) -> Iterator[RouteFolders]:
    opened = RouteFolders(route.name, route.outbox, route.inbox)
    try:
        yield opened
    finally:
        opened.close()
