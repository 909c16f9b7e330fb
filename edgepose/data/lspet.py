"""Reading Leeds Sports Pose (LSPet / LSP) folders: ``joints.mat`` + ``images/im%05d.jpg``, 14 joints.

Layout (the datasets' own release):

* ``joints.mat`` holds one MATLAB matrix ``joints``: LSPet's ``(14, 3, N)`` (x, y, visible) per image, or the
  original LSP's ``(3, 14, N)`` which is transposed to the same order. Image ``i`` (1-based) is
  ``images/im%05d.jpg`` (LSP: ``im%04d.jpg``) and its joints are ``joints[:, :, i - 1]``.
* Coordinates are taken as 0-based pixel centres as stored (the releases were annotated on the images as
  shown; a half-pixel convention would move every joint by less than 1 % of PCK@0.2's tolerance).
* The visibility flag is honoured: joints with ``visible = 0`` often carry coordinates <= 0 (placeholders for
  joints outside the image); they are *unlabelled* here (v = 0) -- never trained on, never scored.

Only the images present in the folder are used, so a user may hold the full 10,000 LSPet images, the 9,000
shipped here, or any part; a requested range that reaches past them is an error naming the folder.

The fixed split used by the ``*_lspet_*`` configs and ``edgepose pck``'s documentation: **images
8501-9000 are the validation set** (:data:`LSPET_VAL_RANGE`), every other image present is for training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose.errors import DataError
from edgepose.keypoints import LSP_KEYPOINTS, LSP_LEFT_SHOULDER, LSP_RIGHT_HIP

LSP_NUM_JOINTS = len(LSP_KEYPOINTS)
LSPET_VAL_RANGE: tuple[int, int] = (8501, 9000)  # 1-based, inclusive
IMAGE_PATTERNS = ("im{:05d}.jpg", "im{:04d}.jpg")  # LSPet, LSP


@dataclass
class LspPerson:
    """One annotated person: 1-based image number, its file and (14, 3) joints (x, y, v in {0, 1})."""

    number: int
    image: Path
    joints: np.ndarray

    @property
    def torso(self) -> float:
        """PCK's normaliser: left shoulder -> right hip distance; 0 when either is unlabelled."""
        return torso_size(self.joints)


def torso_size(joints: np.ndarray) -> float:
    """Left-shoulder-to-right-hip distance of ``(14, 3)`` joints, 0 when either joint is unlabelled."""
    a, b = joints[LSP_LEFT_SHOULDER], joints[LSP_RIGHT_HIP]
    if a[2] <= 0 or b[2] <= 0:
        return 0.0
    return float(np.linalg.norm(a[:2] - b[:2]))


def read_joints_mat(path: str | Path) -> np.ndarray:
    """``joints.mat`` -> float64 array ``(N, 14, 3)`` (x, y, v); a malformed file raises DataError naming it."""
    path = Path(path)
    if not path.is_file():
        from edgepose.pathkind import path_kind

        kind = path_kind(path)  # a folder or a named pipe is not "missing": say what it is
        raise DataError("no joints.mat here (an LSP folder holds joints.mat and images/)" if kind is None else
                        f"joints.mat must be a MATLAB file, but this is {kind}", path)  # fmt: skip
    try:
        from scipy.io import loadmat
    except ImportError:  # pragma: no cover - scipy is a core dependency
        raise DataError("reading joints.mat needs scipy (pip install scipy)", path) from None
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several unrelated types for corrupt files
        raise DataError(f"not a readable MATLAB file ({type(exc).__name__}: {exc})", path) from None
    if "joints" not in mat:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"no matrix named 'joints' (found: {', '.join(names) or 'none'})", path)
    joints = np.asarray(mat["joints"])
    if joints.ndim != 3 or not np.issubdtype(joints.dtype, np.number):
        raise DataError(f"'joints' must be a numeric (14, 3, N) matrix, got {joints.dtype} {joints.shape}", path)
    if joints.shape[:2] == (LSP_NUM_JOINTS, 3):
        out = joints.transpose(2, 0, 1)
    elif joints.shape[:2] == (3, LSP_NUM_JOINTS):
        out = joints.transpose(2, 1, 0)
    else:
        raise DataError(f"'joints' must have shape (14, 3, N) or (3, 14, N), got {joints.shape}", path)
    out = np.array(out, dtype=np.float64)
    out[..., 2] = (out[..., 2] > 0).astype(np.float64)
    bad = ~np.isfinite(out[..., :2]) & (out[..., 2:] > 0)
    if bad.any():
        n = int(np.argwhere(bad)[0][0]) + 1
        raise DataError(f"image {n}: a visible joint has a NaN or infinite coordinate", path)
    out[out[..., 2] == 0, :2] = 0.0
    return out


def _image_path(images: Path, present: set[str], number: int) -> Path | None:
    """The file of image ``number`` among the folder's ``present`` names (listed once: 9,000 stats cost seconds)."""
    for pattern in IMAGE_PATTERNS:
        name = pattern.format(number)
        if name in present:
            return images / name
    return None


def resolve_lsp_root(root: str | Path) -> tuple[Path, Path]:
    """``(joints.mat, images/)`` of an LSP folder; DataError naming what is missing."""
    from edgepose.pathkind import require_dir

    root = require_dir(root, "LSP folder")
    mat, images = root / "joints.mat", root / "images"
    if not mat.is_file():
        from edgepose.pathkind import path_kind

        kind = path_kind(mat)  # a joints.mat that is a folder or a pipe is not "missing"
        if kind is not None:
            raise DataError(f"joints.mat must be a MATLAB file, but this is {kind}", mat)
        raise DataError("no joints.mat in this folder (an LSP folder holds joints.mat and images/)", root)
    if not images.is_dir():
        raise DataError("no images/ folder here (an LSP folder holds joints.mat and images/)", root)
    return mat, images


def load_lsp(
    joints_mat: str | Path,
    images: str | Path,
    *,
    first: int | None = None,
    last: int | None = None,
    exclude: tuple[int, int] | None = None,
) -> list[LspPerson]:
    """The people of the images present in ``images`` whose 1-based number is in ``[first, last]``.

    ``exclude`` drops an inclusive range (the validation split, when reading the training images). An explicit
    range must be non-empty and lie within the labels; when it asks for images that are not in the folder,
    DataError says how many are missing. Without a range, every labelled image present is used.
    """
    joints = read_joints_mat(joints_mat)
    images = Path(images)
    if not images.is_dir():
        raise DataError("images folder not found", images)
    n = len(joints)
    explicit = first is not None or last is not None
    lo = 1 if first is None else int(first)
    hi = n if last is None else int(last)
    if explicit:
        if lo < 1:
            raise DataError(f"image range {lo}..{hi} starts below 1 (image numbers are 1-based: im00001.jpg)", images)
        if hi < lo:
            raise DataError(f"empty image range {lo}..{hi} (numbers are 1-based and inclusive)", images)
        if hi > n:
            raise DataError(f"image range {lo}..{hi} reaches past the {n} labelled images", joints_mat)
    present = {entry.name for entry in os.scandir(images) if entry.is_file()}
    people: list[LspPerson] = []
    missing: list[int] = []
    for number in range(lo, hi + 1):
        if exclude is not None and exclude[0] <= number <= exclude[1]:
            continue
        path = _image_path(images, present, number)
        if path is None:
            missing.append(number)
            continue
        people.append(LspPerson(number, path, joints[number - 1].copy()))
    if explicit and missing:
        raise DataError(
            f"{len(missing)} of the {hi - lo + 1} images {lo}..{hi} are not in this folder (first missing: "
            f"{missing[0]})",
            images,
        )
    if not people:
        raise DataError(f"no LSP image of numbers {lo}..{hi} is in this folder", images)
    return people


def joints_box(joints: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """The ``(x, y, w, h)`` box around the labelled joints, clipped to the image; None with < 2 joints.

    The box is tight around the joints: the top-down crop pads it (×1.25, to the input's aspect ratio), as it
    does detector boxes.
    """
    vis = joints[:, 2] > 0
    if vis.sum() < 2:
        return None
    pts = joints[vis, :2]
    x1, y1 = np.clip(pts.min(axis=0), 0, [width - 1, height - 1])
    x2, y2 = np.clip(pts.max(axis=0), 0, [width - 1, height - 1])
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return np.array([x1, y1, w, h], dtype=np.float64)


def image_box(width: int, height: int) -> np.ndarray:
    """The whole image as a box, exactly as the runtime's default box (``[0, 0, W, H]``)."""
    return np.array([0.0, 0.0, float(width), float(height)], dtype=np.float64)
