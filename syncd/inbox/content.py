"""What an agent's file really is, decided from its bytes: the types agents may send.

LivePerson lets agents share JPG, PNG, GIF, PDF, DOCX, XLSX and PPTX files up to 5 MB
(protocol.md, corrections §4). ``agent_file_extension`` checks the content against the
``fileType`` the event declared and returns the extension the inbox file gets; anything
else is refused with a reason a person can act on (``PermanentFileError``):

* images by their signatures, PDF by ``%PDF-``;
* Office documents (OOXML) are ZIP archives holding ``[Content_Types].xml`` and the main
  part of their kind (``word/document.xml``, ``xl/workbook.xml``, ``ppt/presentation.xml``);
* macro-enabled documents (``.docm``/``.xlsm``/``.pptm``: a ``vbaProject.bin`` part or a
  ``macroEnabled`` content type) are refused, as is content that is not what was declared.

Pure: bytes in, a decision out (the ZIP is read from memory, only its directory and the
small content-types part).
"""

from __future__ import annotations

import io
import zipfile

from syncd.errors import PermanentFileError
from syncd.imaging.formats import describe_non_image, sniff_image_format

# The extension of each content kind.
EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "PDF": "pdf",
    "DOCX": "docx",
    "XLSX": "xlsx",
    "PPTX": "pptx",
}
# Declared ``fileType`` → the content kinds it admits (IMG is LivePerson's generic image).
_DECLARED_KINDS = {
    "JPG": {"JPEG"},
    "JPEG": {"JPEG"},
    "PNG": {"PNG"},
    "GIF": {"GIF"},
    "IMG": {"JPEG", "PNG", "GIF"},
    "PDF": {"PDF"},
    "DOCX": {"DOCX"},
    "XLSX": {"XLSX"},
    "PPTX": {"PPTX"},
}
_OOXML_MAIN_PARTS = {
    "word/document.xml": "DOCX",
    "xl/workbook.xml": "XLSX",
    "ppt/presentation.xml": "PPTX",
}
_CONTENT_TYPES_PART = "[Content_Types].xml"
# The content-types part of a real document is a few kB; more is not read.
_MAX_CONTENT_TYPES_BYTES = 1 << 20
_ZIP_SIGNATURE = b"PK\x03\x04"


def _ooxml_kind(data: bytes) -> str:
    """Return DOCX, XLSX or PPTX for a plain Office document; raises PermanentFileError."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if _CONTENT_TYPES_PART not in names:
                raise PermanentFileError(
                    "ZIP archive without [Content_Types].xml, not an Office document"
                )
            info = archive.getinfo(_CONTENT_TYPES_PART)
            if info.file_size > _MAX_CONTENT_TYPES_BYTES:
                raise PermanentFileError("Office document with an oversized [Content_Types].xml")
            content_types = archive.read(info).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise PermanentFileError(f"damaged ZIP archive ({error})") from error
    if any(name.lower().endswith("vbaproject.bin") for name in names) or (
        "macroenabled" in content_types.lower()
    ):
        raise PermanentFileError(
            "macro-enabled Office document (docm/xlsm/pptm); only DOCX, XLSX and PPTX are saved"
        )
    kinds = {kind for part, kind in _OOXML_MAIN_PARTS.items() if part in names}
    if len(kinds) != 1:
        raise PermanentFileError("ZIP archive that is not a Word, Excel or PowerPoint document")
    return kinds.pop()


def content_kind(data: bytes) -> str:
    """Return the kind of ``data`` (a key of ``EXTENSIONS``); raises PermanentFileError
    naming what it is when it is none of them."""
    image = sniff_image_format(data[:64])
    if image is not None:
        return image
    if data.startswith(b"%PDF-"):
        return "PDF"
    if data.startswith(_ZIP_SIGNATURE):
        return _ooxml_kind(data)
    description = describe_non_image(data[:512]).split(",")[0].split(";")[0]
    raise PermanentFileError(
        f"{description}: not a file type agents may send (JPG, PNG, GIF, PDF, DOCX, XLSX, PPTX)"
    )


def agent_file_extension(data: bytes, declared_type: str) -> str:
    """Return the inbox extension for an agent's file whose event declared ``declared_type``.

    Raises PermanentFileError when the content is not an allowed type, is macro-enabled,
    or is not what was declared.
    """
    kind = content_kind(data)
    admitted = _DECLARED_KINDS.get(declared_type.upper())
    if admitted is None:
        raise PermanentFileError(
            f"declared file type {declared_type[:20]!r} is not one agents may send"
        )
    if kind not in admitted:
        raise PermanentFileError(
            f"declared as {declared_type.upper()} but the content is {kind}; not saved"
        )
    return EXTENSIONS[kind]
