"""File-system access to the route folders: by descriptor, no-clobber, never following links.

``handles`` opens folders once (``O_DIRECTORY | O_NOFOLLOW``) and offers the kernel's
no-replace rename; ``operations`` moves, writes and reads entries relative to them;
``route`` holds one route's set of folders and checks they were not swapped.
"""

from syncd.folders.handles import Folder, entry_exists, rename_noreplace
from syncd.folders.operations import (
    TEMP_PREFIX,
    FileRead,
    create_temp_file,
    move_without_clobber,
    open_entry,
    read_entry,
    read_own_file,
    remove_entry,
    write_all,
    write_file,
)

__all__ = [
    "TEMP_PREFIX",
    "FileRead",
    "Folder",
    "create_temp_file",
    "entry_exists",
    "move_without_clobber",
    "open_entry",
    "read_entry",
    "read_own_file",
    "remove_entry",
    "rename_noreplace",
    "write_all",
    "write_file",
]
