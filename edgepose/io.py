"""The one atomic writer: every file edgepose writes appears whole or not at all.

A result is written to a temporary ``.<name>.<pid>-<token><suffix>`` in the target's folder, flushed (and, for
files whose loss would cost hours, fsynced), then moved into place with ``os.replace`` (atomic on POSIX and
Windows). A crash, Ctrl-C or full disk mid-write leaves the previous file as it was; the temporary is
removed on any error, and one a kill -9 leaves behind carries the writer's pid, so the next run can tell a
stale one from a live writer's (:func:`edgepose.engine.checkpoint.remove_stale_temporaries`).

The result gets the permissions a plain ``open(path, "w")`` would give it (``0o666`` less the umask), not
``tempfile.mkstemp``'s private 0600: configs, logs and models stay readable like the plots beside them.

Users: configs (:func:`edgepose.config.save_yaml`), logs and JSON results (:func:`atomic_write_text`),
checkpoints and stores (:func:`atomic_write`, checkpoints with ``fsync``), images (:func:`atomic_write_image`:
encoded in memory, then written like any bytes), ONNX files, plots and quantised models (:func:`atomic_path`, for
writers that need a file name), videos (:class:`PendingPath`, filled frame by frame), the runtime's back-end
cache. ``tests/test_one_writer.py`` fails when a module writes a file any other way. Floor module: standard
library only (OpenCV is imported by the image writer alone, when called).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "PendingPath",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_image",
    "atomic_write_text",
    "current_umask",
    "new_file_mode",
    "temp_file_beside",
]

_UMASK: int | None = None


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc/self/status`` on Linux).

    ``os.umask`` can only be read by setting it, which races with threads creating files; the fallback does
    that once and caches the result.
    """
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                _UMASK = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError, IndexError):
            _UMASK = os.umask(0o022)
            os.umask(_UMASK)
    return _UMASK


def new_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` less the umask (``0o644`` under the usual 022)."""
    return 0o666 & ~current_umask()


def temp_file_beside(path: str | Path, suffix: str = ".tmp") -> tuple[int, str]:
    """``(fd, name)`` of a new ``.<name>.<pid>-<token><suffix>`` in ``path``'s folder, created with the mode
    ``open`` would give (see the module docstring), for writing and then ``os.replace``."""
    path = Path(path)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        except FileExistsError:
            continue
        return fd, str(tmp)
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


class PendingPath:
    """A temporary name beside ``path`` for a writer that fills a file by name over time (OpenCV's video writer,
    frame by frame, across calls): :meth:`commit` moves it into place, :meth:`discard` removes it.

    :func:`atomic_path` is the same for a writer that finishes inside one ``with`` block.
    """

    def __init__(self, path: str | Path, suffix: str = ".tmp") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file_beside(self.path, suffix)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        """Move the finished temporary into place (``os.replace``: atomic); returns the target."""
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary; the target is left as it was."""
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file name beside ``path`` for a writer that wants a name (``onnx.save``); moved into place
    when the block ends without an error, removed otherwise."""
    pending = PendingPath(path, suffix)
    try:
        yield pending.tmp
        pending.commit()
    except BaseException:
        pending.discard()
        raise


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], *, binary: bool = True,
                 fsync: bool = False) -> Path:  # fmt: skip
    """Call ``write(fh)`` on the open temporary file, then move it into place; ``fsync`` forces it to disk
    first (checkpoints). Errors propagate (an OSError as it was raised) after the temporary is removed."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def append_line(path: str | Path, line: str) -> Path:
    """Append one complete line to a log (``steps.csv``, ``epochs.csv``), flushed and fsynced.

    The one write that is not replace-whole: a training log grows by a row every few steps, and rewriting it each
    time would cost O(rows) per row. A crash can leave at most the last line cut short, which the log readers drop
    (:func:`edgepose.engine.logging.read_csv_rows`); every earlier row stays whole."""
    path = Path(path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line if line.endswith("\n") else line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return path


def atomic_write_image(path: str | Path, image: Any, params: Sequence[int] = (), *, ext: str | None = None) -> Path:
    """Encode ``image`` (an array ``cv2.imwrite`` takes) as ``ext`` (``".jpg"``, ``".png"``; ``path``'s suffix when
    None) with ``cv2.imencode`` and ``params`` (``cv2.IMWRITE_*`` pairs), then write the bytes atomically.

    ``cv2.imwrite`` writes in place (a crash leaves half an image) and answers a failure with ``False`` alone;
    here a format OpenCV cannot write raises ValueError naming it, and a failed write raises its OSError.
    """
    import cv2  # only the callers that write images pay for OpenCV

    ext = ext if ext is not None else Path(path).suffix
    try:
        ok, buf = cv2.imencode(ext, image, list(params))
    except cv2.error:  # an unknown format, an empty image: OpenCV's own message is a C++ trace
        ok = False
    if not ok:
        raise ValueError(f"OpenCV cannot encode the image as {ext!r}")
    return atomic_write_bytes(path, buf.tobytes())
