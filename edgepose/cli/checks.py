"""Checks of command-line values before any work starts, each failing with one line that names the option.

argparse checks types (``--threads abc``) but not ranges or places: ``--threads -1`` reached onnxruntime,
``--height 0`` a division, and ``--out`` naming an existing file a ``FileExistsError`` from deep inside
``mkdir``. These helpers turn such values into a :class:`~edgepose.errors.ConfigError` (bad numbers) or
:class:`~edgepose.errors.DataError` (bad places) before a model is built, so the user learns in a second, on
one line, which option to change.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from edgepose.errors import ConfigError, DataError


def check_int(value: int | None, option: str, *, minimum: int = 1) -> int | None:
    """``value`` if it is ``None`` or ``>= minimum``, else ConfigError naming ``option``."""
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be >= {minimum}, got {value}")
    return value


def check_float(
    value: float | None, option: str, *, minimum: float | None = None, maximum: float | None = None
) -> float | None:
    """``value`` if it is ``None`` or a finite number within ``[minimum, maximum]``, else ConfigError."""
    if value is None:
        return None
    if not math.isfinite(value):
        raise ConfigError(f"{option} must be a finite number, got {value}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else f"{minimum:g}"
        hi = "inf" if maximum is None else f"{maximum:g}"
        raise ConfigError(f"{option} must be in [{lo}, {hi}], got {value}")
    return value


def _writable_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder (not a file)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DataError(f"{option}: cannot write here, {parent} is a file, not a folder", path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{option}: cannot write here, {parent} is not writable", path)


def output_file(path: str | Path, option: str) -> Path:
    """A file path we will be able to create or replace: not a folder, not under a file, in a writable place."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{option} must be a file name, but this is a folder", path)
    if path.exists() and not os.access(path, os.W_OK):
        raise DataError(f"{option}: the existing file is not writable", path)
    _writable_parent(path, option)
    return path


def output_dir(path: str | Path, option: str, *, create: bool = True) -> Path:
    """A folder we can write into (created when ``create``): not an existing file, not under a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{option} must be a folder, but this is an existing file", path)
    if not path.exists():
        _writable_parent(path / "x", option)
    elif not os.access(path, os.W_OK | os.X_OK):
        raise DataError(f"{option}: the folder is not writable", path)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"{option}: cannot create the folder ({exc.strerror})", path) from None
    return path
