"""What lies at a path, in words, so that an existing path of the wrong kind is never reported as "not found".

``Path.is_file()`` is false for a folder, a named pipe, a device and a link to one, and the commands used to say
"not found" for all of them: a user who passed ``--ann annotations/`` (a folder) or ``--calib /dev/zero`` looked
for a typo that was not there. :func:`require_file` and :func:`require_dir` say what the path is instead
(``is a folder, not a file``; ``is a link to /dev/zero (a character device), not a file``). Nothing here opens
the path: reading a named pipe would block.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgepose.errors import DataError, EdgeposeError


def path_kind(path: str | Path) -> str | None:
    """``"a file"``, ``"a folder"``, ``"a named pipe"``, ``"a character device"``, ... of what is at ``path``
    (links followed and named: ``"a link to /dev/zero (a character device)"``); None when nothing is there."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "a broken link" if path.is_symlink() else None
    kind = _mode_kind(mode)
    if path.is_symlink():
        return f"a link to {os.path.realpath(path)} ({kind})"
    return kind


def _mode_kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file or folder"


def require_file(path: str | Path, what: str, error: type[EdgeposeError] = DataError) -> Path:
    """``path`` if it is a regular file (or a link to one); else ``error`` naming ``what`` and what is there."""
    path = Path(path)
    if path.is_file():
        return path
    kind = path_kind(path)
    if kind is None:
        raise error(f"{what} not found", path)
    raise error(f"{what} must be a file, but this is {kind}", path)


def require_dir(path: str | Path, what: str, error: type[EdgeposeError] = DataError) -> Path:
    """``path`` if it is a folder (or a link to one); else ``error`` naming ``what`` and what is there."""
    path = Path(path)
    if path.is_dir():
        return path
    kind = path_kind(path)
    if kind is None:
        raise error(f"{what} not found", path)
    raise error(f"{what} must be a folder, but this is {kind}", path)
