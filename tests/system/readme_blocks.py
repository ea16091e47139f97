"""The shell blocks of README.md that the system test runs exactly as written.

A block is marked for the test by an HTML comment on the line before its fence, invisible when
the README is rendered::

    <!-- system-test: install -->
    ```sh
    sudo ...
    ```

``readme_block(name)`` returns the block's text; the test runs it unchanged, so an install
step that stops working fails the test instead of surprising an administrator.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"<!-- system-test: ([\w-]+) -->\n```sh\n(.*?)```", re.DOTALL)


def readme_blocks(text: str) -> dict[str, str]:
    """Return every marked block of ``text`` by its name.

    Raises ValueError when a name is used twice.
    """
    blocks: dict[str, str] = {}
    for name, body in _BLOCK.findall(text):
        if name in blocks:
            raise ValueError(f"README block {name!r} is marked twice")
        blocks[name] = body
    return blocks


def readme_block(name: str) -> str:
    """Return the README's block marked ``name``.

    Raises KeyError when the README has no such block.
    """
    return readme_blocks(README.read_text(encoding="utf-8"))[name]
