"""A runner that serves the emulator's aiohttp application (``app``) from a thread.

Every service is served on ONE port, over HTTP or, with a certificate, HTTPS.

``start_emulator(settings)`` runs the application on its own event loop in a daemon thread and
returns once the port listens. The ``RunningEmulator`` it returns is a context manager; its
helper methods run on the emulator's loop, so tests may call them from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from syncd.emulator import agent
from syncd.emulator.agent_socket import close_all as close_agent_sockets
from syncd.emulator.app import RedactingAccessLogger, create_app, server_ssl_context
from syncd.emulator.consumer_socket import DROP_CODE
from syncd.emulator.core import EmulatorCore
from syncd.emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "RunningEmulator", "create_app", "start_emulator"]

logger = logging.getLogger("syncd.emulator")

_T = TypeVar("_T")
_START_TIMEOUT_SECONDS = 10.0
_SHUTDOWN_TIMEOUT_SECONDS = 2.0
AUTO_CLOSE_CHECK_SECONDS = 0.5
RING_CHECK_SECONDS = 0.1
GOING_AWAY_CODE = 1001
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")  # noqa: S104 - recognising, not binding


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        # Whatever is still pending (handlers of dropped sockets) is cancelled cleanly.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


class RunningEmulator:
    """An emulator serving on a port; create it with ``start_emulator``."""

    def __init__(self, settings: EmulatorSettings, core: EmulatorCore) -> None:
        self.settings = settings
        self.core = core
        self.port = settings.port
        self._runner: web.AppRunner | None = None
        self._auto_close: asyncio.Task[None] | None = None
        self._ring_clock: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=_run_loop, args=(self._loop,), name="syncd-emulator", daemon=True
        )

    # --- addresses --------------------------------------------------------------------------

    @property
    def host_port(self) -> str:
        """``host:port`` as the Domain API gives it for every service (no scheme)."""
        return self.core.host_port

    @property
    def base_url(self) -> str:
        """``http://host:port`` (``https`` with TLS): the root of every service."""
        return self.core.base_url

    @property
    def account(self) -> str:
        """The emulated LivePerson account id."""
        return self.settings.account

    @property
    def temp_url_key(self) -> str:
        """The Swift temp URL key, for tests that sign their own URLs."""
        return self.core.temp_url_key

    # --- running on the loop ----------------------------------------------------------------

    def _submit(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=_START_TIMEOUT_SECONDS + _SHUTDOWN_TIMEOUT_SECONDS)

    def _call(self, function: Callable[[], _T]) -> _T:
        async def run() -> _T:
            return function()

        return self._submit(run())

    async def _start_listening(self) -> None:
        runner = web.AppRunner(
            create_app(self.core),
            access_log_class=RedactingAccessLogger,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS,
        )
        await runner.setup()
        site = web.TCPSite(
            runner,
            self.settings.host,
            self.port,
            ssl_context=server_ssl_context(self.settings),
            reuse_address=True,
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.settings.auto_close_seconds is not None and self._auto_close is None:
            self._auto_close = asyncio.get_running_loop().create_task(self._close_inactive())
        if self._ring_clock is None:
            self._ring_clock = asyncio.get_running_loop().create_task(self._tick_rings())
        self.port = int(runner.addresses[0][1])
        host = self.settings.host
        host = "localhost" if host in _WILDCARD_HOSTS else host
        host = f"[{host}]" if ":" in host else host
        self.core.host_port = f"{host}:{self.port}"
        scheme = "https" if self.settings.uses_tls else "http"
        self.core.base_url = f"{scheme}://{self.core.host_port}"
        logger.info("emulator listening on %s", self.core.base_url)

    async def _close_inactive(self) -> None:
        """Close conversations whose consumer was inactive too long (``auto_close_seconds``),
        checking every half second for as long as the emulator runs."""
        while True:
            closed = self.core.close_inactive()
            if closed:
                logger.info("auto-closed %d conversation(s) after consumer inactivity", closed)
            await asyncio.sleep(AUTO_CLOSE_CHECK_SECONDS)

    async def _tick_rings(self) -> None:
        """Expire unanswered rings and ring again after the pause (``AgentHub.tick``),
        every tenth of a second for as long as the emulator runs."""
        while True:
            self.core.agent_hub.tick()
            await asyncio.sleep(RING_CHECK_SECONDS)

    async def _stop_listening(self) -> None:
        # Drop the consumer sockets first: their handlers would otherwise hold the shutdown.
        self.core.hub.close_all(DROP_CODE)
        close_agent_sockets(self.core, GOING_AWAY_CODE)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def start(self) -> None:
        """Start the loop thread and listen; raises OSError when the port is taken."""
        self._thread.start()
        try:
            self._submit(self._start_listening())
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            raise

    def restart(self) -> None:
        """Stop listening, drop every socket, and listen again on the same port.

        Conversations, objects, settings, fault knobs and keys are kept, as after a restart
        of a LivePerson front end.
        """
        self._submit(self._stop_listening())
        self._submit(self._start_listening())

    def stop(self) -> None:
        """Stop listening and end the loop thread (idempotent)."""
        if not self._thread.is_alive():
            return
        try:
            self._submit(self._stop_listening())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- helpers for tests and the demo -------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Return the same document as ``GET /_emulator/state``."""
        return self._call(self.core.snapshot)

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Merge fault knobs (see ``faults``); raises Rejection for unknown or bad ones."""
        return self._call(lambda: self.core.faults.update(knobs).as_dict())

    def reset_faults(self) -> dict[str, Any]:
        """Reset every fault knob to its default."""
        return self._call(lambda: self.core.faults.reset().as_dict())

    def issue_token(self, lifetime_seconds: int, consumer_id: str | None = None) -> str:
        """Return a consumer token valid ``lifetime_seconds`` (negative: already expired)."""
        return self._call(
            lambda: self.core.issue_token(self.base_url, lifetime_seconds, consumer_id)
        )

    def send_agent_file(
        self,
        conversation_id: str,
        data: bytes,
        caption: str = "",
        declared_type: str | None = None,
    ) -> Any:
        """Send a file as the agent (its type found in the content unless ``declared_type``
        is given); returns ``{"sequence", "relativePath", "fileType"}``."""
        return self._call(
            lambda: agent.send_file(self.core, conversation_id, data, caption, declared_type)
        )

    def accept_conversation(self, conversation_id: str) -> None:
        """Accept a conversation as the agent."""
        self._call(lambda: agent.accept(self.core, conversation_id))

    def send_agent_message(self, conversation_id: str, text: str) -> Any:
        """Send text as the agent; returns ``{"sequence"}``."""
        return self._call(lambda: agent.send_text(self.core, conversation_id, text))

    def close_conversation(self, conversation_id: str) -> None:
        """Close a conversation as the agent."""
        self._call(lambda: agent.close(self.core, conversation_id))

    def send_raw_frame(self, text: str) -> int:
        """Send ``text`` as-is to every consumer socket, as a broken or hostile LivePerson
        would; returns to how many. For tests of the client's limits only."""
        return self._call(lambda: _send_to_all(self.core, text))

    def close_sockets(self, code: int) -> int:
        """Close every consumer socket with ``code`` (1006 drops); returns how many."""
        return self._call(lambda: self.core.hub.close_all(code))


def _send_to_all(core: EmulatorCore, text: str) -> int:
    subscribers = core.hub.subscribers()
    for subscriber in subscribers:
        subscriber.send(text)
    return len(subscribers)


def start_emulator(settings: EmulatorSettings | None = None) -> RunningEmulator:
    """Start an emulator with ``settings`` (defaults: loopback, a free port) and return it.

    Returns once the port listens. Raises OSError when the port cannot be bound and
    ssl.SSLError/OSError when the certificate or key cannot be loaded.
    """
    settings = settings or EmulatorSettings()
    emulator = RunningEmulator(settings, EmulatorCore(settings))
    emulator.start()
    return emulator
