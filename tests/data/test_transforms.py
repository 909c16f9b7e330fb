"""Crop geometry: box -> centre/scale, the three-point affine and its inverse, flips, half-body, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.data.transforms import half_body, sanitize_box
from edgepose.errors import DataError
from edgepose.geometry import (
    IMAGENET_MEAN,
    PIXEL_STD,
    affine_points,
    box_to_center_scale,
    crop_image,
    denormalize_image,
    flip_joints,
    get_affine_transform,
    joints_to_crop,
    normalize_image,
)
from edgepose.keypoints import COCO


def test_box_to_center_scale_pads_to_aspect_and_enlarges():
    # a tall box (w/h < 0.75) is widened: h = 200 -> w = 150; scale = (150, 200) / 200 * 1.25
    center, scale = box_to_center_scale([10, 20, 100, 200], 192 / 256)
    np.testing.assert_allclose(center, [60, 120])
    np.testing.assert_allclose(scale, [150 / PIXEL_STD * 1.25, 200 / PIXEL_STD * 1.25])
    # a wide box is heightened
    _, scale = box_to_center_scale([0, 0, 300, 100], 0.75)
    np.testing.assert_allclose(scale, [300 / 200 * 1.25, 400 / 200 * 1.25])
    np.testing.assert_allclose(scale[0] / scale[1], 0.75)


def test_box_to_center_scale_rejects_zero_area():
    with pytest.raises(DataError, match="positive width"):
        box_to_center_scale([0, 0, 0, 10], 0.75)


def test_sanitize_box_clips_to_image():
    np.testing.assert_allclose(sanitize_box([-5, -5, 50, 50], 40, 30), [0, 0, 39, 29])
    assert sanitize_box([10, 10, 0, 5], 40, 30) is None


def test_affine_maps_center_to_crop_center_and_inverse_round_trips():
    center, scale = np.array([320.0, 240.0]), np.array([1.2, 1.6])
    for rot in (0.0, 30.0, -75.0):
        m = get_affine_transform(center, scale, rot, (192, 256))
        inv = get_affine_transform(center, scale, rot, (192, 256), inv=True)
        np.testing.assert_allclose(affine_points(center, m), [96, 128], atol=1e-4)
        pts = np.random.default_rng(0).uniform(0, 600, size=(20, 2))
        np.testing.assert_allclose(affine_points(affine_points(pts, m), inv), pts, atol=1e-3)
    # zoom: scale[0] * 200 image pixels span the crop width
    m = get_affine_transform(center, scale, 0.0, (192, 256))
    np.testing.assert_allclose(np.abs(m[0, 0]), 192 / (scale[0] * PIXEL_STD), rtol=1e-5)


def test_rotation_direction_is_counter_clockwise_in_the_crop():
    # rot = +90: what is right of the centre in the image is above it in the crop (a counter-clockwise turn on
    # screen, y pointing down), and what is left is below
    center, scale = np.array([100.0, 100.0]), np.array([1.0, 1.0])
    m = get_affine_transform(center, scale, 90.0, (200, 200))
    out = affine_points(np.array([[150.0, 100.0], [50.0, 100.0]]), m)
    np.testing.assert_allclose(out, [[100.0, 50.0], [100.0, 150.0]], atol=1e-3)


def test_crop_pixels_match_mapped_points():
    """warpAffine and affine_points agree: a bright dot in the image lands where its point maps to."""
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[120, 250] = 255
    center, scale = np.array([230.0, 140.0]), np.array([0.6, 0.8])
    m = get_affine_transform(center, scale, 0.0, (96, 128))
    crop = crop_image(image, m, (96, 128))
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    expected = affine_points(np.array([250.0, 120.0]), m)
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1


def test_joints_to_crop_keeps_unlabelled_at_zero():
    joints = np.array([[100.0, 50.0, 2.0], [7.0, 9.0, 0.0]])
    out = joints_to_crop(joints, [100, 50], [1.0, 4 / 3], 0.0, (256, 192))
    np.testing.assert_allclose(out[0], [96, 128, 2], atol=1e-4)
    np.testing.assert_allclose(out[1], [0, 0, 0])


def test_flip_joints_mirrors_and_swaps():
    joints = np.zeros((17, 3))
    joints[5] = [10, 20, 2]  # left shoulder
    joints[0] = [50, 5, 1]  # nose
    out = flip_joints(joints, 100, COCO.flip_index)
    np.testing.assert_allclose(out[6], [89, 20, 2])  # now the right shoulder, x' = W - 1 - x
    np.testing.assert_allclose(out[0], [49, 5, 1])
    np.testing.assert_allclose(out[5], [0, 0, 0])  # unlabelled stays unlabelled at 0
    np.testing.assert_allclose(flip_joints(out, 100, COCO.flip_index), joints)


def test_half_body_selects_upper_or_lower_and_enlarges():
    rng = np.random.default_rng(0)
    joints = np.zeros((17, 3))
    joints[11:17] = [[40, 100, 1], [60, 100, 1], [40, 140, 1], [60, 140, 1], [40, 180, 1], [60, 180, 1]]
    center, scale = half_body(joints, tuple(range(11)), 0.75, rng)  # only the lower body has > 2 joints
    np.testing.assert_allclose(center, [50, 140])
    np.testing.assert_allclose(scale, [80 * 0.75 / 200 * 1.5, 80 / 200 * 1.5])
    assert half_body(np.zeros((17, 3)), tuple(range(11)), 0.75, rng) is None


def test_normalize_is_rgb_imagenet_and_invertible():
    img = np.full((4, 5, 3), 128, dtype=np.uint8)
    img[..., 0] = 255  # red
    x = normalize_image(img)
    assert x.shape == (3, 4, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], (1.0 - IMAGENET_MEAN[0]) / 0.229, rtol=1e-5)
    np.testing.assert_array_equal(denormalize_image(x), img)


def test_normalize_lookup_equals_the_formula_bit_for_bit():
    """uint8 crops go through a lookup table; every value must be the formula's float32 result, exactly, written
    into a caller's batch slot when one is given."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (37, 23, 3), dtype=np.uint8)
    img[0, :3] = [[0, 0, 0], [255, 255, 255], [1, 128, 254]]  # both ends of the table
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # ImageNet RGB statistics, written out here
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    expected = ((img.astype(np.float32) / np.float32(255.0) - mean) / std).transpose(2, 0, 1)
    np.testing.assert_array_equal(normalize_image(img), expected)
    batch = np.full((2, 3, 37, 23), np.nan, dtype=np.float32)
    assert normalize_image(img, out=batch[1]) is not None
    np.testing.assert_array_equal(batch[1], expected)
    assert np.isnan(batch[0]).all(), "only the given slot is written"
    np.testing.assert_array_equal(normalize_image(img.astype(np.float32)), expected)  # the arithmetic path
