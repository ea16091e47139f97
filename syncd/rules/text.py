"""Text chosen by others (a peer, a scanner, a file name) made safe to show on one line.

Logs land in the journal and in terminals; ``syncd status`` and ``retry`` print to a
terminal. Both show strings that LivePerson or whoever drops files into an outbox chose. So
before showing, every character that could end a line, steer the terminal or reorder what a
reader sees is written as a visible escape instead:

* C0 controls (except tab), DEL, and C1 controls U+0080..U+009F (U+009B is a one-byte CSI:
  it moves cursors and recolours text like ESC [ does);
* line and paragraph separators U+2028/U+2029;
* bidirectional formatting: U+061C, U+200E/U+200F, the embeddings and overrides
  U+202A..U+202E, the isolates U+2066..U+2069 (U+202E makes "gpj.exe" look like "exe.jpg").

Pure; no I/O.
"""

from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES: dict[int, str] = {
    code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code != ord("\t")
}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r"})
_ESCAPES.update({code: f"\\u{code:04x}" for code in (0x2028, 0x2029, *_BIDI)})


def printable(text: str) -> str:
    """Return ``text`` with line breaks, terminal controls and bidi controls escaped.

    Goes in: any string. Comes out: one line in which ``\\n``, ``\\x1b``, ``\\x9b`` or
    ``\\u202e`` appear as those visible escapes. Raises nothing.
    """
    return text.translate(_ESCAPES)
