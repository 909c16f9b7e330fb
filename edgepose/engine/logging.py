"""Training logs that survive crashes: CSV files and an atomically written ``metrics.json``.

:class:`CsvLogger` appends one flushed, fsynced line per row. When a row brings a column the file has not seen
(a new loss term, a new metric), the whole file is rewritten through a temporary file and ``os.replace`` with
the widened header, so the file on disk is always a valid CSV. A line cut short by a crash is dropped when the
file is read back, and on resume :meth:`CsvLogger.truncate` drops the rows logged after the checkpoint, so the
log of a resumed run reads exactly like that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgepose.config import atomic_write_text


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
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

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
    """``torch.utils.tensorboard.SummaryWriter`` when tensorboard is installed; silently nothing otherwise."""

    def __init__(self, log_dir: str | Path, enabled: bool = True) -> None:
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: skip silently
            return
        try:
            self._writer = SummaryWriter(log_dir=str(log_dir))
        except Exception:
            self._writer = None

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
