"""The heatmap codec: MSRA and DARK encode -> decode round trips, flip-back, confidence rules, errors."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.codecs.base import Decoded, Encoded, KeypointCodec
from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.errors import ConfigError, DataError
from edgepose.geometry import crop_to_image
from edgepose.keypoints import COCO


def _random_joints(rng, n, codec, margin_hm=4):
    """Joints in input pixels whose heatmap position is at least ``margin_hm`` heatmap pixels from the border."""
    hh, hw = codec.heatmap_size
    xs = rng.uniform(margin_hm, hw - 1 - margin_hm, n) * codec.feat_stride[0]
    ys = rng.uniform(margin_hm, hh - 1 - margin_hm, n) * codec.feat_stride[1]
    return np.stack([xs, ys, np.full(n, 2.0)], axis=1)


@pytest.mark.parametrize("kind, tol", [("msra", 0.5), ("dark", 0.1)])
def test_round_trip_error_below_half_heatmap_pixel(kind, tol):
    codec = HeatmapCodec((256, 192), sigma=2.0, kind=kind)
    rng = np.random.default_rng(0)
    joints = _random_joints(rng, 17, codec)
    target, weight = codec.encode(joints)
    assert target.shape == (17, 64, 48) and weight.shape == (17, 1)
    assert np.all(weight == 1)
    coords, maxvals = codec.decode_heatmap_coords(target[None])
    err = np.abs(coords[0] - joints[:, :2] / codec.feat_stride).max()
    assert err < tol, f"{kind}: max error {err:.3f} heatmap px"
    assert np.all(maxvals > 0.5)


def test_dark_is_more_accurate_than_msra():
    rng = np.random.default_rng(1)
    errs = {}
    for kind in ("msra", "dark"):
        codec = HeatmapCodec(kind=kind)
        joints = _random_joints(rng, 200, codec).reshape(200, 3)
        total = []
        for chunk in joints.reshape(-1, 8, 3)[:25]:
            t, _ = codec.encode(chunk)
            c, _ = codec.decode_heatmap_coords(t[None])
            total.append(np.linalg.norm(c[0] - chunk[:, :2] / codec.feat_stride, axis=1))
        errs[kind] = float(np.mean(total))
    assert errs["dark"] < errs["msra"] / 3, errs


def test_msra_uses_integer_rounded_centre_and_peak_one():
    codec = HeatmapCodec(kind="msra")
    target, _ = codec.encode(np.array([[41.0, 63.0, 1.0]]))  # /4 = (10.25, 15.75) -> int(+0.5) = (10, 16)
    y, x = np.unravel_index(np.argmax(target[0]), target[0].shape)
    assert (x, y) == (10, 16)
    assert target[0].max() == pytest.approx(1.0)
    # ±3σ window: nothing beyond 6 pixels from the centre
    assert target[0, 16, 10 + 7 :].max() == 0 and target[0, 16, 10 + 6] > 0


def test_target_weight_rules():
    codec = HeatmapCodec(kind="msra")
    joints = np.array(
        [
            [100.0, 100.0, 0.0],  # unlabelled
            [100.0, 100.0, 1.0],  # occluded but labelled -> counts
            [-100.0, 50.0, 2.0],  # window fully outside the heatmap
            [-10.0, 50.0, 2.0],  # outside the crop but the window overlaps -> counts (partial Gaussian)
        ]
    )
    target, weight = codec.encode(joints)
    assert weight[:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert target[0].max() == 0 and target[2].max() == 0 and 0 < target[3].max() < 1


def test_decode_zeroes_joints_without_signal_in_the_input_frame():
    """decode answers in network-input pixels (heatmap pixel x stride); geometry maps them to the image."""
    codec = HeatmapCodec(kind="msra")
    hm = np.zeros((1, 2, 64, 48), dtype=np.float32)
    hm[0, 0, 32, 24] = 1.0  # the crop centre
    hm[0, 1] = -0.1  # no positive response
    keypoints, scores = codec.decode(hm)
    assert isinstance(codec, KeypointCodec) and scores.shape == (1, 2)
    np.testing.assert_allclose(keypoints[0, 0], [96.0, 128.0])  # heatmap (24, 32) x 4
    np.testing.assert_allclose(keypoints[0, 1], [0.0, 0.0])
    assert scores[0, 0] == 1.0 and scores[0, 1] <= 0
    center, scale = np.array([[300.0, 200.0]]), np.array([[0.75, 1.0]])
    coords = crop_to_image(keypoints, center, scale, codec.input_size)
    np.testing.assert_allclose(coords[0, 0], [300.0, 200.0], atol=1e-3)  # input centre -> image centre
    hm_coords, _ = codec.decode_heatmap_coords(hm)
    np.testing.assert_allclose(hm_coords[0, 1], [0, 0])


def test_quarter_offset_moves_towards_larger_neighbour():
    codec = HeatmapCodec(kind="msra")
    hm = np.zeros((1, 1, 64, 48), dtype=np.float32)
    hm[0, 0, 20, 20] = 1.0
    hm[0, 0, 20, 21] = 0.5
    hm[0, 0, 19, 20] = 0.4
    coords, _ = codec.decode_heatmap_coords(hm)
    np.testing.assert_allclose(coords[0, 0], [20.25, 19.75])


@pytest.mark.parametrize("kind", ["msra", "dark"])
def test_flip_back_of_flipped_target_matches_target(kind):
    """Encoding mirrored joints then flipping back gives the original target (no shift), and flip_back twice is
    the identity."""
    codec = HeatmapCodec(kind=kind)
    rng = np.random.default_rng(2)
    joints = _random_joints(rng, 17, codec)
    w = codec.input_size[1]
    # mirror inside the crop at heatmap resolution: x_hm' = W_hm - 1 - x_hm keeps the integer grid exact
    hm_w = codec.heatmap_size[1]
    mirrored = joints[COCO.flip_index].copy()
    mirrored[:, 0] = (hm_w - 1 - mirrored[:, 0] / codec.feat_stride[0]) * codec.feat_stride[0]
    t, _ = codec.encode(joints)
    tf, _ = codec.encode(mirrored)
    back = codec.flip_back(tf[None], COCO.flip_index, shift=False)[0]
    # MSRA is exact; DARK differs only where its ±3σ window truncates the Gaussian (values < 0.012)
    np.testing.assert_allclose(back, t, atol=0.012 if kind == "dark" else 1e-6)
    assert w == 192
    np.testing.assert_array_equal(
        codec.flip_back(codec.flip_back(t[None], COCO.flip_index, shift=False), COCO.flip_index, shift=False)[0], t
    )


def test_flip_shift_defaults():
    assert HeatmapCodec(kind="msra").shift_flip is True
    assert HeatmapCodec(kind="dark").shift_flip is True
    assert HeatmapCodec(kind="dark", shift_flip=False).shift_flip is False
    codec = HeatmapCodec(kind="msra")
    hm = np.zeros((1, 17, 64, 48), dtype=np.float32)
    hm[0, 5, 10, 10] = 1.0  # left shoulder at x = 10
    out = codec.flip_back(hm, COCO.flip_index)  # -> right shoulder at 47 - 10 = 37, shifted right to 38
    assert np.unravel_index(np.argmax(out[0, 6]), (64, 48)) == (10, 38)


def test_flip_test_on_a_mirrored_input_is_nearly_unbiased_with_shift():
    """A joint seen in a mirrored 192-wide input decodes (MSRA), after flip_back, 0.25 heatmap px right of its true
    position on average with the one-pixel shift and 0.75 px left without it: mirroring maps x to 191 - x, i.e.
    47.75 - x/4 in heatmap pixels, while flipping the heatmap maps it to 47 - x/4. Each single joint adds MSRA's
    rounding of the target centre to an integer (at most 0.5 px), so one joint is off by at most 0.75 px."""
    codec = HeatmapCodec(kind="msra")
    x_in = np.arange(20.0, 172.0, 0.37)  # input pixels, sweeping all sub-pixel phases
    errors = {}
    for shift in (True, False):
        err = []
        for x in x_in:
            joint = np.zeros((17, 3))
            joint[0] = [191 - x, 120.0, 1]  # the nose in the mirrored input
            tf, _ = codec.encode(joint)
            coords, _ = codec.decode_heatmap_coords(codec.flip_back(tf[None], COCO.flip_index, shift=shift))
            err.append(coords[0, 0, 0] - x / 4)
        errors[shift] = np.array(err)
    assert np.mean(errors[True]) == pytest.approx(0.25, abs=0.02)
    assert np.mean(errors[False]) == pytest.approx(-0.75, abs=0.02)
    assert np.all(errors[True] >= -0.25 - 1e-9) and np.all(errors[True] <= 0.75 + 1e-9)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError):
        HeatmapCodec(kind="udp")
    with pytest.raises(ConfigError):
        HeatmapCodec(input_size=(250, 192))
    with pytest.raises(ConfigError):
        HeatmapCodec(sigma=0)
    with pytest.raises(DataError, match=r"expected heatmaps \(N, K, 64, 48\)"):
        HeatmapCodec().decode(np.zeros((1, 17, 32, 24)))


def test_codec_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, edgepose.codecs.heatmap; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("kind", ["msra", "dark"])
def test_flip_test_of_a_mirrored_input_is_nearly_unbiased(kind):
    """A network that sees the mirrored crop predicts its joints at W - 1 - x; after flip-back (with the default
    shift) the decoded position must be within 0.25 heatmap px + decoding error of the unflipped one."""
    codec = HeatmapCodec(input_size=(256, 192), kind=kind)
    joints = np.zeros((17, 3))
    joints[:, 2] = 1
    joints[:, 0] = np.linspace(40.3, 150.7, 17)
    joints[:, 1] = np.linspace(50.2, 200.9, 17)
    mirrored = joints.copy()
    mirrored[:, 0] = 192 - 1 - joints[:, 0]
    mirrored = mirrored[COCO.flip_index]  # the mirrored person's left joints are the original's right ones
    hm, _ = codec.encode(joints)
    hm_flipped, _ = codec.encode(mirrored)
    back = codec.flip_back(hm_flipped[None], COCO.flip_index)
    straight = codec.decode_heatmap_coords(hm[None])[0][0]
    flipped = codec.decode_heatmap_coords(back)[0][0]
    assert np.abs(flipped[:, 1] - straight[:, 1]).max() < 0.05
    # DARK: the 0.25 px left by the one-pixel shift; MSRA: plus its integer rounding of the target centres
    assert np.abs(flipped[:, 0] - straight[:, 0]).max() <= (1.0 if kind == "msra" else 0.3)
    unshifted = codec.decode_heatmap_coords(codec.flip_back(hm_flipped[None], COCO.flip_index, shift=False))[0][0]
    assert np.abs(unshifted[:, 0] - straight[:, 0]).mean() > np.abs(flipped[:, 0] - straight[:, 0]).mean()


def test_encode_takes_visibility_apart_or_as_a_column():
    codec = HeatmapCodec(kind="dark")
    joints = np.array([[40.0, 60.0, 2.0], [10.0, 20.0, 0.0], [100.0, 30.0, 1.0]])
    together = codec.encode(joints)
    apart = codec.encode(joints[:, :2], joints[:, 2])
    assert isinstance(together, Encoded) and together.targets.shape == (3, 64, 48)
    np.testing.assert_array_equal(together.targets, apart.targets)
    assert together.weights[:, 0].tolist() == apart.weights[:, 0].tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "keypoints, visibility",
    [(np.zeros((17, 2)), None), (np.zeros((17, 4)), None), (np.zeros((2, 17, 3)), None),
     (np.zeros((17, 2)), np.zeros(16)), ("joints", None)],
)  # fmt: skip
def test_encode_rejects_bad_shapes_with_data_errors(keypoints, visibility):
    with pytest.raises(DataError, match="keypoints|visibility"):
        HeatmapCodec().encode(keypoints, visibility)


def test_decode_round_trips_encode_in_the_input_frame():
    codec = HeatmapCodec(kind="dark")
    joints = np.array([[40.3, 60.7, 1.0], [150.2, 201.9, 1.0]])
    decoded = codec.decode(codec.encode(joints).targets[None])
    assert isinstance(decoded, Decoded)
    np.testing.assert_allclose(decoded.keypoints[0], joints[:, :2], atol=0.1)
