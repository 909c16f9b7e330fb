"""Drawing skeletons, keypoints, boxes and scores (numpy + OpenCV only)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.keypoints import COCO_SKELETON
from edgepose.runtime.poses import Person
from edgepose.vis.draw import draw_pose, draw_poses, limb_colours


def _person() -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[:, 0] = np.linspace(20, 180, 17)
    kp[:, 1] = np.linspace(20, 100, 17)
    kp[:, 2] = 0.9
    return kp


def test_limb_colours_are_distinct():
    colours = limb_colours(len(COCO_SKELETON))
    assert len(colours) == len(COCO_SKELETON) == len(set(colours))


def test_draw_poses_draws_on_a_copy_and_only_confident_keypoints():
    image = np.zeros((120, 200, 3), np.uint8)
    kp = _person()
    kp[16] = (190, 110, 0.05)  # below the threshold: neither its point nor its limb (14-16) is drawn
    out = draw_poses(image, [Person(kp, 0.8)], threshold=0.3, boxes=False)
    assert image.sum() == 0, "the input must be left untouched"
    assert out[95, 170].any(), "a keypoint above the threshold is drawn"
    assert not out[110, 190].any(), "a keypoint below the threshold is not drawn"
    # the limb between keypoints 5 and 7 is drawn in its colour: a pixel mid-limb, 20 px from either keypoint's
    # dot (radius 3) and from any other limb (the others have no confident keypoints)
    arm = np.zeros((17, 3))
    arm[5], arm[7] = (60, 50, 0.9), (100, 50, 0.9)
    out = draw_poses(image, [arm], threshold=0.3, boxes=False)
    limb = list(COCO_SKELETON).index((5, 7))
    assert tuple(int(c) for c in out[50, 80]) == limb_colours(len(COCO_SKELETON))[limb]
    arm[7, 2] = 0.1  # one end below the threshold: no limb
    assert not draw_poses(image, [arm], threshold=0.3, boxes=False)[50, 80].any()


def test_draw_box_with_score_and_bare_arrays():
    image = np.zeros((120, 200, 3), np.uint8)
    out = draw_poses(image, [_person()], boxes=True)
    assert out.any()
    p = Person(_person(), 0.75, box=np.array([10, 10, 100, 80]))
    out = draw_poses(image, [p])
    assert out[10, 60].any() and out[90, 60].any(), "the box's top and bottom edges are drawn"


def test_draw_rejects_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        draw_poses(np.zeros((10, 10), np.float32), [])
    with pytest.raises(ValueError, match="keypoints"):
        draw_pose(np.zeros((10, 10, 3), np.uint8), np.zeros(5))
