"""Training logs that survive crashes: CSV files and an atomically written ``metrics.json``.

:class:`CsvLogger` appends one flushed, fsynced line per row. When a row brings a column the file has not seen
(a new loss term, a new metric), the whole file is rewritten through a temporary file and ``os.replace`` with
the widened header, so the file on disk is always a valid CSV. A line cut short by a crash is dropped when the
file is read back, and on resume :meth:`CsvLogger.truncate` drops the rows logged after the checkpoint, so the
log of a resumed run reads exactly like that of an uninterrupted one.

:func:`progress_bar` and :func:`say` are the engine's progress output: tqdm on stderr, and only while progress
is switched on (:func:`show_progress`, which the trainer and ``edgepose eval`` set on rank 0 unless
``--no-progress``), so tasks can wrap their loops unconditionally without knowing the rank or the CLI flags.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from edgepose.io import append_line, atomic_write_text

_PROGRESS: ContextVar[bool] = ContextVar("edgepose_progress", default=False)


@contextmanager
def show_progress(enabled: bool) -> Iterator[None]:
    """Within the block, :func:`progress_bar` draws bars if ``enabled`` (off by default, so library calls and
    other ranks stay quiet)."""
    token = _PROGRESS.set(bool(enabled))
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_enabled() -> bool:
    """Whether the innermost :func:`show_progress` block switched progress on."""
    return _PROGRESS.get()


def progress_bar(iterable: Iterable[Any], enabled: bool | None = None, **kwargs: Any) -> Iterable[Any]:
    """``iterable`` wrapped in a tqdm bar on stderr when progress is on, else ``iterable`` itself.

    ``enabled`` overrides the :func:`show_progress` setting; ``kwargs`` go to tqdm (``desc``, ``total``, ...).
    Long loops such as validation (minutes on real data) would otherwise run silently.
    """
    if not (progress_enabled() if enabled is None else enabled):
        return iterable
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, file=sys.stderr, **kwargs)


def say(message: str, enabled: bool = True) -> None:
    """One line on stderr that does not break a progress bar being drawn."""
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def _parse(text: str) -> Any:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and text.lstrip("-").isdigit():
        return int(text)
    return number


def read_csv_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a log CSV with numbers parsed; a truncated last line (crash mid-write) is dropped."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows:
        return []
    header = rows[0]
    return [{k: _parse(v) for k, v in zip(header, row)} for row in rows[1:] if len(row) == len(header)]


class CsvLogger:
    """Append-only CSV log with a header that widens as new keys appear."""

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = read_csv_rows(self.path) if resume else []
        self.columns: list[str] = []
        for row in self.rows:
            self.columns.extend(k for k in row if k not in self.columns)
        self._rewrite()

    def _rewrite(self) -> None:
        buf = io.StringIO()
        if self.columns:
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(self.columns)
            for row in self.rows:
                writer.writerow([_fmt(row.get(c)) for c in self.columns])
        atomic_write_text(self.path, buf.getvalue())

    def log(self, row: Mapping[str, Any]) -> None:
        row = dict(row)
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns.extend(new)
            self._rewrite()
            return
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_fmt(row.get(c)) for c in self.columns])
        append_line(self.path, buf.getvalue())

    def truncate(self, key: str, last: float) -> None:
        """Drop rows whose ``key`` is greater than ``last`` (rows logged after the checkpoint we resume from)."""
        keep = [r for r in self.rows if not (isinstance(r.get(key), (int, float)) and r[key] > last)]
        if len(keep) != len(self.rows):
            self.rows = keep
            self._rewrite()


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (non-finite floats become null so the file stays standard JSON)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, Mapping):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item") and callable(v.item):  # numpy / torch scalars
            return clean(v.item())
        return v

    atomic_write_text(path, json.dumps(clean(data), indent=2, sort_keys=False) + "\n")


class TensorBoardWriter:
    """``torch.utils.tensorboard.SummaryWriter`` when tensorboard is installed; nothing otherwise.

    TensorBoard is optional: without it the CSV logs and plots hold the same numbers, so its absence is not
    worth a message; a log folder that cannot be created is (a warning, since the run itself can go on).
    """

    def __init__(self, log_dir: str | Path, enabled: bool = True) -> None:
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard (an optional extra) not installed
            return
        try:
            self._writer = SummaryWriter(log_dir=str(log_dir))
        except OSError as exc:
            say(f"warning: no TensorBoard log ({log_dir}: {exc.strerror or exc})")

    @property
    def active(self) -> bool:
        return self._writer is not None

    def scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        if self._writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self._writer.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
