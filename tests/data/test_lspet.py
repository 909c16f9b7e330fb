"""The LSPet / LSP reader: hand-checked joints of real images, visibility, missing images, malformed files,
person boxes and the top-down records of the fixed split."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from edgepose.data.lspet import (
    LSPET_VAL_RANGE,
    image_box,
    joints_box,
    load_lsp,
    read_joints_mat,
    resolve_lsp_root,
    torso_size,
)
from edgepose.data.topdown import lspet_records, record_crop
from edgepose.errors import DataError

# Image 1 (157x105, a gymnast on the floor), read from joints.mat with scipy and checked by drawing the joints
# on the image: the right ankle is hidden (stored as (0, -26.11), visible = 0); every other joint is labelled.
IMAGE1 = {
    "right_knee": (26.0309, 86.4102),
    "right_hip": (50.6079, 75.7008),
    "left_shoulder": (102.3884, 68.4622),
    "right_wrist": (131.3116, 13.8050),
    "head_top": (116.5686, 53.4221),
}


def make_lsp_folder(root: Path, src: Path, present: list[int], labelled: int, layout: str = "lspet") -> Path:
    """A small LSP folder: ``labelled`` people from the real joints.mat, the ``present`` images copied."""
    (root / "images").mkdir(parents=True)
    joints = loadmat(str(src / "joints.mat"))["joints"][:, :, :labelled]
    if layout == "lsp":  # the original LSP release: (3, 14, N) and im%04d.jpg
        joints = joints.transpose(1, 0, 2)
    savemat(str(root / "joints.mat"), {"joints": joints})
    pattern = "im{:05d}.jpg" if layout == "lspet" else "im{:04d}.jpg"
    for n in present:
        shutil.copy(src / "images" / f"im{n:05d}.jpg", root / "images" / pattern.format(n))
    return root


def test_real_image_joints_match_the_hand_checked_values(lspet):
    from edgepose.keypoints import LSP

    people = load_lsp(lspet / "joints.mat", lspet / "images", first=1, last=5)
    assert [p.number for p in people] == [1, 2, 3, 4, 5]
    p1 = people[0]
    assert p1.image.name == "im00001.jpg"
    for name, xy in IMAGE1.items():
        i = LSP.names.index(name)
        np.testing.assert_allclose(p1.joints[i], [*xy, 1.0], atol=1e-4)
    # the hidden right ankle (stored at y = -26.11) is unlabelled, its placeholder coordinates dropped
    np.testing.assert_array_equal(p1.joints[LSP.names.index("right_ankle")], [0.0, 0.0, 0.0])
    assert int(p1.joints[:, 2].sum()) == 13
    vis = p1.joints[:, 2] > 0
    assert (p1.joints[vis, 0] < 157).all() and (p1.joints[vis, 1] < 105).all() and (p1.joints[vis, :2] > 0).all()
    # torso = left shoulder (102.39, 68.46) -> right hip (50.61, 75.70)
    assert p1.torso == pytest.approx(np.hypot(102.3884 - 50.6079, 68.4622 - 75.7008), abs=1e-3)
    assert p1.torso == pytest.approx(52.28, abs=0.01)
    # image 3: the right arm is hidden, stored at x = -53.27; image 5: the right hip is hidden -> no torso
    p3, p5 = people[2], people[4]
    assert (p3.joints[6:9] == 0).all() and p3.joints[9, 2] == 1 and p3.torso > 0
    assert p5.joints[LSP.names.index("right_hip"), 2] == 0 and p5.torso == 0.0


def test_real_folder_uses_only_the_images_present(lspet):
    """joints.mat labels 10,000 people; the folder holds images 1-9000 only."""
    mat = read_joints_mat(lspet / "joints.mat")
    assert mat.shape == (10000, 14, 3)
    hidden = mat[..., 2] == 0
    assert hidden.any() and (mat[hidden][:, :2] == 0).all()  # every hidden joint is unlabelled, coordinates 0
    tail = load_lsp(lspet / "joints.mat", lspet / "images", first=8991, last=9000)
    assert [p.number for p in tail] == list(range(8991, 9001))
    with pytest.raises(DataError, match=r"10 of the 20 images 8991\.\.9010 are not in this folder.*9001"):
        load_lsp(lspet / "joints.mat", lspet / "images", first=8991, last=9010)


def test_missing_images_are_skipped_without_a_range_and_an_error_with_one(tmp_path, lspet):
    root = make_lsp_folder(tmp_path / "lsp", lspet, present=[1, 2, 3, 5, 6], labelled=8)
    mat, images = resolve_lsp_root(root)
    assert [p.number for p in load_lsp(mat, images)] == [1, 2, 3, 5, 6]  # 4, 7, 8: labelled, no image
    assert [p.number for p in load_lsp(mat, images, exclude=(5, 6))] == [1, 2, 3]
    assert [p.number for p in load_lsp(mat, images, first=5, last=6)] == [5, 6]
    with pytest.raises(DataError, match=r"1 of the 6 images 1\.\.6 are not in this folder \(first missing: 4\)"):
        load_lsp(mat, images, first=1, last=6)
    with pytest.raises(DataError, match="reaches past the 8 labelled images") as err:
        load_lsp(mat, images, first=5, last=9)
    assert str(mat) in str(err.value)
    with pytest.raises(DataError, match="empty image range 6..5"):
        load_lsp(mat, images, first=6, last=5)
    with pytest.raises(DataError, match="no LSP image"):
        load_lsp(mat, images, exclude=(1, 8))


def test_original_lsp_layout_reads_the_same(tmp_path, lspet):
    a = make_lsp_folder(tmp_path / "lspet", lspet, present=[1, 2, 3], labelled=3)
    b = make_lsp_folder(tmp_path / "lsp", lspet, present=[1, 2, 3], labelled=3, layout="lsp")
    pa, pb = load_lsp(*resolve_lsp_root(a)), load_lsp(*resolve_lsp_root(b))
    assert [p.image.name for p in pb] == ["im0001.jpg", "im0002.jpg", "im0003.jpg"]
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x.joints, y.joints)


def test_visibility_flag_not_coordinates_decides(tmp_path):
    joints = np.zeros((14, 3, 2))
    joints[:, 0, :], joints[:, 1, :], joints[:, 2, :] = 40.0, 30.0, 1.0
    joints[0, :, 0] = [-5.0, -7.0, 0.0]  # hidden, negative placeholder
    joints[1, :, 0] = [12.0, 15.0, 0.0]  # hidden, plausible coordinates: still unlabelled
    joints[2, :, 0] = [0.0, 3.0, 1.0]  # visible on the image border (x = 0): labelled
    joints[3, 2, 1] = 2.0  # any positive flag is "visible"
    savemat(str(tmp_path / "joints.mat"), {"joints": joints})
    out = read_joints_mat(tmp_path / "joints.mat")
    assert out.shape == (2, 14, 3)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [0, 0, 0])
    np.testing.assert_array_equal(out[0, 2], [0, 3, 1])
    assert out[1, 3, 2] == 1.0 and set(np.unique(out[..., 2])) == {0.0, 1.0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"joints": np.zeros((14, 2, 5))}, r"must have shape \(14, 3, N\) or \(3, 14, N\), got \(14, 2, 5\)"),
        ({"joints": np.zeros((14, 3))}, "numeric"),
        ({"points": np.zeros((14, 3, 5))}, "no matrix named 'joints' \\(found: points\\)"),
        (b"not a matlab file", "not a readable MATLAB file"),
        (None, "no joints.mat here"),
    ],
)
def test_malformed_joints_mat_names_the_file(tmp_path, content, message):
    path = tmp_path / "joints.mat"
    if isinstance(content, dict):
        savemat(str(path), content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_joints_mat(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_visible_nan_joint_is_an_error_naming_the_image(tmp_path):
    joints = np.ones((14, 3, 3))
    joints[4, 0, 2] = np.nan
    savemat(str(tmp_path / "joints.mat"), {"joints": joints})
    with pytest.raises(DataError, match="image 3: a visible joint has a NaN"):
        read_joints_mat(tmp_path / "joints.mat")


def test_resolve_lsp_root_says_what_is_missing(tmp_path):
    with pytest.raises(DataError, match="LSP folder not found"):
        resolve_lsp_root(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no joints.mat in this folder") as err:
        resolve_lsp_root(tmp_path)
    assert str(tmp_path) in str(err.value)
    savemat(str(tmp_path / "joints.mat"), {"joints": np.zeros((14, 3, 1))})
    with pytest.raises(DataError, match="no images/ folder"):
        resolve_lsp_root(tmp_path)


def test_person_boxes():
    joints = np.zeros((14, 3))
    joints[[0, 5, 13], :] = [[10.0, 20.0, 1.0], [50.0, 80.0, 1.0], [-3.0, 90.0, 1.0]]
    joints[7] = [500.0, 500.0, 0.0]  # hidden: ignored
    # tight around the labelled joints, clipped to the 100x60 image
    np.testing.assert_allclose(joints_box(joints, 100, 60), [0.0, 20.0, 50.0, 39.0])
    joints[[5, 13], 2] = 0
    assert joints_box(joints, 100, 60) is None  # one labelled joint: no box
    np.testing.assert_array_equal(image_box(100, 60), [0.0, 0.0, 100.0, 60.0])


def test_torso_size_needs_both_joints():
    joints = np.zeros((14, 3))
    joints[9] = [3.0, 4.0, 1.0]
    joints[2] = [0.0, 0.0, 1.0]
    assert torso_size(joints) == pytest.approx(5.0)
    joints[2, 2] = 0
    assert torso_size(joints) == 0.0


def test_split_records_and_crops(tmp_path, lspet):
    """Training records: every image present outside the validation range, one per box kind; validation: the range."""
    assert LSPET_VAL_RANGE == (8501, 9000)
    root = make_lsp_folder(tmp_path / "lsp", lspet, present=[1, 2, 3, 4, 5, 6], labelled=6)
    mat, images = resolve_lsp_root(root)
    train = lspet_records(mat, images, train=True, boxes=("image", "joints"), val_range=(5, 6))
    val = lspet_records(mat, images, train=False, boxes=("image",), val_range=(5, 6))
    assert sorted({r.image_id for r in train}) == [1, 2, 3, 4] and len(train) == 8
    assert [r.image_id for r in val] == [5, 6] and {r.box for r in val} == {"image"}
    assert val[0].norm_length == 0.0 and val[1].norm_length == pytest.approx(torso_size(val[1].joints))
    whole = next(r for r in train if r.image_id == 1 and r.box == "image")
    tight = next(r for r in train if r.image_id == 1 and r.box == "joints")
    center, scale = record_crop(whole, 157, 105, 1.0)
    np.testing.assert_allclose(center, [78.5, 52.5])
    t_center, t_scale = record_crop(tight, 157, 105, 1.0)
    vis = tight.joints[:, 2] > 0
    lo, hi = tight.joints[vis, :2].min(axis=0), tight.joints[vis, :2].max(axis=0)
    np.testing.assert_allclose(t_center, (lo + hi) / 2)
    assert (t_scale < scale).all()  # the joints' box is a tighter crop than the whole image
