"""Generated inputs, cached on disk between runs (generation takes ~25 s, reading ~0 s).

The cache lives in the system temp folder under a name that carries a version; bump
``VERSION`` whenever ``bench/pages.py`` changes what it draws.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench import pages

VERSION = "v2"
CACHE = Path(tempfile.gettempdir()) / f"syncd-bench-inputs-{VERSION}"


def image_step_files() -> dict[str, tuple[str, Path]]:
    """name -> (description, path) of the image-step inputs, generated on first use."""
    folder = CACHE / "image-step"
    index = folder / "index.json"
    if not index.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptions = {}
        for name, (description, data) in pages.image_step_inputs().items():
            (folder / name).write_bytes(data)
            descriptions[name] = description
        index.write_text(json.dumps(descriptions, indent=1), encoding="utf-8")
    descriptions = json.loads(index.read_text(encoding="utf-8"))
    return {name: (text, folder / name) for name, text in descriptions.items()}


def scanner_batch(count: int, dpi: int = 200, quality: int = 90, distinct: int = 8) -> list[Path]:
    """``count`` scanner pages (``distinct`` different ones, repeated) as JPEG files.

    The pages are A4 colour at ``dpi``; repeats are byte-identical copies under their own
    names, which costs syncd exactly as much as distinct pages would (it does not deduplicate).
    """
    folder = CACHE / f"batch-{dpi}-{quality}"
    folder.mkdir(parents=True, exist_ok=True)
    originals = []
    for number in range(distinct):
        path = folder / f"original-{number}.jpg"
        if not path.exists():
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(pages.scanner_jpeg(dpi, quality, seed=100 + number))
            temporary.replace(path)
        originals.append(path)
    return [originals[number % distinct] for number in range(count)]
