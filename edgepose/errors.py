"""The one exception type users can cause.

Every error a user can trigger (a missing file, malformed JSON, a checkpoint that does not fit, an unknown
config key) is raised as :class:`EdgeposeError` with the offending file or key and the reason, so the CLI can
print it on a single line and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path


class EdgeposeError(Exception):
    """A problem with user input: names the file (or key) and what is wrong with it."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ConfigError(EdgeposeError):
    """An unknown or ill-typed configuration key or override."""


class DataError(EdgeposeError):
    """An unreadable image, annotation file or dataset record."""


class CheckpointError(EdgeposeError):
    """A checkpoint or weights file that is missing, corrupt, or does not fit the model."""


class TrainingError(EdgeposeError):
    """Training cannot continue (a diverged loss, an empty dataset, no trainable parameters, ...)."""
