"""The estimator's refinement pass: a second look inside the box around the first pass's confident joints."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.errors import ConfigError
from edgepose.meta import ModelInfo
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.poses import keypoint_box

INFO = ModelInfo("stand-in", "topdown", (64, 64), "imagenet", 4, "lsp")


class FixedPeaks:
    """A network whose heatmaps always peak at the same crop cells: joint k at column 4 + k % 8, row 4 + k // 8 * 6."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        hm = np.zeros((len(batch), 14, 16, 16), np.float32)
        for k in range(14):
            hm[:, k, 4 + k // 8 * 6, 4 + k % 8] = 1.0
        return {"heatmaps": hm}


def test_refine_recrops_around_the_first_pass_joints() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    plain_net, refined_net = FixedPeaks(), FixedPeaks()
    plain = PoseEstimator(plain_net, INFO, flip_test=False)(image)[0]
    refined = PoseEstimator(refined_net, INFO, flip_test=False, refine=1)(image)[0]
    assert plain_net.calls == 1 and refined_net.calls == 2
    np.testing.assert_allclose(refined.box, [0, 0, 300, 200])  # a person keeps the box it was asked for
    # the second pass cropped the box around the first pass's joints, so the same crop-relative peaks span a
    # smaller part of the image, by the ratio of the crops' widths (both padded to a square x1.25: the image's
    # 300 px first, then the joints' box)
    joints_box = keypoint_box(plain.keypoints, threshold=0.2)
    assert 0 < joints_box[0] and joints_box[0] + joints_box[2] < 300  # inside the image: no clipping involved
    ratio = np.ptp(refined.keypoints[:, 0]) / np.ptp(plain.keypoints[:, 0])
    assert ratio == pytest.approx(max(joints_box[2], joints_box[3]) / 300.0, rel=0.02)


def test_refine_keeps_the_box_without_enough_confident_joints() -> None:
    class Flat(FixedPeaks):
        def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
            out = super().__call__(batch)
            out["heatmaps"] *= 0.1  # every joint below the confidence threshold
            return out

    image = np.zeros((120, 80, 3), np.uint8)
    person = PoseEstimator(Flat(), INFO, flip_test=False, refine=2)(image)[0]
    np.testing.assert_allclose(person.box, [0, 0, 80, 120])


def test_negative_refine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="refine"):
        PoseEstimator(FixedPeaks(), INFO, refine=-1)
