"""The atomic writer's image and by-name pieces: the bytes OpenCV would write, nothing left on failure, and a
video that appears only once it is finished."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgepose.io import PendingPath, atomic_write_image
from edgepose.runtime.pipeline import VideoOut


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)


def test_an_image_is_the_bytes_imwrite_writes(tmp_path):
    image = _image()
    for name, params in (("a.png", []), ("b.jpg", [cv2.IMWRITE_JPEG_QUALITY, 70])):
        assert cv2.imwrite(str(tmp_path / f"ref_{name}"), image, params)
        atomic_write_image(tmp_path / "out" / name, image, params)
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / f"ref_{name}").read_bytes()
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / "a.png")), image)  # PNG: lossless
    atomic_write_image(tmp_path / "no_suffix", image, ext=".png")  # the format named apart from the file name
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "no_suffix")), image)


def test_an_image_that_cannot_be_encoded_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match=r"'\.xyz'"):
        atomic_write_image(target, _image(), ext=".xyz")
    with pytest.raises(ValueError, match=r"'\.png'"):
        atomic_write_image(target, np.zeros((0, 0, 3), np.uint8))
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_a_pending_path_appears_on_commit_and_never_on_discard(tmp_path):
    target = tmp_path / "sub" / "v.bin"
    pending = PendingPath(target, ".bin")
    assert pending.tmp.parent == target.parent and pending.tmp.name.startswith(".v.bin.") and not target.exists()
    pending.tmp.write_bytes(b"frames")
    assert pending.commit() == target and target.read_bytes() == b"frames"
    again = PendingPath(target)
    again.tmp.write_bytes(b"half")
    again.discard()
    assert target.read_bytes() == b"frames" and [p.name for p in target.parent.iterdir()] == ["v.bin"]


def test_a_video_appears_whole_when_closed(tmp_path):
    path = tmp_path / "clip_pose.mp4"
    video = VideoOut(path, fps=5.0)
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(3)]
    for frame in frames:
        video.write(frame)
        assert not path.exists()  # frames go to a temporary beside it until close
    video.close()
    video.close()  # twice is harmless (predict closes in a finally)
    assert [p.name for p in tmp_path.iterdir()] == ["clip_pose.mp4"]
    cap = cv2.VideoCapture(str(path))
    means = []
    while (got := cap.read())[0]:
        means.append(float(got[1].mean()))
    assert means == pytest.approx([0, 40, 80], abs=4)
