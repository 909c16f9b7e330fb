"""PoseEstimator as the one predictor: the codec it is given, crops in, image keypoints out, bottom-up scales
and flips (numpy stand-in networks, no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.codecs.paf import PafCodec, input_geometry
from edgepose.errors import ConfigError
from edgepose.geometry import box_to_center_scale
from edgepose.keypoints import coco_to_openpose
from edgepose.meta import ModelInfo
from edgepose.runtime.estimator import PoseEstimator
from edgepose.runtime.preprocess import topdown_inputs

TOPDOWN = ModelInfo("stand-in", "topdown", (64, 48), "imagenet", 4, "coco")
BOTTOMUP = ModelInfo("stand-in", "bottomup", (160, 160), "openpose", 8, "openpose18", outputs=("heatmaps", "pafs"))


class OnePeak:
    """Top-down stand-in: every joint peaks at heatmap cell (x=6, y=8), the crop's centre (input pixel 24, 32)."""

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        hm = np.zeros((len(batch), 17, 16, 12), np.float32)
        hm[:, :, 8, 6] = 1.0
        return {"heatmaps": hm}


def test_codec_must_fit_the_task() -> None:
    # the estimator asks the codec's contract (codecs.base) for its task, not its class
    with pytest.raises(ConfigError, match="a topdown estimator needs a topdown codec, got PafCodec"):
        PoseEstimator(OnePeak(), TOPDOWN, codec=PafCodec())
    with pytest.raises(ConfigError, match="a bottomup estimator needs a bottomup codec, got HeatmapCodec"):
        PoseEstimator(OnePeak(), BOTTOMUP, codec=HeatmapCodec())
    with pytest.raises(ConfigError, match="scales"):
        PoseEstimator(OnePeak(), BOTTOMUP, scales=(1.0, 0.0))
    given = HeatmapCodec((64, 48), kind="dark", shift_flip=False)
    assert PoseEstimator(OnePeak(), TOPDOWN, codec=given).codec is given
    assert PoseEstimator(OnePeak(), BOTTOMUP, codec=PafCodec(upsample=8)).upsample == 8
    assert PoseEstimator(OnePeak(), BOTTOMUP, codec=PafCodec(upsample=8), upsample=2).codec.upsample == 2


def test_predict_crops_returns_image_pixels_like_a_call_with_boxes() -> None:
    """The crop centre decodes to each box's centre, through crops made anywhere (evaluation's datasets)."""
    image = np.zeros((240, 320, 3), np.uint8)
    boxes = np.array([[10.0, 20.0, 60.0, 100.0], [150.0, 40.0, 90.0, 120.0]])
    estimator = PoseEstimator(OnePeak(), TOPDOWN, flip_test=False)
    batch, centers, scales = topdown_inputs(image, boxes, TOPDOWN.input_size)
    np.testing.assert_allclose(centers[1], box_to_center_scale(boxes[1], 48 / 64)[0])
    keypoints, scores = estimator.predict_crops(batch, centers, scales)
    assert keypoints.shape == (2, 17, 2) and scores.shape == (2, 17)
    np.testing.assert_allclose(keypoints[:, 0], boxes[:, :2] + boxes[:, 2:] / 2, atol=1e-6)
    persons = estimator(image, boxes)
    np.testing.assert_array_equal(np.stack([p.keypoints[:, :2] for p in persons]), keypoints.astype(np.float32))


class OracleMaps:
    """Bottom-up stand-in: the maps PafCodec renders for one (left-right symmetric, centred) person at whatever
    input size it is called with, mirrored input or not."""

    def __init__(self, image_shape: tuple[int, int], person: np.ndarray) -> None:
        self.image_shape, self.person, self.calls = image_shape, person, 0

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        h, w = self.image_shape
        _, _, pad_h, pad_w, sx, sy = input_geometry(w, h, batch.shape[2], 8)
        assert batch.shape[2:] == (pad_h, pad_w)
        kp = self.person.copy()
        kp[..., 0] = (kp[..., 0] + 0.5) * sx - 0.5
        kp[..., 1] = (kp[..., 1] + 0.5) * sy - 0.5
        heat, pafs = PafCodec().encode(coco_to_openpose(kp[None]), (pad_h, pad_w))
        return {"heatmaps": heat[None], "pafs": pafs[None]}


def _person() -> np.ndarray:
    t = np.array(
        [[0, -0.45], [-0.03, -0.48], [0.03, -0.48], [-0.07, -0.46], [0.07, -0.46], [-0.12, -0.33], [0.12, -0.33],
         [-0.16, -0.15], [0.16, -0.15], [-0.18, 0.0], [0.18, 0.0], [-0.08, 0.02], [0.08, 0.02], [-0.09, 0.25],
         [0.09, 0.25], [-0.1, 0.48], [0.1, 0.48]]
    )  # fmt: skip
    kp = np.zeros((17, 3))
    kp[:, :2] = np.array([160.0, 120.0]) + t * 200
    kp[:, 2] = 2
    return kp


def test_bottomup_scales_and_flip_find_the_same_person() -> None:
    image = np.full((240, 320, 3), 90, np.uint8)
    person = _person()
    single = PoseEstimator(OracleMaps((240, 320), person), BOTTOMUP, height=160)(image)
    net = OracleMaps((240, 320), person)
    multi = PoseEstimator(net, BOTTOMUP, height=160, scales=(1.0, 0.75), bottomup_flip=True)(image)
    assert net.calls == 4  # two scales, each with its mirror
    assert len(single) == len(multi) == 1
    for found in (single[0], multi[0]):
        err = np.abs(found.keypoints[:, :2] - person[:, :2]).max()
        assert err < 3.0, err


def test_topdown_crops_equal_converting_the_whole_image_to_rgb_first() -> None:
    """The crop is cut from the BGR image and read as RGB while normalising; that must give exactly the pixels of the
    textbook order (whole image to RGB, crop, /255, ImageNet mean and std), written out here with OpenCV."""
    import cv2

    from edgepose.geometry import crop_image, get_affine_transform

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8), (5, 5), 0)
    boxes = np.array([[0.0, 0.0, 131.0, 97.0], [30.5, 20.2, 60.7, 70.1], [-10.0, 50.0, 40.0, 60.0]])
    batch, centers, scales = topdown_inputs(image, boxes, (64, 48))
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    for i, box in enumerate(boxes):
        center, scale = box_to_center_scale(box, 48 / 64)
        np.testing.assert_array_equal(centers[i], center)
        np.testing.assert_array_equal(scales[i], scale)
        crop = crop_image(rgb, get_affine_transform(center, scale, 0.0, (48, 64)), (48, 64))
        expected = ((crop.astype(np.float32) / np.float32(255.0) - mean) / std).transpose(2, 0, 1)
        np.testing.assert_array_equal(batch[i], expected)
