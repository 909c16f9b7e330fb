"""Top-down datasets (COCO, MPII and LSP/LSPet): one person per item, cropped, augmented and encoded as heatmaps.

Each item is a dict:

``image``          float32 ``(3, H, W)``, RGB normalised with ImageNet statistics (on purpose, see
                   :mod:`edgepose.data.transforms`);
``target``         float32 ``(K, h, w)`` heatmaps from the shared :class:`~edgepose.codecs.heatmap.HeatmapCodec`;
``target_weight``  float32 ``(K, 1)``;
``meta``           ``index``, ``image_id``, ``center`` (2,), ``scale`` (2,), ``rotation``, ``score`` (box score, 1
                   for GT boxes), ``area`` (crop area in pixels), ``joints`` (K, 3) in *image* pixels (for
                   evaluation), ``norm_length`` (the PCK normaliser of :attr:`PersonRecord.norm_length`), ``flipped``.

Training items follow SimpleBaseline/HRNet (SPEC A.1.8): optional half-body, scale ×clip(N·sf+1, 1-sf, 1+sf),
rotation clip(N·rf, -2rf, 2rf) with probability ``rotation_prob``, horizontal flip with probability 0.5 (image
mirrored, joints mirrored and left/right swapped, centre mirrored), then the three-point affine crop.
Evaluation items are the un-augmented crops of ground-truth boxes or of detector boxes above a score threshold.

Randomness: every training item draws its own ``numpy.random.Generator`` seeded from torch's RNG (one
``torch.randint`` per item), so the trainer's seed and DataLoader worker seeding (``base_seed + worker_id``)
make augmentation reproducible, with or without workers. :func:`worker_init_fn` additionally seeds ``random``
and the legacy numpy RNG of each worker.

Bad input: missing image files, malformed JSON and NaN keypoints raise :class:`~edgepose.errors.DataError`
naming the file and field; zero-area boxes, persons without keypoints and labelled keypoints outside their
image are skipped (or unlabelled) and counted, with one log line per reason.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.codecs.heatmap import CODECS, HeatmapCodec
from edgepose.data.coco import load_coco_keypoints, load_detections
from edgepose.data.lspet import LSPET_VAL_RANGE, image_box, joints_box, load_lsp, torso_size
from edgepose.data.mpii import load_mpii
from edgepose.data.transforms import UPPER_BODY_IDS, half_body, read_image_rgb, sanitize_box
from edgepose.errors import ConfigError, DataError
from edgepose.geometry import (
    PIXEL_STD,
    box_to_center_scale,
    crop_image,
    flip_image,
    flip_joints,
    get_affine_transform,
    joints_to_crop,
    normalize_image,
)
from edgepose.keypoints import COCO, LSP, MPII, KeypointSpec

log = logging.getLogger(__name__)

DATASETS = ("coco", "mpii", "lspet")
LSP_BOXES = ("image", "joints")  # the person box of an LSP item: the whole image, or the labelled joints


@dataclass
class TopdownDataConfig:
    """The ``data:`` section of a top-down experiment. Paths: see :func:`edgepose.engine.config.resolve_path`
    (``~`` and ``$VARS`` expanded; relative paths against the config file's folder)."""

    dataset: str = "coco"  # coco | mpii | lspet
    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    input_size: list[int] = field(default_factory=lambda: [256, 192])  # (H, W)
    heatmap_stride: int = 4
    sigma: float = 2.0
    codec: str = "msra"  # target encoding: msra | dark
    scale_factor: float = 0.3
    rotation_factor: float = 40.0
    rotation_prob: float = 0.6
    # "clipped_normal": clip(N·rf, -2rf, 2rf), SimpleBaseline's code (up to ±80° at rf=40); "uniform": U[-rf, rf], the
    # papers' literal "[-40, 40]" (MPII ±30). Opt-in; docs/models.md "Readings to revisit".
    rotation_dist: str = "clipped_normal"
    flip: bool = True
    half_body_prob: float = 0.0
    num_joints_half_body: int = 8
    max_images: int | None = None  # keep only the first N images (sorted ids), for smoke runs
    min_keypoints: int = 1  # training persons need at least this many labelled keypoints
    # lspet only: *_ann is joints.mat, *_images the images/ folder. The person box of evaluation items
    # ("image": the whole image, as `edgepose pck` and `edgepose predict` use by default; "joints": the
    # labelled joints), the boxes each training image contributes (one item per box kind), and the 1-based
    # inclusive image range held out for validation (training uses every other image present).
    box: str = "image"
    train_boxes: list[str] = field(default_factory=lambda: ["image", "joints"])
    val_range: list[int] = field(default_factory=lambda: list(LSPET_VAL_RANGE))
    # Where training batches come from: "loader" (this module's dataset in DataLoader workers) or "device" (a uint8
    # image store decoded once, crops and targets made on the device in batches: edgepose/engine/device_batches.py,
    # options in device_pipeline, docs/gpu.md).
    pipeline: str = "loader"
    device_pipeline: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"config key 'data.{key}': {getattr(self, key)!r} {why}")

        if self.dataset not in DATASETS:
            raise bad("dataset", f"is not one of {', '.join(DATASETS)}")
        if self.codec not in CODECS:
            raise bad("codec", f"is not one of {', '.join(CODECS)}")
        if len(self.input_size) != 2 or min(self.input_size) <= 0:
            raise bad("input_size", "must be two positive integers [H, W]")
        if self.heatmap_stride <= 0 or any(v % self.heatmap_stride for v in self.input_size):
            raise bad("heatmap_stride", f"must divide input_size {list(self.input_size)}")
        if self.sigma <= 0:
            raise bad("sigma", "must be > 0")
        if not 0 <= self.scale_factor < 1:
            raise bad("scale_factor", "must be in [0, 1)")
        if self.rotation_factor < 0:
            raise bad("rotation_factor", "must be >= 0")
        if self.rotation_dist not in ("clipped_normal", "uniform"):
            raise bad("rotation_dist", "is not one of clipped_normal, uniform")
        for key in ("rotation_prob", "half_body_prob"):
            if not 0 <= getattr(self, key) <= 1:
                raise bad(key, "must be a probability in [0, 1]")
        if self.max_images is not None and self.max_images < 1:
            raise bad("max_images", "must be >= 1 or null")
        if self.min_keypoints < 0:
            raise bad("min_keypoints", "must be >= 0")
        if self.box not in LSP_BOXES:
            raise bad("box", f"is not one of {', '.join(LSP_BOXES)}")
        if not self.train_boxes or any(b not in LSP_BOXES for b in self.train_boxes):
            raise bad("train_boxes", f"must be a non-empty list of {', '.join(LSP_BOXES)}")
        if len(self.val_range) != 2 or not 1 <= self.val_range[0] <= self.val_range[1]:
            raise bad("val_range", "must be [FIRST, LAST], 1-based and inclusive")
        if self.pipeline not in ("loader", "device"):
            raise bad("pipeline", "is not one of loader, device")

    @property
    def keypoint_spec(self) -> KeypointSpec:
        return {"coco": COCO, "mpii": MPII, "lspet": LSP}[self.dataset]

    def make_codec(self, kind: str | None = None) -> HeatmapCodec:
        return HeatmapCodec(
            input_size=tuple(self.input_size), sigma=self.sigma, kind=kind or self.codec, stride=self.heatmap_stride
        )


@dataclass
class PersonRecord:
    """One crop to produce: the image, the crop (center, scale) and the image-space joints (K, 3).

    ``norm_length`` is the length a joint's error is divided by before it is compared with a PCK threshold, per
    dataset: MPII's head size (PCKh: 0.6 x the head-box diagonal, :func:`edgepose.data.mpii.head_size_from`),
    LSP/LSPet's torso diameter (left shoulder to right hip, :func:`edgepose.data.lspet.torso_size`), 0 for COCO
    (OKS is normalised by the area instead). 0 also marks a person that cannot be normalised.
    """

    image_path: Path
    image_id: int
    center: np.ndarray
    scale: np.ndarray
    joints: np.ndarray
    score: float = 1.0
    norm_length: float = 0.0  # PCK's normalising length in pixels: MPII's head size, LSP's torso; 0 for COCO
    box: str | None = None  # "image" / "joints": the crop is derived from the loaded image (center/scale unset)


_EXPECTED_SKIPS = ("crowd region", "persons with too few keypoints", "not a person")


def _note_skips(source: str | Path, skipped: Counter) -> None:
    """One log line per skip reason: INFO for the routine ones (crowds, people without keypoints)."""
    for reason, n in sorted(skipped.items()):
        if n:
            level = logging.INFO if reason in _EXPECTED_SKIPS else logging.WARNING
            log.log(level, "%s: skipped %d (%s)", source, n, reason)


def _check_images(records: Sequence[PersonRecord], source: str | Path) -> None:
    paths = sorted({r.image_path for r in records})
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(paths)} image files are missing, first: {missing[0]} (check the images folder)",
            source,
        )


def coco_records(
    ann_path: str | Path,
    image_root: str | Path,
    input_size: Sequence[int],
    *,
    train: bool,
    det_file: str | Path | None = None,
    det_score_threshold: float = 0.0,
    max_images: int | None = None,
    min_keypoints: int = 1,
    covered_ids: list[int] | None = None,
) -> list[PersonRecord]:
    """COCO person crops: GT boxes (``det_file`` None) or detector boxes above the threshold (evaluation).

    ``covered_ids``, if given, receives the ids of every image the split covers (people or not).
    """
    coco = load_coco_keypoints(ann_path)
    aspect = input_size[1] / input_size[0]
    image_ids = coco.image_ids()[:max_images] if max_images else coco.image_ids()
    if covered_ids is not None:
        covered_ids.extend(image_ids)
    skipped: Counter = Counter(coco.skipped)
    records: list[PersonRecord] = []
    k = coco.num_keypoints
    if det_file is not None:
        detections = load_detections(det_file, det_score_threshold)
        wanted = set(image_ids)
        skipped["detections of images not in the annotation file"] += sum(
            len(v) for i, v in detections.items() if i not in wanted
        )
        for image_id in image_ids:
            path = coco.image_path(image_id, image_root)
            for box, score in detections.get(image_id, []):
                center, scale = box_to_center_scale(box, aspect)
                records.append(PersonRecord(path, image_id, center, scale, np.zeros((k, 3)), float(score)))
        _note_skips(det_file, skipped)
        return records
    need = max(1, min_keypoints) if train else 1
    for image_id in image_ids:
        img = coco.images[image_id]
        path = coco.image_path(image_id, image_root)
        for person in coco.persons[image_id]:
            if person.iscrowd:
                skipped["crowd region"] += 1
                continue
            joints = person.keypoints.copy()
            joints[:, 2] = (joints[:, 2] > 0).astype(np.float64)
            outside = (joints[:, 2] > 0) & (
                (joints[:, 0] < 0) | (joints[:, 1] < 0) | (joints[:, 0] > img.width) | (joints[:, 1] > img.height)
            )
            if outside.any():
                skipped["labelled keypoints outside the image (unlabelled)"] += int(outside.sum())
                joints[outside] = 0.0
            if joints[:, 2].sum() < need:
                skipped["persons with too few keypoints"] += 1
                continue
            box = sanitize_box(person.bbox, img.width, img.height)
            if box is None:
                skipped["zero-area box after clipping"] += 1
                continue
            center, scale = box_to_center_scale(box, aspect)
            records.append(PersonRecord(path, image_id, center, scale, joints, 1.0))
    _note_skips(ann_path, skipped)
    return records


def mpii_records(
    ann_path: str | Path, image_root: str | Path, *, train: bool, max_images: int | None = None
) -> list[PersonRecord]:
    """MPII person crops with the annotation's (HRNet-adjusted) centre and scale.

    CPM-layout files carry an ``isValidation`` flag: training keeps the training people, evaluation the
    validation people, unless the file has only one kind. Image ids are the order of first appearance.
    """
    ann = load_mpii(ann_path)
    persons = ann.persons
    flags = {p.is_validation for p in persons}
    if len(flags) == 2:
        persons = [p for p in persons if p.is_validation != train]
    ids: dict[str, int] = {}
    records: list[PersonRecord] = []
    for p in persons:
        if p.image not in ids:
            if max_images and len(ids) >= max_images:
                continue
            ids[p.image] = len(ids)
        record = PersonRecord(Path(image_root) / p.image, ids[p.image], p.center, p.scale, p.joints.copy(), 1.0,
                              norm_length=p.head_size)  # fmt: skip
        records.append(record)
    return records


def lspet_records(
    joints_mat: str | Path,
    image_root: str | Path,
    *,
    train: bool,
    boxes: Sequence[str] = ("image",),
    val_range: Sequence[int] = LSPET_VAL_RANGE,
    max_images: int | None = None,
) -> list[PersonRecord]:
    """LSP/LSPet crops: the training images (everything present outside ``val_range``) or the validation
    images, one record per image and box kind. The crop is computed when the image is loaded (the whole image
    needs its size); ``norm_length`` carries PCK's torso diameter. Image ids are the 1-based image numbers."""
    lo, hi = int(val_range[0]), int(val_range[1])
    if train:
        people = load_lsp(joints_mat, image_root, exclude=(lo, hi))
    else:
        people = load_lsp(joints_mat, image_root, first=lo, last=hi)
    if max_images:
        people = people[:max_images]
    zero = np.zeros(2)
    return [
        PersonRecord(p.image, p.number, zero, zero, p.joints, 1.0, torso_size(p.joints), box=kind)
        for p in people
        for kind in boxes
    ]


def record_crop(
    record: PersonRecord, image_width: int, image_height: int, aspect: float
) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of a record: its own, or the whole image's / the labelled joints' box for LSP items."""
    if record.box is None:
        return record.center.copy(), record.scale.copy()
    box = joints_box(record.joints, image_width, image_height) if record.box == "joints" else None
    if box is None:  # fewer than two labelled joints: the whole image
        box = image_box(image_width, image_height)
    return box_to_center_scale(box, aspect)


def worker_init_fn(worker_id: int) -> None:
    """Seed ``random`` and numpy's legacy RNG of a DataLoader worker from its torch seed (base + worker id)."""
    try:
        import torch

        seed = torch.initial_seed() % 2**32
    except ImportError:  # pragma: no cover
        seed = worker_id
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - third-party code in workers may use the legacy global RNG


def _item_rng() -> np.random.Generator:
    try:
        import torch

        return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    except ImportError:  # pragma: no cover - torch-free use
        return np.random.default_rng()


class TopdownDataset:
    """A list of :class:`PersonRecord` crops, augmented when ``train``; usable as a torch Dataset."""

    def __init__(
        self,
        records: Sequence[PersonRecord],
        codec: HeatmapCodec,
        spec: KeypointSpec,
        *,
        train: bool,
        cfg: TopdownDataConfig | None = None,
        source: str | Path = "dataset",
        check_images: bool = True,
    ) -> None:
        self.records = list(records)
        self.codec = codec
        self.spec = spec
        self.train = train
        self.cfg = cfg or TopdownDataConfig()
        self.source = str(source)
        if not self.records:
            raise DataError("the dataset is empty (no person to crop: check the annotations and filters)", source)
        if check_images:
            _check_images(self.records, source)
        self.flip_index = spec.flip_index
        # every image the split covers (including images without people); evaluation restricts COCOeval to them
        self.image_ids: list[int] = sorted({r.image_id for r in self.records})
        self.upper_body = UPPER_BODY_IDS.get(spec.name, tuple(range(spec.num_keypoints // 2)))

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"TopdownDataset({self.source!r}, {len(self)} persons, train={self.train}, codec={self.codec})"

    def augment(
        self, rng: np.random.Generator, joints: np.ndarray, center: np.ndarray, scale: np.ndarray, image_width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """Draw the training augmentation; returns (joints, center, scale, rotation, flipped)."""
        c = self.cfg
        h, w = self.codec.input_size
        if (
            c.half_body_prob > 0
            and (joints[:, 2] > 0).sum() > c.num_joints_half_body
            and rng.random() < c.half_body_prob
        ):
            hb = half_body(joints, self.upper_body, w / h, rng)
            if hb is not None:
                center, scale = hb
        sf, rf = c.scale_factor, c.rotation_factor
        scale = scale * float(np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf))
        rot = 0.0
        if rng.random() <= c.rotation_prob:  # drawn first, as before the rotation_dist option (same random stream)
            if c.rotation_dist == "uniform":
                rot = float(rng.uniform(-rf, rf))
            else:
                rot = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
        flipped = False
        if c.flip and rng.random() <= 0.5:
            joints = flip_joints(joints, image_width, self.flip_index)
            center = center.copy()
            center[0] = image_width - 1 - center[0]
            flipped = True
        return joints, center, scale, rot, flipped

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        image = read_image_rgb(rec.image_path)
        h, w = self.codec.input_size
        center, scale = record_crop(rec, image.shape[1], image.shape[0], w / h)
        joints = rec.joints.copy()
        rot, flipped = 0.0, False
        if self.train:
            joints, center, scale, rot, flipped = self.augment(_item_rng(), joints, center, scale, image.shape[1])
            if flipped:
                image = flip_image(image)
        crop = crop_image(image, get_affine_transform(center, scale, rot, (w, h)), (w, h))
        crop_joints = joints_to_crop(joints, center, scale, rot, (h, w))
        if self.train:
            target, weight = self.codec.encode(crop_joints)
        else:  # evaluation items still carry targets (validation loss), zero for detector boxes
            target, weight = self.codec.encode(crop_joints)
        meta = {
            "index": int(index),
            "image_id": int(rec.image_id),
            "center": center.astype(np.float64),  # float64: decoding maps back with the crop's exact affine
            "scale": scale.astype(np.float64),
            "rotation": np.float32(rot),
            "score": np.float32(rec.score),
            "area": np.float32(scale[0] * scale[1] * PIXEL_STD**2),
            "joints": rec.joints.astype(np.float32),
            "norm_length": np.float32(rec.norm_length),
            "flipped": bool(flipped),
        }
        return {"image": normalize_image(crop), "target": target, "target_weight": weight, "meta": meta}


def build_topdown_dataset(
    cfg: TopdownDataConfig,
    split: str,
    *,
    ann: str | Path,
    images: str | Path,
    det_file: str | Path | None = None,
    det_score_threshold: float = 0.0,
    codec: HeatmapCodec | None = None,
    check_images: bool = True,
) -> TopdownDataset:
    """The train (augmented) or val dataset of ``cfg.dataset`` from resolved paths."""
    train = split == "train"
    codec = codec or cfg.make_codec()
    covered: list[int] = []
    if cfg.dataset == "coco":
        records = coco_records(
            ann,
            images,
            cfg.input_size,
            train=train,
            det_file=det_file,
            det_score_threshold=det_score_threshold,
            max_images=cfg.max_images,
            min_keypoints=cfg.min_keypoints,
            covered_ids=covered,
        )
    elif det_file is not None:
        raise ConfigError(f"detector boxes are only supported for COCO; {cfg.dataset} evaluates with its own crops")
    elif cfg.dataset == "lspet":
        boxes = cfg.train_boxes if train else [cfg.box]
        records = lspet_records(
            ann, images, train=train, boxes=boxes, val_range=cfg.val_range, max_images=cfg.max_images
        )
    else:
        records = mpii_records(ann, images, train=train, max_images=cfg.max_images)
    dataset = TopdownDataset(
        records, codec, cfg.keypoint_spec, train=train, cfg=cfg, source=det_file or ann, check_images=check_images
    )
    if covered:
        dataset.image_ids = covered
    return dataset
