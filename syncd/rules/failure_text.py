"""One short clause for a failed connection, instead of a library's nested exception text.

requests wraps urllib3, which wraps the socket's error, and each layer's text repeats the
layer below inside its own repr: a refused connection reads "HTTPConnectionPool(host=…,
port=…): Max retries exceeded with url: … (Caused by NewConnectionError("…: Failed to
establish a new connection: [Errno 111] Connection refused"))", some 400 characters for
what a person reads as "connection refused by liveperson.example:443". ``describe_failure``
walks the chain (``args``, urllib3's ``reason``, ``__cause__``, ``__context__``) to the error
that says what happened and names the peer found on the way.

Pure: it only looks at the exception objects it is given.
"""

from __future__ import annotations

import socket
import ssl

# An unknown error's own text is kept, this long at most.
MAX_FALLBACK_CHARACTERS = 120
# Deeper than any real chain: a cycle or a hostile object cannot make the walk endless.
MAX_CHAIN_LINKS = 32


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps, outermost first, each once."""
    found: list[BaseException] = []
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending and len(found) < MAX_CHAIN_LINKS:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        pending.extend(argument for argument in current.args if isinstance(argument, BaseException))
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
    return found


def _peer_in(chain: list[BaseException]) -> str | None:
    """``host:port`` of the connection pool or connection a urllib3 error carries, if any."""
    for error in chain:
        for holder in (getattr(error, "conn", None), getattr(error, "pool", None)):
            host, port = getattr(holder, "host", None), getattr(holder, "port", None)
            if isinstance(host, str) and host:
                return f"{host}:{port}" if isinstance(port, int) else host
    return None


def _class_names(chain: list[BaseException]) -> set[str]:
    return {type(error).__name__ for error in chain}


def _first(chain: list[BaseException], kind: type[BaseException]) -> BaseException | None:
    return next((error for error in chain if isinstance(error, kind)), None)


def _fallback(chain: list[BaseException]) -> str:
    """The innermost error's class and first line, without a wrapper's "(Caused by …)"."""
    innermost = chain[-1]
    text = str(innermost).split("\n", 1)[0].split(" (Caused by ", 1)[0].strip()
    if len(text) > MAX_FALLBACK_CHARACTERS:
        text = text[: MAX_FALLBACK_CHARACTERS - 1] + "…"
    return f"{type(innermost).__name__}: {text}" if text else type(innermost).__name__


def describe_failure(error: BaseException, peer: str | None = None) -> str:
    """Return one short clause saying why a connection or request failed.

    Goes in: the exception as a library raised it (requests, urllib3, websocket-client,
    ``ssl``, ``socket``), and optionally the peer (``host:port``) when the caller knows it
    better than the exception does. Comes out, for example, ``"connection refused by
    liveperson.example:443"``, ``"TLS certificate verify failed for liveperson.example:443
    (unable to get local issuer certificate)"``, ``"read timed out waiting for
    liveperson.example:443"``, ``"cannot resolve liveperson.example (Name or service not
    known)"``; for an error it does not know, the innermost error's class and the first line
    of its text, at most ``MAX_FALLBACK_CHARACTERS`` of it. Raises nothing.
    """
    chain = _chain(error)
    where = peer or _peer_in(chain)

    def naming(preposition: str) -> str:
        return f" {preposition} {where}" if where else ""

    names = _class_names(chain)
    certificate = _first(chain, ssl.SSLCertVerificationError)
    if isinstance(certificate, ssl.SSLCertVerificationError):
        detail = certificate.verify_message or certificate.reason
        return f"TLS certificate verify failed{naming('for')}" + (f" ({detail})" if detail else "")
    resolution = _first(chain, socket.gaierror)
    if isinstance(resolution, socket.gaierror):
        host = where.rsplit(":", 1)[0] if where else "the host name"
        return f"cannot resolve {host} ({resolution.strerror or resolution})"
    if _first(chain, ConnectionRefusedError) is not None:
        return f"connection refused{naming('by')}"
    if "RemoteDisconnected" in names:
        return f"{where or 'the server'} closed the connection without answering"
    if _first(chain, ConnectionResetError) is not None:
        return f"connection reset{naming('by')}"
    if _first(chain, TimeoutError) is not None or any("Timeout" in name for name in names):
        if any("ConnectTimeout" in name for name in names):
            return f"connecting{naming('to')} timed out"
        return f"read timed out{naming('waiting for')}"
    tls = _first(chain, ssl.SSLError)
    if isinstance(tls, ssl.SSLError):
        return f"TLS failed{naming('with')}: {tls.reason or tls.strerror or 'handshake error'}"
    system = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if isinstance(system, OSError):
        return f"{system.strerror}{f' ({where})' if where else ''}"
    return _fallback(chain)
