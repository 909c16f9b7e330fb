"""The single source of truth for keypoint orders, flip pairs, skeletons, OKS sigmas and PAF limbs.

Every table that names joints lives here and nowhere else: datasets, codecs, losses, drawing and the runtime
all import from this module. Lightweight OpenPose keeps two limb tables in two orders in two files; we keep one
limb table (:data:`OPENPOSE_LIMBS`) whose order is both the PAF channel order and the grouping order, so
training targets and decoding cannot drift apart.

Pure Python + numpy: importable by the torch-free runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgepose.errors import ConfigError

# --------------------------------------------------------------------------------------------- COCO-17
COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)  # fmt: skip
# The COCO annotation file's skeleton, 0-based: legs, torso, arms, face.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
# Per-keypoint OKS falloff (COCO's sigmas, already divided by 10).
COCO_SIGMAS: tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip

# --------------------------------------------------------------------------------------------- MPII-16
MPII_KEYPOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
    "left_elbow", "left_wrist",
)  # fmt: skip
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
MPII_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (7, 12), (12, 11), (11, 10), (7, 13), (13, 14), (14, 15),
)  # fmt: skip
MPII_HEAD_TOP, MPII_UPPER_NECK = 9, 8

# ---------------------------------------------------------------------------------------------- LSP-14
# Leeds Sports Pose (LSP and LSPet) joint order, as in the datasets' README.
LSP_KEYPOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)  # fmt: skip
LSP_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9))
LSP_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (2, 8), (3, 9), (8, 9), (6, 7), (7, 8), (9, 10), (10, 11),
    (12, 13), (8, 12), (9, 12),
)  # fmt: skip
# PCK's normaliser on LSP: the torso diameter, from the left shoulder to the right hip.
LSP_LEFT_SHOULDER, LSP_RIGHT_HIP = 9, 2

# ------------------------------------------------------------------------------------ OpenPose-18 (PAF)
OPENPOSE_KEYPOINTS: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
OPENPOSE_NECK = 1
OPENPOSE_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17),
)  # fmt: skip
# COCO index of each OpenPose keypoint; the neck (-1) is the midpoint of the shoulders.
OPENPOSE_TO_COCO: tuple[int, ...] = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# THE limb table. Limb i owns PAF channels (2i, 2i+1) = (x, y) of the unit vector from its first to its second
# keypoint. The order is a spanning tree rooted at the neck, which greedy grouping relies on: every limb's
# first keypoint appears in an earlier limb, except limb 0 which seeds people. The last two limbs (shoulder ->
# ear) are redundant links that only fill in missing ears.
OPENPOSE_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
NUM_OPENPOSE_HEATMAPS = len(OPENPOSE_KEYPOINTS) + 1  # + background
NUM_OPENPOSE_PAFS = 2 * len(OPENPOSE_LIMBS)


def paf_channels(limb: int) -> tuple[int, int]:
    """PAF channels (x, y) of limb ``limb`` of :data:`OPENPOSE_LIMBS`."""
    return 2 * limb, 2 * limb + 1


@dataclass(frozen=True)
class KeypointSpec:
    """A keypoint set: names, left/right flip pairs, drawing skeleton and (optionally) OKS sigmas.

    Custom datasets describe themselves with one of these; :meth:`validate` rejects flip pairs that are not
    an involution, the most common silent accuracy bug in custom pose datasets.
    """

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    skeleton: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None = None
    _flip_index: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.validate()
        perm = list(range(len(self.names)))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        object.__setattr__(self, "_flip_index", tuple(perm))

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation p such that keypoint ``i`` of a mirrored image is keypoint ``p[i]`` of the original."""
        return np.asarray(self._flip_index, dtype=np.int64)

    def validate(self) -> None:
        n = len(self.names)
        seen: set[int] = set()
        for a, b in self.flip_pairs:
            for i in (a, b):
                if not 0 <= i < n:
                    raise ConfigError(f"keypoint set {self.name!r}: flip pair index {i} outside 0..{n - 1}")
                if i in seen:
                    raise ConfigError(f"keypoint set {self.name!r}: index {i} appears in two flip pairs")
                seen.add(i)
            if a == b:
                raise ConfigError(f"keypoint set {self.name!r}: flip pair ({a}, {b}) maps a joint to itself")
        for a, b in self.skeleton:
            if not (0 <= a < n and 0 <= b < n):
                raise ConfigError(f"keypoint set {self.name!r}: skeleton link ({a}, {b}) outside 0..{n - 1}")
        if self.sigmas is not None and len(self.sigmas) != n:
            raise ConfigError(f"keypoint set {self.name!r}: {len(self.sigmas)} sigmas for {n} keypoints")


COCO = KeypointSpec("coco", COCO_KEYPOINTS, COCO_FLIP_PAIRS, COCO_SKELETON, COCO_SIGMAS)
MPII = KeypointSpec("mpii", MPII_KEYPOINTS, MPII_FLIP_PAIRS, MPII_SKELETON)
LSP = KeypointSpec("lsp", LSP_KEYPOINTS, LSP_FLIP_PAIRS, LSP_SKELETON)
OPENPOSE = KeypointSpec("openpose18", OPENPOSE_KEYPOINTS, OPENPOSE_FLIP_PAIRS, OPENPOSE_LIMBS)
KEYPOINT_SPECS: dict[str, KeypointSpec] = {s.name: s for s in (COCO, MPII, LSP, OPENPOSE)}


def get_keypoint_spec(name: str) -> KeypointSpec:
    """Look a keypoint set up by name ('coco', 'mpii', 'lsp', 'openpose18')."""
    try:
        return KEYPOINT_SPECS[name]
    except KeyError:
        raise ConfigError(f"unknown keypoint set {name!r}; known: {sorted(KEYPOINT_SPECS)}") from None


def coco_to_openpose(keypoints: np.ndarray) -> np.ndarray:
    """COCO-17 ``(..., 17, 3)`` (x, y, v) -> OpenPose-18 ``(..., 18, 3)`` with a synthesised neck.

    The neck is the shoulders' midpoint, labelled only when both shoulders are labelled, with the smaller of
    the two visibilities (visible only if both are visible). Visibility keeps COCO's meaning (0 unlabelled,
    1 occluded, 2 visible).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    out = np.zeros((*kp.shape[:-2], len(OPENPOSE_KEYPOINTS), 3), dtype=np.float64)
    for op_idx, coco_idx in enumerate(OPENPOSE_TO_COCO):
        if coco_idx >= 0:
            out[..., op_idx, :] = kp[..., coco_idx, :]
    ls, rs = kp[..., 5, :], kp[..., 6, :]
    both = (ls[..., 2] > 0) & (rs[..., 2] > 0)
    out[..., OPENPOSE_NECK, :2] = np.where(both[..., None], (ls[..., :2] + rs[..., :2]) / 2, 0.0)
    out[..., OPENPOSE_NECK, 2] = np.where(both, np.minimum(ls[..., 2], rs[..., 2]), 0.0)
    return out


def openpose_to_coco(keypoints: np.ndarray) -> np.ndarray:
    """OpenPose-18 ``(..., 18, C)`` -> COCO-17 ``(..., 17, C)``: drops the neck and reorders."""
    kp = np.asarray(keypoints)
    index = [OPENPOSE_TO_COCO.index(c) for c in range(len(COCO_KEYPOINTS))]
    return kp[..., index, :]
