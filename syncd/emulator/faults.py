"""Fault knobs: seeded, reproducible misbehaviour for tests and demos (pure).

Knobs (``PUT /_emulator/faults`` merges the given ones; ``DELETE`` resets all):

* ``ws_close_rate`` / ``ws_close_code`` — close the consumer socket with that code instead of
  answering a request (1006 drops the connection without a close frame);
* ``ws_connect_error_rate`` / ``ws_connect_error_code`` — refuse a consumer socket at the
  upgrade with that HTTP status (with ``Retry-After`` when ``retry_after_seconds`` is set),
  as a LivePerson front end does while the service is down;
* ``request_error_rate`` / ``request_error_code`` — answer a request with that code and a
  string body instead of processing it; ``retry_after_seconds`` is then named in the body;
  ``request_error_types`` (a list of request types such as ``["ms.PublishEvent"]``) limits
  this knob to those requests (None, the default: every request);
* ``swift_error_rate`` / ``swift_error_code`` — answer a storage PUT/GET/HEAD with that HTTP
  status (with ``Retry-After`` when ``retry_after_seconds`` is set), storing nothing;
* ``latency_ms`` — wait that long before handling each WebSocket request and storage request
  (one after another: a socket's next frame waits too);
* ``rtt_ms`` — a network round trip: every HTTP request is handled, and every frame a
  consumer socket sends leaves, that long later; requests in flight overlap and a socket's
  answers keep their order (``network.py``);
* ``uplink_kbps`` — the kilobits per second at which storage PUT bodies are read, shared by
  every upload at once as on one line (None, the default: no limit);
* ``upload_url_ttl_seconds`` — lifetime of new upload/download URLs (overrides the setting;
  negative values hand out URLs that are already expired);
* ``drop_responses_rate`` — process a request but never send its response;
* ``signup_token_ttl_seconds`` — lifetime of tokens from ``/signup`` (for 4401 tests);
* ``upload_url_origin`` — hand out upload URLs for another host: the ``relativePath`` of
  ``GenerateURLForUploadFile`` answers starts with this origin (``http://host:port`` or the
  scheme-relative ``//host:port``), as a compromised or misconfigured front end might; None
  (the default) gives LivePerson's plain ``/v1/...`` paths;
* ``history_delay_ms`` — send the history of ``ms.SubscribeMessagingEvents`` this long after
  the response (so later responses and live events overtake it), split into notifications
  of one to three events, in shuffled order, with some of them sent twice: LivePerson
  promises no order between a subscription's history and later frames;
* ``agent_file_max_bytes`` — the largest file the emulated agent may send (None: LivePerson's
  5 MB), raised by tests to check the daemon's own limit;
* ``idp_refusal_delay_ms`` — hold each refusal of the consumer IdP (signup, authenticate,
  anonymous authorize/refresh, connector exchange) this long before sending it. The verdict
  is reached when the request arrives, as on a slow IdP or link, so a refresh refused as
  "not expired yet" can reach the client after that token has expired;
* ``publish_delay_ms`` — handle each consumer ``ms.PublishEvent`` this long after it
  arrives, while the socket's other requests are handled and answered meanwhile (LivePerson
  answers each request on its own and promises no order between them); a publish whose
  socket closes before then is never handled, like a frame lost with its connection;
* ``ring_timeout_seconds`` / ``ring_pause_seconds`` — how long a new ring of the agent API
  waits for an answer before it turns EXPIRED (None: until answered), and how long a
  conversation whose ring expired or was rejected waits before it rings again
  (``routing.py``);
* ``seed`` — re-seeds the random generator (setting it always re-seeds, even to the same value).

Every draw comes from one ``random.Random(seed)``, and a knob draws only when its rate is
above 0, so the same seed and the same requests give the same faults. The close, error and
drop knobs apply to every WebSocket request except ``InitConnection``; latency to all of them.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from syncd.emulator.rejection import Rejection

_Item = TypeVar("_Item")


@dataclass(frozen=True)
class FaultKnobs:
    """The current knob values (see the module docstring); the defaults inject nothing."""

    ws_close_rate: float = 0.0
    ws_close_code: int = 1011
    ws_connect_error_rate: float = 0.0
    ws_connect_error_code: int = 503
    request_error_rate: float = 0.0
    request_error_code: int = 503
    request_error_types: tuple[str, ...] | None = None
    retry_after_seconds: float | None = None
    swift_error_rate: float = 0.0
    swift_error_code: int = 503
    latency_ms: float = 0.0
    rtt_ms: float = 0.0
    uplink_kbps: float | None = None
    upload_url_ttl_seconds: int | None = None
    drop_responses_rate: float = 0.0
    signup_token_ttl_seconds: int | None = None
    upload_url_origin: str | None = None
    history_delay_ms: float = 0.0
    agent_file_max_bytes: int | None = None
    idp_refusal_delay_ms: float = 0.0
    publish_delay_ms: float = 0.0
    ring_timeout_seconds: float | None = None
    ring_pause_seconds: float = 0.0
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)


_RATES = (
    "ws_close_rate",
    "ws_connect_error_rate",
    "request_error_rate",
    "swift_error_rate",
    "drop_responses_rate",
)
_HTTP_CODES = ("request_error_code", "swift_error_code", "ws_connect_error_code")
_OPTIONAL_INTEGERS = ("upload_url_ttl_seconds", "signup_token_ttl_seconds", "agent_file_max_bytes")
_DELAYS_MS = (
    "latency_ms",
    "history_delay_ms",
    "idp_refusal_delay_ms",
    "rtt_ms",
    "publish_delay_ms",
)
_KNOB_NAMES = frozenset(field.name for field in dataclasses.fields(FaultKnobs))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(name: str, value: Any) -> str | None:
    """Return why ``value`` is not acceptable for knob ``name``, or None when it is."""
    if name in _RATES:
        ok = _is_number(value) and 0 <= value <= 1
        return None if ok else f"{name} must be a number from 0 to 1"
    if name in _HTTP_CODES:
        ok = _is_integer(value) and 400 <= value <= 599
        return None if ok else f"{name} must be an HTTP error status (400-599)"
    if name == "ws_close_code":
        ok = _is_integer(value) and 1000 <= value <= 4999
        return None if ok else "ws_close_code must be a close code (1000-4999)"
    if name in _OPTIONAL_INTEGERS:
        return None if value is None or _is_integer(value) else f"{name} must be an integer"
    if name == "retry_after_seconds":
        ok = value is None or (_is_number(value) and value >= 0)
        return None if ok else "retry_after_seconds must be a number >= 0"
    if name == "ring_timeout_seconds":
        ok = value is None or (_is_number(value) and value > 0)
        return None if ok else "ring_timeout_seconds must be None or a number above 0"
    if name == "ring_pause_seconds":
        return None if _is_number(value) and value >= 0 else "ring_pause_seconds must be >= 0"
    if name == "uplink_kbps":
        ok = value is None or (_is_number(value) and value > 0)
        return None if ok else "uplink_kbps must be None or a number above 0"
    if name in _DELAYS_MS:
        return None if _is_number(value) and value >= 0 else f"{name} must be >= 0"
    if name == "upload_url_origin":
        ok = value is None or (
            isinstance(value, str) and value.startswith(("http://", "https://", "//"))
        )
        return None if ok else "upload_url_origin must be None or start with http(s):// or //"
    if name == "request_error_types":
        ok = value is None or (
            isinstance(value, list | tuple)
            and all(isinstance(item, str) and item for item in value)
        )
        return None if ok else "request_error_types must be None or a list of request types"
    if name == "seed":
        return None if _is_integer(value) else "seed must be an integer"
    return f"unknown fault knob {name!r}"


class Faults:
    """The knobs plus the seeded generator that decides each fault."""

    def __init__(self, defaults: FaultKnobs | None = None) -> None:
        self._defaults = defaults or FaultKnobs()
        self.knobs = self._defaults
        self._random = random.Random(self.knobs.seed)

    def update(self, changes: Mapping[str, Any]) -> FaultKnobs:
        """Merge ``changes`` into the knobs and return them.

        Raises Rejection(400) naming every unknown knob or bad value; nothing changes then.
        """
        problems = [p for name, value in changes.items() if (p := _problem(name, value))]
        if problems:
            raise Rejection(400, "; ".join(sorted(problems)))
        values = dict(changes)
        if values.get("request_error_types") is not None:
            values["request_error_types"] = tuple(values["request_error_types"])
        self.knobs = dataclasses.replace(self.knobs, **values)
        if "seed" in changes:
            self._random = random.Random(self.knobs.seed)
        return self.knobs

    def reset(self) -> FaultKnobs:
        """Restore every default (the emulator's start-up values) and return the knobs."""
        self.knobs = self._defaults
        self._random = random.Random(self.knobs.seed)
        return self.knobs

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def close_code_for_request(self) -> int | None:
        """Return the close code to use instead of answering, or None to answer."""
        return self.knobs.ws_close_code if self._roll(self.knobs.ws_close_rate) else None

    def connect_error(self) -> int | None:
        """Return the HTTP status to refuse a socket upgrade with, or None to accept it."""
        if self._roll(self.knobs.ws_connect_error_rate):
            return self.knobs.ws_connect_error_code
        return None

    def error_for_request(self, request_type: str) -> Rejection | None:
        """Return the error to answer ``request_type`` with instead of processing it, or
        None to process it."""
        types = self.knobs.request_error_types
        if types is not None and request_type not in types:
            return None
        if not self._roll(self.knobs.request_error_rate):
            return None
        reason = "Injected fault"
        if self.knobs.retry_after_seconds is not None:
            reason += f"; retry after {self.knobs.retry_after_seconds:g} seconds"
        return Rejection(self.knobs.request_error_code, reason)

    def drop_response(self) -> bool:
        """True when the response to the request just processed must not be sent."""
        return self._roll(self.knobs.drop_responses_rate)

    def swift_error(self) -> int | None:
        """Return the HTTP status to answer a storage request with, or None to serve it."""
        return self.knobs.swift_error_code if self._roll(self.knobs.swift_error_rate) else None

    def scramble_history(self, events: list[_Item]) -> list[list[_Item]]:
        """Split ``events`` into batches of one to three, repeat about one batch in four,
        and shuffle the batches (the ``history_delay_ms`` knob)."""
        batches: list[list[_Item]] = []
        start = 0
        while start < len(events):
            size = self._random.randint(1, 3)
            batches.append(events[start : start + size])
            start += size
        repeats = [batch for batch in batches if self._random.random() < 0.25]
        batches += repeats
        self._random.shuffle(batches)
        return batches

    @property
    def history_delay_seconds(self) -> float:
        """How long history waits behind later frames (0: sent with the response)."""
        return self.knobs.history_delay_ms / 1000

    @property
    def idp_refusal_delay_seconds(self) -> float:
        """How long each IdP refusal is held before it is sent (0: at once)."""
        return self.knobs.idp_refusal_delay_ms / 1000

    @property
    def publish_delay_seconds(self) -> float:
        """How long each consumer publish waits before it is handled (0: at once)."""
        return self.knobs.publish_delay_ms / 1000

    @property
    def rtt_seconds(self) -> float:
        """The network round trip added to each request and answer, in seconds."""
        return self.knobs.rtt_ms / 1000

    @property
    def uplink_kbps(self) -> float | None:
        """The shared upload rate in kilobits per second (None: no limit)."""
        return self.knobs.uplink_kbps

    @property
    def latency_seconds(self) -> float:
        """The delay before handling each request, in seconds."""
        return self.knobs.latency_ms / 1000
