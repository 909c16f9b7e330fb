"""The torch-free runtime: numpy + OpenCV + onnxruntime, for devices without PyTorch.

    pip install "edgepose[runtime]"

    from edgepose.runtime import PoseEstimator
    estimator = PoseEstimator.from_onnx("flpn_sres50.onnx", threads=2)
    persons = estimator(image_bgr, boxes=[[x, y, w, h]])  # top-down; bottom-up models need no boxes
    for p in persons:
        p.keypoints  # (17, 3) x, y, confidence in image pixels (COCO order)

Nothing in this package imports torch (a test runs it with torch made unimportable); the ONNX model carries
the metadata (:mod:`edgepose.meta`) that says how to pre-process and decode.
"""

from edgepose.meta import ModelInfo
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.poses import Person
from edgepose.runtime.smoothing import OneEuroFilter, PoseSmoother
from edgepose.runtime.sources import open_source

__all__ = ["ModelInfo", "OneEuroFilter", "Person", "PoseEstimator", "PoseSmoother", "open_source"]
