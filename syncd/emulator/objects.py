"""The emulated Swift object store: full object paths → bytes, in memory (pure).

Paths are Swift object paths, ``/v1/AUTH_async-images/{account}/{object}``. Objects keep the
``Content-Type`` they were uploaded with, or one guessed from the name as Swift's proxy does.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredObject:
    """One object: its bytes, MD5 ``etag`` (hex, as Swift), type and upload time."""

    path: str
    data: bytes
    etag: str
    content_type: str
    uploaded_at_seconds: float

    @property
    def name(self) -> str:
        """The last path segment (used for ``Content-Disposition``)."""
        return self.path.rsplit("/", 1)[-1]


def guess_content_type(path: str) -> str:
    """Return the MIME type Swift would guess from the name, else application/octet-stream."""
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"


class ObjectStore:
    """Objects by path; the last PUT of a path wins, as in Swift."""

    def __init__(self) -> None:
        self._objects: dict[str, StoredObject] = {}

    def put(
        self, path: str, data: bytes, content_type: str | None, now_seconds: float
    ) -> StoredObject:
        """Store ``data`` at ``path`` and return the stored object."""
        stored = StoredObject(
            path=path,
            data=data,
            etag=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            content_type=content_type or guess_content_type(path),
            uploaded_at_seconds=now_seconds,
        )
        self._objects[path] = stored
        return stored

    def get(self, path: str) -> StoredObject | None:
        """Return the object at ``path`` or None."""
        return self._objects.get(path)

    def __len__(self) -> int:
        return len(self._objects)

    def exists(self, path: str) -> bool:
        """True when an object is stored at ``path``."""
        return path in self._objects

    def snapshot(self) -> list[dict[str, Any]]:
        """Return ``[{"path", "size", "sha256"}]`` for every object, in upload order."""
        return [
            {"path": o.path, "size": len(o.data), "sha256": hashlib.sha256(o.data).hexdigest()}
            for o in self._objects.values()
        ]
