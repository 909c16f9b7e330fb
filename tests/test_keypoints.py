"""The LSP-14 keypoint set: names in the datasets' order, flip pairs by name, skeleton, torso joints."""

from __future__ import annotations

import numpy as np

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.keypoints import LSP, LSP_LEFT_SHOULDER, LSP_RIGHT_HIP, get_keypoint_spec

# The joint order of LSPet's README.txt, verbatim.
README_ORDER = (
    "Right ankle", "Right knee", "Right hip", "Left hip", "Left knee", "Left ankle", "Right wrist", "Right elbow",
    "Right shoulder", "Left shoulder", "Left elbow", "Left wrist", "Neck", "Head top",
)  # fmt: skip


def test_lsp_names_follow_the_dataset_readme():
    assert LSP.names == tuple(n.lower().replace(" ", "_") for n in README_ORDER)
    assert get_keypoint_spec("lsp") is LSP and LSP.num_keypoints == 14


def test_every_left_joint_maps_to_its_right_counterpart_by_name():
    flip = LSP.flip_index
    for i, name in enumerate(LSP.names):
        mirrored = LSP.names[flip[i]]
        if name.startswith("left_"):
            assert mirrored == "right_" + name[len("left_") :]
        elif name.startswith("right_"):
            assert mirrored == "left_" + name[len("right_") :]
        else:  # neck and head top lie on the body's axis
            assert mirrored == name
    assert sorted(flip.tolist()) == list(range(14)) and (flip[flip] == np.arange(14)).all()
    assert len(LSP.flip_pairs) == 6


def test_torso_is_left_shoulder_to_right_hip():
    assert LSP.names[LSP_LEFT_SHOULDER] == "left_shoulder" and LSP.names[LSP_RIGHT_HIP] == "right_hip"


def test_skeleton_is_connected_and_links_the_same_sides():
    parent = list(range(14))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in LSP.skeleton:
        parent[find(a)] = find(b)
        side_a, side_b = LSP.names[a].split("_")[0], LSP.names[b].split("_")[0]
        # a limb joins joints of one side, or crosses the body only through the axis (neck) or the torso square
        assert side_a == side_b or {side_a, side_b} & {"neck", "head"} or {a, b} <= {2, 3, 8, 9}
    assert len({find(i) for i in range(14)}) == 1


def test_flip_back_of_mirrored_lsp_heatmaps_restores_the_original():
    """A heatmap stack mirrored like a flipped image comes back to the original through the codec's flip."""
    # built by hand from the joint names, not from LSP.flip_index: one peak per joint at its own (row, column);
    # in the mirrored image the right ankle's peak is the left ankle's, at column 15 - x
    heatmaps = np.zeros((1, 14, 16, 16), np.float32)
    mirrored = np.zeros_like(heatmaps)
    for j, name in enumerate(LSP.names):
        y, x = j, (3 * j + 1) % 16
        heatmaps[0, j, y, x] = 1.0 + j
        other = name.replace("right", "@").replace("left", "right").replace("@", "left")
        mirrored[0, LSP.names.index(other), y, 15 - x] = 1.0 + j
    assert LSP.names.index("right_ankle") != LSP.names.index("left_ankle")  # the swap is not the identity
    codec = HeatmapCodec((64, 64), stride=4)
    back = codec.flip_back(mirrored, LSP.flip_index, shift=False)
    np.testing.assert_array_equal(back, heatmaps)
