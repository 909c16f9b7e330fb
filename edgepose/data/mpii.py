"""Reading MPII Human Pose annotations (16 joints) in the two public JSON layouts.

* **HRNet / mmpose** (``annot/valid.json``, ``test_mpii.json``): a list of
  ``{image, center [x, y], scale, joints [[x, y] * 16], joints_vis [16]}``, optionally ``headbox``.
* **CPM / Stacked-Hourglass** (bearpaw ``mpii_annotations.json``): a list of
  ``{img_paths, objpos, scale_provided, joint_self [[x, y, vis] * 16], isValidation, ...}``; unlabelled joints
  are ``(0, 0)``.

Both store MATLAB 1-based pixel coordinates; records are converted to the 0-based convention of the rest of
edgepose (x - 1, y - 1). The person's crop follows HRNet: ``center.y += 15 · scale`` (the MPII "objpos" is
near the belly, so it moves down a little) and ``scale ×= 1.25``; ``scale`` is in units of 200 pixels and
describes a square region (MPII inputs are 256×256).

Head size for PCKh (see :mod:`edgepose.evaluation.pckh`): from a head box if the record has one
(``headbox`` [x1, y1, x2, y2]: 0.6 × its diagonal, the official MPII / HRNet rule), else the length of the
head segment ``|head_top - upper_neck|`` (the PCKh definition of Andriluka et al. 2014, which the 0.6 × box
diagonal approximates).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose.data.coco import read_json
from edgepose.errors import DataError
from edgepose.keypoints import MPII_HEAD_TOP, MPII_UPPER_NECK

MPII_NUM_JOINTS = 16
HEADBOX_FACTOR = 0.6  # SC_BIAS of the official MPII evaluation


@dataclass
class MpiiPerson:
    """One MPII person: image file, HRNet-adjusted crop, 0-based joints (16, 3) with visibility 0/1."""

    image: str
    center: np.ndarray  # (2,) already shifted down by 15·scale (HRNet) and 0-based
    scale: np.ndarray  # (2,) square, ×1.25 applied
    joints: np.ndarray  # (16, 3): x, y (0-based), v (1 labelled, 0 not)
    head_size: float  # pixels: 0.6 x head-box diagonal, else neck to head top; PCKh's normaliser (0: unknown)
    is_validation: bool = False
    index: int = 0


@dataclass
class MpiiAnnotations:
    path: Path
    persons: list[MpiiPerson]
    skipped: Counter = field(default_factory=Counter)


def head_size_from(joints: np.ndarray, headbox=None) -> float:
    """0.6 × head-box diagonal when a box is given, else the upper-neck-to-head-top distance."""
    if headbox is not None:
        box = np.asarray(headbox, dtype=np.float64).reshape(-1)
        return float(HEADBOX_FACTOR * np.linalg.norm(box[2:4] - box[0:2]))
    top, neck = joints[MPII_HEAD_TOP], joints[MPII_UPPER_NECK]
    if top[2] <= 0 or neck[2] <= 0:
        return 0.0
    return float(np.linalg.norm(top[:2] - neck[:2]))


def _adjust(center: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(center, dtype=np.float64).copy()
    if c[0] != -1:
        c[1] = c[1] + 15 * scale
        scale = scale * 1.25
    return c - 1.0, np.array([scale, scale], dtype=np.float64)


def _finite(values, where: str, field_name: str, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {field_name!r} must be numbers", path) from None
    if arr.shape != shape:
        raise DataError(f"{where}: {field_name!r} must have shape {shape}, got {arr.shape}", path)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{where}: {field_name!r} contains NaN or infinite values", path)
    return arr


def load_mpii(path: str | Path) -> MpiiAnnotations:
    """Read either MPII JSON layout (detected from the first record) into :class:`MpiiAnnotations`."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("root"), list):
        data = data["root"]
    if not isinstance(data, list):
        raise DataError("an MPII annotation file must be a JSON list of person records", path)
    persons: list[MpiiPerson] = []
    skipped: Counter = Counter()
    for i, rec in enumerate(data):
        where = f"[{i}]"
        if not isinstance(rec, dict):
            raise DataError(f"{where}: expected an object, got {type(rec).__name__}", path)
        if "joints" in rec:  # HRNet layout
            for key in ("image", "center", "scale", "joints"):
                if key not in rec:
                    raise DataError(f"{where}: missing field {key!r}", path)
            xy = _finite(rec["joints"], where, "joints", path, (MPII_NUM_JOINTS, 2))
            vis = _finite(rec.get("joints_vis", [1] * MPII_NUM_JOINTS), where, "joints_vis", path, (MPII_NUM_JOINTS,))
            center = _finite(rec["center"], where, "center", path, (2,))
            scale = float(_finite(rec["scale"], where, "scale", path, ()))
            image = str(rec["image"])
            is_val = True
        elif "joint_self" in rec:  # CPM / hourglass layout
            for key in ("img_paths", "objpos", "scale_provided"):
                if key not in rec:
                    raise DataError(f"{where}: missing field {key!r}", path)
            js = _finite(rec["joint_self"], where, "joint_self", path, (MPII_NUM_JOINTS, 3))
            xy = js[:, :2]
            vis = (~((xy[:, 0] == 0) & (xy[:, 1] == 0))).astype(np.float64)  # (0, 0) = unlabelled
            center = _finite(rec["objpos"], where, "objpos", path, (2,))
            scale = float(_finite(rec["scale_provided"], where, "scale_provided", path, ()))
            image = str(rec["img_paths"])
            is_val = bool(rec.get("isValidation", 0))
        else:
            raise DataError(f"{where}: neither 'joints' (HRNet layout) nor 'joint_self' (CPM layout) present", path)
        if scale <= 0:
            skipped["non-positive scale"] += 1
            continue
        labelled = vis > 0
        joints = np.zeros((MPII_NUM_JOINTS, 3), dtype=np.float64)
        joints[labelled, :2] = xy[labelled] - 1.0
        joints[labelled, 2] = 1.0
        if not labelled.any():
            skipped["no labelled joints"] += 1
            continue
        c, s = _adjust(center, scale)
        headbox = rec.get("headbox")
        persons.append(
            MpiiPerson(
                image=image,
                center=c,
                scale=s,
                joints=joints,
                head_size=head_size_from(joints, headbox),
                is_validation=is_val,
                index=i,
            )
        )
    if skipped:
        for reason, n in skipped.items():
            import logging

            logging.getLogger(__name__).warning("%s: skipped %d records (%s)", path, n, reason)
    return MpiiAnnotations(path=path, persons=persons, skipped=skipped)
