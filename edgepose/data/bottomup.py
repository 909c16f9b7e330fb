"""Bottom-up (PAF) datasets: main-person crops with augmentation, heatmap/PAF targets and loss masks.

Training items (SPEC A.2.6, Lightweight OpenPose's ``prepare_train_labels.py`` + ``transformations.py``):

* **Samples** – one per *main* person: a non-crowd person with ``num_keypoints >= min_keypoints`` (5) and
  ``area >= min_area`` (32²), skipped when its box centre lies within ``center_overlap`` (0.3) x the box
  width of an already selected person of the same image. Every labelled person of the image is drawn in
  the targets, not only the main one.
* **Augmentation**, composed into **one** affine warp (one interpolation instead of LWOP's three; the same
  matrix maps the image, the mask and the keypoints, so they cannot disagree): scale so the main person's box
  height becomes ``target_height`` (0.6) x ``input_size``, times U[0.5, 1.1]; rotation U[-40, 40] degrees
  (LWOP rotates on an enlarged canvas; the crop below is relative to the person, so that is the same as
  rotating about the person's centre); a ``input_size``² crop centred on the person's centre jittered by
  U[-40, 40] px; horizontal flip with probability 0.5 (mirrored, then left/right keypoints swapped with
  :attr:`edgepose.keypoints.OPENPOSE.flip_index`). Outside the image: pixel value 128 (0 after
  normalisation), mask value 1.
* **Mask** – ones, zero on crowd regions (``iscrowd``) and on people present but without a single labelled
  keypoint (``num_keypoints == 0``), decoded from their segmentation (pycocotools; polygons fall back to
  OpenCV), warped with the image and reduced to the map size with ``INTER_AREA``.
* **Targets** – :meth:`edgepose.codecs.paf.PafCodec.encode` of the OpenPose-18 keypoints (neck = shoulder
  midpoint) in input pixels. COCO coordinates are continuous, so ``coco_offset`` (0.5) is subtracted first.

Items are dicts of float32 numpy arrays: ``image`` (3, S, S) BGR ``(img - 128) / 256`` (the OpenPose family's
normalisation, SPEC A.2.1), ``heatmaps`` (19, S/8, S/8), ``pafs`` (38, S/8, S/8), ``mask`` (1, S/8, S/8).

Validation items are whole images: ``{"image_id", "image" (H, W, 3) BGR uint8}``; evaluation runs the
runtime's predictor on them (:meth:`edgepose.runtime.estimator.PoseEstimator.bottomup_poses`).

Randomness: each training item draws its own ``numpy.random.Generator`` from torch's RNG when torch is
present, so the trainer's seeds make augmentation reproducible with and without workers.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgepose.codecs.paf import PafCodec
from edgepose.data.coco import CocoKeypoints, CocoPerson, load_coco_keypoints
from edgepose.errors import ConfigError, DataError
from edgepose.keypoints import OPENPOSE, coco_to_openpose

log = logging.getLogger(__name__)

IMG_MEAN = 128.0
IMG_SCALE = 1.0 / 256.0


@dataclass
class BottomupDataConfig:
    """The ``data`` section of a bottom-up experiment (validated with :func:`edgepose.config.from_dict`).

    Paths are resolved against the config file's folder. ``synthetic`` (optional) generates a dataset with
    :func:`edgepose.data.synthetic.ensure_dataset` under ``synthetic.dir`` (other keys: the fields of
    :class:`~edgepose.data.synthetic.SynthConfig`) and uses its train/val splits when the paths are empty.
    """

    dataset: str = "coco"
    train_ann: str = ""
    train_images: str = ""
    val_ann: str = ""
    val_images: str = ""
    synthetic: dict[str, Any] | None = None
    input_size: int = 368
    stride: int = 8
    sigma: float = 7.0
    paf_thickness: float = 1.0
    # main-person selection
    min_keypoints: int = 5
    min_area: float = 32.0 * 32.0
    center_overlap: float = 0.3
    # augmentation
    augment: bool = True
    target_height: float = 0.6  # main person's box height / input size before the random scale
    scale_range: list[float] = field(default_factory=lambda: [0.5, 1.1])  # a list: see edgepose.config tuples
    max_rotation: float = 40.0
    center_jitter: float = 40.0
    flip_prob: float = 0.5
    pad_value: int = 128
    # masks
    mask_crowd: bool = True
    mask_unannotated: bool = True
    # sizes
    max_train_samples: int | None = None
    max_val_images: int | None = None

    def __post_init__(self) -> None:
        if self.input_size % self.stride:
            raise ConfigError(f"data.input_size {self.input_size} must be a multiple of data.stride {self.stride}")
        if len(self.scale_range) != 2 or not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ConfigError(f"data.scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ConfigError(f"data.flip_prob must be in [0, 1], got {self.flip_prob}")
        if self.min_keypoints < 1:
            raise ConfigError(f"data.min_keypoints must be >= 1, got {self.min_keypoints}")

    def codec(self, **decode_overrides: Any) -> PafCodec:
        """The :class:`PafCodec` of these targets (decode settings from ``decode_overrides``)."""
        return PafCodec(stride=self.stride, sigma=self.sigma, paf_thickness=self.paf_thickness, **decode_overrides)


# ------------------------------------------------------------------------------------- sample selection
def select_main_persons(
    persons: list[CocoPerson], *, min_keypoints: int = 5, min_area: float = 1024.0, center_overlap: float = 0.3
) -> list[int]:
    """Indices (into ``persons``) of the main persons of one image, in annotation order (LWOP's rule)."""
    chosen: list[int] = []
    centres: list[tuple[float, float, float]] = []  # (cx, cy, box width)
    for i, p in enumerate(persons):
        if p.iscrowd or p.num_keypoints < min_keypoints or p.area < min_area:
            continue
        x, y, w, h = (float(v) for v in p.bbox)
        cx, cy = x + w / 2.0, y + h / 2.0
        if any(math.hypot(cx - px, cy - py) < center_overlap * pw for px, py, pw in centres):
            continue
        centres.append((cx, cy, w))
        chosen.append(i)
    return chosen


# -------------------------------------------------------------------------------------------- geometry
def augmentation_matrix(
    center: tuple[float, float],
    scale: float,
    rotation_deg: float,
    jitter: tuple[float, float],
    output_size: int,
    flip: bool,
) -> np.ndarray:
    """2x3 affine (pixel centres) image -> crop: scale, rotate about ``center``, put ``center - jitter`` at the
    crop centre, then mirror (``x -> S - 1 - x``) if ``flip``."""
    theta = math.radians(rotation_deg)
    c, s = math.cos(theta) * scale, math.sin(theta) * scale
    # cv2.getRotationMatrix2D convention (positive = counter-clockwise on screen)
    lin = np.array([[c, s], [-s, c]], dtype=np.float64)
    half = (output_size - 1) / 2.0
    t = np.array([half - jitter[0], half - jitter[1]]) - lin @ np.asarray(center, dtype=np.float64)
    m = np.concatenate([lin, t[:, None]], axis=1)
    if flip:
        m = np.array([[-1.0, 0.0, output_size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return m


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to the (x, y) of ``(..., 2+)`` points (extra columns untouched)."""
    pts = np.asarray(points, dtype=np.float64)
    out = pts.copy()
    out[..., 0] = matrix[0, 0] * pts[..., 0] + matrix[0, 1] * pts[..., 1] + matrix[0, 2]
    out[..., 1] = matrix[1, 0] * pts[..., 0] + matrix[1, 1] * pts[..., 1] + matrix[1, 2]
    return out


def flip_keypoints_lr(keypoints: np.ndarray) -> np.ndarray:
    """Swap left/right OpenPose-18 keypoints (after the coordinates were mirrored)."""
    return np.asarray(keypoints)[..., OPENPOSE.flip_index, :]


# ------------------------------------------------------------------------------------------------ masks
def segmentation_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Binary ``(height, width)`` uint8 mask of a COCO segmentation (polygons, RLE or uncompressed RLE)."""
    if not segmentation:
        return np.zeros((height, width), dtype=np.uint8)
    try:
        from pycocotools import mask as mask_utils
    except ImportError:  # pragma: no cover - polygons only without pycocotools
        mask_utils = None
    if mask_utils is not None:
        seg = segmentation
        if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, height, width)
        elif isinstance(seg, dict):
            rle = seg
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        with warnings.catch_warnings():  # pycocotools' numpy-2 copy= deprecation warning, once per call
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(rle)
        if m.ndim == 3:
            m = m.max(axis=2)
        return (m > 0).astype(np.uint8)
    out = np.zeros((height, width), dtype=np.uint8)
    if isinstance(segmentation, list):
        for poly in segmentation:
            pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            cv2.fillPoly(out, [np.round(pts).astype(np.int32)], 1)
    return out


def ignore_mask(
    persons: list[CocoPerson], height: int, width: int, *, crowd: bool = True, unannotated: bool = True
) -> np.ndarray:
    """``(height, width)`` float32: 1 = supervised, 0 on crowd regions and on people without keypoints."""
    mask = np.ones((height, width), dtype=np.float32)
    for p in persons:
        if (crowd and p.iscrowd) or (unannotated and not p.iscrowd and p.num_keypoints == 0):
            try:
                m = segmentation_mask(p.segmentation, height, width)
            except Exception as exc:  # malformed segmentation: say which, do not crash training
                raise DataError(f"annotation {p.id}: unreadable segmentation ({exc})") from None
            if m.shape == mask.shape:
                mask[m > 0] = 0.0
    return mask


def normalize_image(img_bgr: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 -> ``(3, H, W)`` float32 ``(img - 128) / 256`` (OpenPose family, still BGR)."""
    x = (np.asarray(img_bgr, dtype=np.float32) - IMG_MEAN) * IMG_SCALE
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def read_image_bgr(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise DataError("image file is missing or unreadable", path)
    return img


def _item_rng() -> np.random.Generator:
    try:
        import torch

        return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    except ImportError:  # pragma: no cover - torch-free use
        return np.random.default_rng()


# ---------------------------------------------------------------------------------------------- datasets
@dataclass
class _Sample:
    image_id: int
    main: int  # index into the image's person list


@dataclass
class BottomupDataset:
    """Training crops around main persons (see the module docstring); usable as a torch Dataset."""

    coco: CocoKeypoints
    image_root: Path
    cfg: BottomupDataConfig = field(default_factory=BottomupDataConfig)
    train: bool = True

    def __post_init__(self) -> None:
        self.image_root = Path(self.image_root)
        self.codec = self.cfg.codec()
        self.samples: list[_Sample] = []
        for image_id in self.coco.image_ids():
            persons = self.coco.persons[image_id]
            for i in select_main_persons(
                persons,
                min_keypoints=self.cfg.min_keypoints,
                min_area=self.cfg.min_area,
                center_overlap=self.cfg.center_overlap,
            ):
                self.samples.append(_Sample(image_id, i))
        if self.cfg.max_train_samples is not None:
            self.samples = self.samples[: self.cfg.max_train_samples]
        if not self.samples:
            raise DataError(
                f"no main person (num_keypoints >= {self.cfg.min_keypoints}, area >= {self.cfg.min_area:g})",
                self.coco.path,
            )

    @classmethod
    def from_files(cls, ann: str | Path, image_root: str | Path, cfg: BottomupDataConfig, train: bool = True):
        return cls(load_coco_keypoints(ann), Path(image_root), cfg, train)

    def __len__(self) -> int:
        return len(self.samples)

    def params(self, index: int, rng: np.random.Generator | None = None) -> dict[str, Any]:
        """The augmentation parameters of item ``index`` (random when training, neutral otherwise)."""
        cfg = self.cfg
        sample = self.samples[index]
        person = self.coco.persons[sample.image_id][sample.main]
        x, y, w, h = (float(v) for v in person.bbox)
        base = cfg.target_height * cfg.input_size / max(h, 1.0)
        if self.train and cfg.augment:
            rng = rng or _item_rng()
            mult = rng.uniform(*cfg.scale_range)
            rot = rng.uniform(-cfg.max_rotation, cfg.max_rotation)
            jitter = tuple(rng.uniform(-cfg.center_jitter, cfg.center_jitter, size=2).tolist())
            flip = bool(rng.random() < cfg.flip_prob)
        else:
            mult, rot, jitter, flip = 1.0, 0.0, (0.0, 0.0), False
        return {
            "center": (x + w / 2.0 - 0.5, y + h / 2.0 - 0.5),
            "scale": base * mult,
            "rotation": rot,
            "jitter": jitter,
            "flip": flip,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.make_item(index, self.params(index))

    def make_item(self, index: int, params: dict[str, Any], image: np.ndarray | None = None) -> dict[str, Any]:
        """Warp, mask and encode item ``index`` with explicit augmentation ``params`` (tests use this)."""
        cfg = self.cfg
        sample = self.samples[index]
        info = self.coco.images[sample.image_id]
        persons = self.coco.persons[sample.image_id]
        if image is None:
            image = read_image_bgr(self.image_root / info.file_name)
        h_img, w_img = image.shape[:2]
        size = cfg.input_size
        m = augmentation_matrix(
            params["center"], params["scale"], params["rotation"], params["jitter"], size, params["flip"]
        )
        crop = cv2.warpAffine(
            image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
            borderValue=(cfg.pad_value,) * 3,
        )  # fmt: skip
        mask_img = ignore_mask(persons, h_img, w_img, crowd=cfg.mask_crowd, unannotated=cfg.mask_unannotated)
        if mask_img.min() < 1.0:
            mask_crop = cv2.warpAffine(
                mask_img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0
            )
            mh, mw = self.codec.map_size(size)
            mask = cv2.resize(mask_crop, (mw, mh), interpolation=cv2.INTER_AREA)
        else:
            mh, mw = self.codec.map_size(size)
            mask = np.ones((mh, mw), dtype=np.float32)
        labelled = [p for p in persons if not p.iscrowd and p.num_keypoints > 0]
        if labelled:
            kp = np.stack([p.keypoints for p in labelled]).astype(np.float64)
            kp[..., :2] -= self.codec.coco_offset
            op = coco_to_openpose(kp)
            op = transform_points(op, m)
            if params["flip"]:
                op = flip_keypoints_lr(op)
        else:
            op = np.zeros((0, 18, 3))
        heat, pafs = self.codec.encode(op, size)
        return {
            "image": normalize_image(crop),
            "heatmaps": heat,
            "pafs": pafs,
            "mask": mask.astype(np.float32)[None],
        }


@dataclass
class BottomupValDataset:
    """Whole images for evaluation: ``{"image_id", "image" (H, W, 3) BGR uint8}``; ``ann_path`` for COCOeval."""

    ann_path: Path
    image_root: Path
    max_images: int | None = None

    def __post_init__(self) -> None:
        self.ann_path = Path(self.ann_path)
        self.image_root = Path(self.image_root)
        self.coco = load_coco_keypoints(self.ann_path)
        self.image_ids = self.coco.image_ids()
        if self.max_images is not None:
            self.image_ids = self.image_ids[: self.max_images]
        self.skipped: Counter = Counter()

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.image_ids[index]
        path = self.image_root / self.coco.images[image_id].file_name
        return {"image_id": int(image_id), "image": read_image_bgr(path)}
