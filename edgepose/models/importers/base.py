"""What an importer returns, and the one dispatch from a file's kind to its importer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from edgepose.errors import CheckpointError

__all__ = ["ImportedWeights", "import_file"]


@dataclass
class ImportedWeights:
    """Weights read from another framework's file, in edgepose's naming.

    ``kind="model"``: ``state_dict`` is the whole model ``build_model(model_name, **overrides)`` (loads
    strictly). ``kind="backbone"``: ``state_dict`` holds the trunk only, under the key prefix the receiving
    models use (``model.pretrained`` loads it by name and shape).
    """

    kind: Literal["model", "backbone"]
    model_name: str
    overrides: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    source: str
    notes: list[str] = field(default_factory=list)
    keypoints: str | None = None
    """The keypoint set a top-down ``kind="model"`` predicts (``build_model(..., keypoints=...)``)."""


def import_file(path: str | Path) -> ImportedWeights:
    """Import ``path`` by its kind: ``.tflite`` (TFLite flatbuffer) or ``.xml`` (OpenVINO IR with its ``.bin``).

    Anything else is a :class:`CheckpointError` naming the file and what it is not.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError("not found", path)
    if not path.is_file():
        raise CheckpointError("not a file (a folder or a device)", path)
    head = path.read_bytes()[:8]
    if head[4:8] == b"TFL3":
        from edgepose.models.importers.tflite import import_tflite

        return import_tflite(path)
    if path.suffix.lower() == ".xml" or head.lstrip().startswith(b"<?xml") or head.lstrip().startswith(b"<net"):
        from edgepose.models.importers.openvino_ir import import_openvino_ir

        return import_openvino_ir(path)
    raise CheckpointError("neither a TFLite model (no 'TFL3' identifier) nor an OpenVINO IR (.xml)", path)
