"""edgepose: lightweight real-time human pose estimation for edge devices.

Importing the package stays cheap and torch-free; models, training and export live in sub-packages that
import torch only when used, so ``edgepose.runtime`` works on devices without PyTorch.

The three-line Python API is available from the top level::

    from edgepose import PoseEstimator, draw_poses
    persons = PoseEstimator.from_onnx("flpn.onnx")(image_bgr)
    cv2.imwrite("out.jpg", draw_poses(image_bgr, persons))

``PoseEstimator`` and the drawing functions are loaded on first use (PEP 562), so ``import edgepose`` does not
import onnxruntime or OpenCV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edgepose.errors import CheckpointError, ConfigError, DataError, EdgeposeError

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access
_LAZY = {
    "PoseEstimator": "edgepose.runtime.estimator",
    "Person": "edgepose.runtime.poses",
    "draw_poses": "edgepose.vis.draw",
    "draw_pose": "edgepose.vis.draw",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from edgepose.runtime.estimator import PoseEstimator
    from edgepose.runtime.poses import Person
    from edgepose.vis.draw import draw_pose, draw_poses

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "EdgeposeError",
    "Person",
    "PoseEstimator",
    "__version__",
    "draw_pose",
    "draw_poses",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgepose' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
