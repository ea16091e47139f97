"""Route labels on log lines: a record made under a route's label names the route, also on a
thread a LivePerson connection starts, and a line that names a route already is left alone."""

from __future__ import annotations

import logging
import threading

import pytest

from syncd.service.log_route import (
    current_route,
    in_route,
    install_route_labels,
    label_record,
    route_label,
)

LOGGER = "syncd.liveperson.session"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(LOGGER, logging.WARNING, __file__, 1, message, args, None)


@pytest.mark.parametrize(
    ("message", "args", "expected"),
    [
        (
            "messaging connection lost: %s",
            ("closed",),
            "route=claims: messaging connection lost: closed",
        ),
        ("keepalive got no answer", (), "route=claims: keepalive got no answer"),
        ("upload %d%% done", (50,), "route=claims: upload 50% done"),
        ("100% sure", (), "route=claims: 100% sure"),
        ("route=%s: waiting for LivePerson", ("other",), "route=other: waiting for LivePerson"),
        ("%s: sender step failed", ("route=claims",), "route=claims: sender step failed"),
    ],
)
def test_a_record_gets_the_route_unless_it_names_one(
    message: str, args: tuple[object, ...], expected: str
) -> None:
    record = _record(message, *args)
    label_record(record, "claims")
    assert record.getMessage() == expected


def test_an_unformattable_record_is_left_for_the_handler_to_report() -> None:
    record = _record("two %s %s", "one")
    label_record(record, "claims")
    assert record.msg == "two %s %s"


def test_records_made_under_a_label_name_the_route_and_others_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_route_labels()
    install_route_labels()  # idempotent: one prefix, not two
    logger = logging.getLogger(LOGGER)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with route_label("claims"):
            logger.warning("messaging connection lost: %s", "code 1006")
        logger.warning("outside every route")
    assert [record.getMessage() for record in caplog.records] == [
        "route=claims: messaging connection lost: code 1006",
        "outside every route",
    ]
    assert current_route() is None


def test_a_route_thread_and_the_threads_it_starts_log_under_its_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The daemon wraps a route thread's target; a LivePerson connection starts its reader
    with ``contextvars.copy_context().run``, as ``session._start_thread`` does."""
    import contextvars

    install_route_labels()
    logger = logging.getLogger(LOGGER)

    def reader() -> None:
        logger.warning("messaging WebSocket read ended")

    def route_thread() -> None:
        child = threading.Thread(target=contextvars.copy_context().run, args=(reader,))
        child.start()
        child.join()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        thread = threading.Thread(target=in_route("invoices", route_thread))
        thread.start()
        thread.join()
    assert [record.getMessage() for record in caplog.records] == [
        "route=invoices: messaging WebSocket read ended"
    ]
