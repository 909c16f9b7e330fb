"""Files shipped inside the package: the embedded default model and a few CC BY demo photos.

* ``model/`` -- the default top-down model (LSP-14 keypoints): ``model.onnx`` for the torch-free runtime,
  ``model.pt`` (a half-precision state dict plus its config) for PyTorch, ``fast.int8.onnx`` (its INT8
  quantisation, the fast mode's network), ``detector.onnx`` (the people detector), and ``MODEL.md`` saying
  what it is, how it was trained (on LSPet, whose images are for research use only: none of them is shipped)
  and the exact command that reproduces it, with its training log and curves beside it.
* ``photos/`` -- a few real photos whose licence allows redistribution, with their attribution
  (``photos/ATTRIBUTION.md``), for ``edgepose demo``.

These helpers return paths and raise :class:`~edgepose.errors.EdgeposeError` with one line when a file is
missing (an install that left package data out), never a bare traceback.
"""

from __future__ import annotations

from pathlib import Path

from edgepose.errors import EdgeposeError

ASSETS_DIR = Path(__file__).resolve().parent
MODEL_DIR = ASSETS_DIR / "model"
PHOTOS_DIR = ASSETS_DIR / "photos"


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise EdgeposeError(f"the shipped {what} is missing from this installation (reinstall edgepose)", path)
    return path


def shipped_onnx() -> Path:
    """The embedded default model as ONNX (torch-free runtime)."""
    return _existing(MODEL_DIR / "model.onnx", "model")


def shipped_fast_onnx() -> Path:
    """The default model quantised to INT8 (``tools/ship_fast_model.py``): the fast mode's network."""
    return _existing(MODEL_DIR / "fast.int8.onnx", "fast-mode model")


def shipped_detector() -> Path:
    """The embedded people detector (Intel's Lightweight OpenPose, INT8 ONNX): ``--detector default``."""
    return _existing(MODEL_DIR / "detector.onnx", "people detector")


def demo_photos() -> list[Path]:
    """The bundled demo photos, sorted by name."""
    photos = sorted(p for p in PHOTOS_DIR.glob("*.jpg"))
    if not photos:
        raise EdgeposeError("the bundled demo photos are missing (reinstall edgepose)", PHOTOS_DIR)
    return photos
