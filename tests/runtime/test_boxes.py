"""Person boxes the runtime will crop: garbage dropped, far-reaching boxes clipped, every case counted (11.5)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edgepose.keypoints import COCO_SIGMAS, get_keypoint_spec
from edgepose.oks import keypoint_sigmas
from edgepose.runtime.boxes import CLIPPED, EMPTY, NOT_FINITE, OUTSIDE, clean_boxes, describe_box_counts


def test_clean_boxes_drops_and_clips_with_counts():
    boxes = np.array([
        [10, 10, 30, 60],  # an ordinary box
        [-5, -5, 30, 60],  # slightly outside: a person cut by the border, kept as it is
        [np.nan, 1, 2, 3], [1, 1, np.inf, 3],  # not finite
        [10, 10, -5, 20], [10, 10, 0.5, 20],  # negative, empty
        [500, 500, 30, 30],  # wholly outside the 100x80 image
        [0, 0, 1e9, 1e9],  # covers the image and reaches a billion pixels beyond it
    ], dtype=np.float64)  # fmt: skip
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    counts: Counter = Counter()
    kept, kept_scores = clean_boxes(boxes, scores, (80, 100), counts)
    assert counts == {NOT_FINITE: 2, EMPTY: 2, OUTSIDE: 1, CLIPPED: 1}
    np.testing.assert_array_equal(kept_scores, [0.9, 0.8, 0.2])
    np.testing.assert_array_equal(kept[:2], boxes[:2])
    np.testing.assert_array_equal(kept[2], [0, 0, 100, 80])
    text = describe_box_counts(counts)
    assert text.startswith("5 person boxes dropped (") and "1 clipped to the image" in text
    assert describe_box_counts(Counter()) == ""


def test_nan_score_drops_its_box():
    kept, _ = clean_boxes(np.array([[1.0, 1, 20, 20]]), np.array([np.nan]), (50, 50))
    assert len(kept) == 0


def test_oks_sigmas_for_every_keypoint_set():
    assert keypoint_sigmas(get_keypoint_spec("coco")) == tuple(COCO_SIGMAS)
    lsp = keypoint_sigmas(get_keypoint_spec("lsp"))
    assert len(lsp) == 14 and lsp[0] == COCO_SIGMAS[16]  # right ankle
    assert lsp[13] == float(np.mean(COCO_SIGMAS))  # head top: no COCO joint of that name
