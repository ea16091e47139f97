"""The page step in a child process, with a time limit per page and a memory ceiling.

PDFium and the image codecs are C code: a hostile or pathological page cannot be interrupted
from a Python thread, and a decoder that misjudges a page's size could take the daemon's
memory with it. So the preparer renders documents in a short-lived child process
(``python -m syncd.imaging.rasteriser``) that caps its own address space and is killed when a
page takes longer than ``page_seconds``.

Wire format, child to parent, one frame per page and a final frame: 4-byte big-endian JSON
length, 4-byte big-endian payload length, the JSON header, the payload (the upload bytes).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from syncd.errors import ImageTooLargeError, PermanentFileError, UnsupportedImageError
from syncd.imaging.plan import ImageLimits, PreparedImage

# Room for Python, PDFium, one page at the cap and its encodes; a page needing more is refused.
DEFAULT_MEMORY_BYTES = 1536 * 1024 * 1024
DEFAULT_PAGE_SECONDS = 60.0
_FRAME_HEADER_BYTES = 8


def render_pages(
    source: bytes | IO[bytes],
    limits: ImageLimits,
    max_pages: int,
    page_seconds: float = DEFAULT_PAGE_SECONDS,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> Iterator[tuple[int, int, PreparedImage]]:
    """Yield (page, pages, prepared image) for each page of ``source``, rendered in a child.

    ``source`` is the document's bytes, or a regular file open for reading, which becomes the
    child's standard input: then neither process holds the whole document (PDFium reads a
    PDF on demand). Raises what ``pages.iter_pages`` raises (sent back by the child), and
    UnsupportedImageError when a page takes longer than ``page_seconds`` or the child dies
    (out of memory under ``memory_bytes``, or a crash in a codec).
    """
    arguments = json.dumps(
        {"limits": asdict(limits), "max_pages": max_pages, "memory_bytes": memory_bytes}
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "syncd.imaging.rasteriser", arguments],
        stdin=subprocess.PIPE if isinstance(source, bytes) else source,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    try:
        if isinstance(source, bytes):
            assert child.stdin is not None
            try:
                child.stdin.write(source)
                child.stdin.close()
            except BrokenPipeError:
                pass  # the child died at once; reading says why
        page = 0
        while True:
            header, payload = _read_frame(child.stdout, page_seconds, page + 1)
            if header is None:
                code = child.wait(timeout=page_seconds)
                raise UnsupportedImageError(
                    f"the page renderer stopped at page {page + 1} (exit {code}); the page "
                    "needs more memory than syncd allows, or a decoder crashed on it"
                )
            if header["kind"] == "done":
                return
            if header["kind"] == "error":
                error_class = ImageTooLargeError if header["too_large"] else UnsupportedImageError
                raise error_class(header["reason"])
            page = header["page"]
            image = PreparedImage(data=payload, **header["image"])
            yield page, header["pages"], image
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()


def _read_frame(
    stream: IO[bytes], page_seconds: float, page: int
) -> tuple[dict[str, Any] | None, bytes]:
    deadline = time.monotonic() + page_seconds
    header_bytes = _read_exactly(stream, _FRAME_HEADER_BYTES, deadline, page, page_seconds)
    if len(header_bytes) < _FRAME_HEADER_BYTES:
        return None, b""
    json_length = int.from_bytes(header_bytes[:4], "big")
    payload_length = int.from_bytes(header_bytes[4:], "big")
    body = _read_exactly(stream, json_length + payload_length, deadline, page, page_seconds)
    if len(body) < json_length + payload_length:
        return None, b""
    return json.loads(body[:json_length]), body[json_length:]


def _read_exactly(
    stream: IO[bytes], count: int, deadline: float, page: int, page_seconds: float
) -> bytes:
    """Up to ``count`` bytes (fewer only at end of stream), before ``deadline``."""
    pieces: list[bytes] = []
    wanted = count
    descriptor = stream.fileno()
    while wanted > 0:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([descriptor], [], [], max(0.0, remaining))
        if not ready:
            raise UnsupportedImageError(
                f"page {page} took longer than {page_seconds:.0f} s to render; nothing was sent"
            )
        chunk = os.read(descriptor, min(wanted, 1 << 20))
        if not chunk:
            break
        pieces.append(chunk)
        wanted -= len(chunk)
    return b"".join(pieces)


def _write_frame(header: dict[str, Any], payload: bytes = b"") -> None:
    encoded = json.dumps(header).encode("utf-8")
    out = sys.stdout.buffer
    out.write(len(encoded).to_bytes(4, "big") + len(payload).to_bytes(4, "big"))
    out.write(encoded)
    out.write(payload)
    out.flush()


def _child_main(arguments: dict[str, Any]) -> None:
    """The child: cap memory, read the document from stdin, write one frame per page."""
    memory_bytes = int(arguments["memory_bytes"])
    # The shipped unit forbids @resources system calls (setrlimit included); there the
    # service's MemoryMax= bounds the renderer instead. Either way, if memory runs out the
    # kernel must kill this child, never the daemon: volunteer as the first to go.
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")
    # After the cap, so the codecs load under it.
    from syncd.imaging.pages import iter_pages, iter_pages_of_file

    limits = ImageLimits(**arguments["limits"])
    max_pages = int(arguments["max_pages"])
    try:
        if stat.S_ISREG(os.fstat(0).st_mode):
            pages = iter_pages_of_file(0, limits, max_pages)
        else:
            pages = iter_pages(sys.stdin.buffer.read(), limits, max_pages)
        for page in pages:
            fields = asdict(page.image)
            upload = fields.pop("data")
            _write_frame(
                {"kind": "page", "page": page.page, "pages": page.pages, "image": fields}, upload
            )
    except PermanentFileError as error:
        too_large = isinstance(error, ImageTooLargeError)
        _write_frame({"kind": "error", "reason": error.reason, "too_large": too_large})
        return
    except (OSError, ValueError, EOFError, SyntaxError, IndexError, KeyError, TypeError) as error:
        # What Pillow's format plugins raise on malformed input they did not anticipate: the
        # document cannot be read, and saying what the decoder said helps whoever looks.
        reason = f"the document cannot be read ({type(error).__name__}: {error})"
        _write_frame({"kind": "error", "reason": reason, "too_large": False})
        return
    except MemoryError:
        _write_frame(
            {
                "kind": "error",
                "reason": "a page needs more memory than syncd allows",
                "too_large": True,
            }
        )
        return
    _write_frame({"kind": "done"})


if __name__ == "__main__":
    _child_main(json.loads(sys.argv[1]))
