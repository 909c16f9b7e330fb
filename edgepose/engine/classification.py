"""ImageNet-style classification pretraining of a pose backbone, as a task of the shared engine.

Why a task and not a second trainer: checkpoints, exact resume, ``torchrun``, progress and curves then come from
:mod:`edgepose.engine.trainer` unchanged. ``edgepose pretrain CONFIG`` runs it (docs/pretraining.md); a config
names the *pose* model whose trunk is to be pretrained::

    task: edgepose.engine.classification:ClassificationTask   # implied by `edgepose pretrain`
    model: {name: flpn_sres50}            # the trunk of this pose model (stem + layer1..4, or .backbone)
    data: {dataset: imagefolder, train_dir: imagenet/train, val_dir: imagenet/val, input_size: 224}
    train: {optimizer: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4, epochs: 100, lr_schedule: cosine}

The classifier keeps the trunk's key names (``stem.*``, ``layer1.*`` … or ``backbone.*``) and adds ``fc.*``, so
its checkpoint *is* a partial pose-model checkpoint: ``model.pretrained: .../best.pt`` in a pose config copies the
whole trunk (name and shape match) and leaves the head at its initialisation; ``fc.*`` fits nothing and is
ignored. :func:`edgepose.models.weights.load_backbone_part` loads it too, with a strict report.

Data: an ImageFolder tree (``root/<class>/<image>``; classes sorted by name). Training items are a random-resized
crop (area ``[scale_min, 1]`` of the image, aspect ``[3/4, 4/3]``) and a horizontal flip; evaluation items a
centre crop of 87.5 % of the short side resized to ``input_size``. Images are RGB, ImageNet-normalised
(:func:`edgepose.geometry.normalize_image`), like every top-down model's input. The loss is cross-entropy with
``label_smoothing`` (0.1); evaluation reports ``top1``, and ``top5`` when there are at least 5 classes.

:func:`write_person_crops` makes a small real set here: person boxes vs person-free squares of the COCO mini
images (the learning proof of docs/pretraining.md and of the tests).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from edgepose.engine import distributed as du
from edgepose.errors import ConfigError, DataError
from edgepose.geometry import normalize_image
from edgepose.io import atomic_write_image, atomic_write_text

__all__ = ["BackboneClassifier", "ClassificationTask", "ImageFolderDataset", "write_person_crops"]

DATA_KEYS = {"dataset", "train_dir", "val_dir", "input_size", "label_smoothing", "scale_min"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ImageFolderDataset(Dataset):
    """``root/<class>/<image>`` files as (image, label) items; ``classes`` fixes the label order across splits."""

    def __init__(
        self,
        root: str | Path,
        size: int,
        *,
        train: bool,
        classes: Sequence[str] | None = None,
        scale_min: float = 0.08,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("image folder not found (expected root/<class>/<image> files)", self.root)
        found = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.classes = list(classes) if classes is not None else found
        if len(self.classes) < 2:
            raise DataError(f"need at least 2 class folders, found {len(self.classes)}", self.root)
        self.samples = [
            (path, label)
            for label, name in enumerate(self.classes)
            for path in sorted((self.root / name).glob("*"))
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not self.samples:
            raise DataError("no images in the class folders", self.root)
        self.size, self.train, self.scale_min = int(size), bool(train), float(scale_min)

    def __len__(self) -> int:
        return len(self.samples)

    def _random_resized_crop(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        for _ in range(10):  # torchvision's RandomResizedCrop: 10 tries, then the centre crop
            area = h * w * rng.uniform(self.scale_min, 1.0)
            aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                return image[y0 : y0 + ch, x0 : x0 + cw]
        return self._center_crop(image, 1.0)

    @staticmethod
    def _center_crop(image: np.ndarray, fraction: float) -> np.ndarray:
        h, w = image.shape[:2]
        side = max(1, round(min(h, w) * fraction))
        y0, x0 = (h - side) // 2, (w - side) // 2
        return image[y0 : y0 + side, x0 : x0 + side]

    def __getitem__(self, index: int) -> dict[str, Any]:
        from edgepose.data.transforms import read_image_rgb

        path, label = self.samples[index]
        image = read_image_rgb(path)
        if self.train:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))  # follows the trainer's seed
            crop = self._random_resized_crop(image, rng)
            if rng.random() < 0.5:
                crop = np.ascontiguousarray(crop[:, ::-1])
        else:
            crop = self._center_crop(image, 0.875)
        crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return {"image": torch.from_numpy(normalize_image(crop)), "label": torch.tensor(label, dtype=torch.long)}


class BackboneClassifier(nn.Module):
    """The trunk of a pose model + global average pooling + a linear classifier (``fc``).

    The trunk modules are registered under the pose model's own names (``stem``, ``layer1``..``layer4`` of a
    top-down model, ``backbone`` of a bottom-up one), so the classifier's state dict *is* the pose model's trunk
    state dict plus ``fc.*``.
    """

    TOPDOWN_PARTS = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, pose_model: nn.Module, num_classes: int) -> None:
        super().__init__()
        if hasattr(pose_model, "backbone"):
            self.part_names: tuple[str, ...] = ("backbone",)
        elif all(hasattr(pose_model, name) for name in self.TOPDOWN_PARTS):
            self.part_names = self.TOPDOWN_PARTS
        else:
            raise ConfigError(f"{type(pose_model).__name__} has no backbone (stem/layer1..4 or .backbone) to pretrain")
        for name in self.part_names:
            self.add_module(name, getattr(pose_model, name))
        self.input_size = (64, 64)
        with torch.no_grad():  # the trunk's output width, from one tiny pass
            was_training = self.training
            self.eval()
            channels = self.features(torch.zeros(1, 3, 64, 64)).shape[1]
            self.train(was_training)
        self.fc = nn.Linear(channels, num_classes)
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.part_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class ClassificationTask:
    """The engine's :class:`~edgepose.engine.task.Task` for ImageFolder classification (top-1 picks ``best.pt``)."""

    primary_metric = "top1"
    collate_fn = None

    def __init__(self, cfg: Any) -> None:
        from edgepose.engine.config import resolve_path

        unknown = sorted(set(cfg.data) - DATA_KEYS)
        if unknown:
            raise ConfigError(f"unknown config key 'data.{unknown[0]}' (classification keys: {sorted(DATA_KEYS)})")
        for key in ("train_dir", "val_dir"):
            if not cfg.data.get(key):
                raise ConfigError(f"config key 'data.{key}' is required (an ImageFolder directory)")
        if not cfg.model.name:
            raise ConfigError("config key 'model.name' is required (the pose model whose trunk is pretrained)")
        self.cfg = cfg
        self.train_dir = resolve_path(cfg, cfg.data["train_dir"])
        self.val_dir = resolve_path(cfg, cfg.data["val_dir"])
        self.size = int(cfg.data.get("input_size", 224))
        self.label_smoothing = float(cfg.data.get("label_smoothing", 0.1))
        self.scale_min = float(cfg.data.get("scale_min", 0.08))
        if self.size < 32 or not 0 <= self.label_smoothing < 1 or not 0 < self.scale_min <= 1:
            raise ConfigError("config keys 'data.input_size' >= 32, 'data.label_smoothing' in [0, 1), "
                              "'data.scale_min' in (0, 1] required")  # fmt: skip
        self._train = ImageFolderDataset(self.train_dir, self.size, train=True, scale_min=self.scale_min)
        self.classes = self._train.classes

    def build_model(self) -> nn.Module:
        from edgepose.models import build_model

        pose = build_model(self.cfg.model.name, **dict(self.cfg.model.overrides or {}))
        model = BackboneClassifier(pose, len(self.classes))
        model.input_size = (self.size, self.size)
        return model

    def train_dataset(self) -> Dataset:
        return self._train

    def val_dataset(self) -> Dataset:
        return ImageFolderDataset(self.val_dir, self.size, train=False, classes=self.classes)

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(batch["image"])
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.label_smoothing)
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        return loss, {"ce": float(loss.detach()), "train_top1": float(acc)}

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]] | None:
        """Weight decay on conv/linear weights only (BN, LayerNorm and biases without), the usual recipe."""
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def evaluate(
        self, model: nn.Module, dataset: Dataset, *, device: torch.device, rank: int = 0, world_size: int = 1,
        out_dir: Path,
    ) -> dict[str, float]:  # fmt: skip
        """``top1`` (and ``top5`` when there are at least 5 classes: with fewer it is 100 % by construction),
        ``val_ce`` (plain cross-entropy) and ``n``, over centre crops in batches of ``train.batch_size``."""
        hits = _classify(model, dataset, du.shard_indices(len(dataset), rank, world_size),
                         device=device, batch_size=self.cfg.train.batch_size)  # fmt: skip
        gathered = du.all_gather_object(hits)
        if rank != 0:
            return {}
        merged = {i: v for part in gathered for i, v in part.items()}
        n = max(1, len(merged))
        metrics = {"top1": 100.0 * sum(v[0] for v in merged.values()) / n}
        if len(self.classes) >= 5:
            metrics["top5"] = 100.0 * sum(v[1] for v in merged.values()) / n
        metrics.update({"val_ce": sum(v[2] for v in merged.values()) / n, "n": float(len(merged))})
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "classification_metrics.json", json.dumps(metrics, indent=1) + "\n")
        return metrics


def _classify(
    model: nn.Module, dataset: Dataset, indices: Sequence[int], *, device: torch.device, batch_size: int
) -> dict[int, tuple[int, int, float]]:
    """``{index: (top-1 hit, top-5 hit, cross-entropy)}`` for the dataset items ``indices`` (batched)."""
    out: dict[int, tuple[int, int, float]] = {}
    indices = list(indices)
    for start in range(0, len(indices), max(1, batch_size)):
        chunk = indices[start : start + max(1, batch_size)]
        items = [dataset[i] for i in chunk]
        labels = torch.stack([item["label"] for item in items])
        logits = model(torch.stack([item["image"] for item in items]).to(device)).float().cpu()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        ce = F.cross_entropy(logits, labels, reduction="none")
        for j, i in enumerate(chunk):
            out[i] = (int(top[j, 0] == labels[j]), int(bool((top[j] == labels[j]).any())), float(ce[j]))
    return out


# ------------------------------------------------------------------------------------ a small real set
def _overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection of boxes (x, y, w, h) as a share of a's area."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(a[2] * a[3], 1e-9)


def _crops_of_image(
    image: np.ndarray, boxes: Sequence[Sequence[float]], rng: np.random.Generator, min_side: int
) -> list[tuple[int, str, np.ndarray]]:
    """(box index, class, crop): every person box of at least ``min_side`` px, and a square of the same size
    elsewhere in the image that overlaps no person box by more than 10 % of its area (when one is found)."""
    h, w = image.shape[:2]
    out = []
    for k, (x, y, bw, bh) in enumerate(boxes):
        if bw < min_side or bh < min_side:
            continue
        out.append((k, "person", image[int(y) : int(y + bh), int(x) : int(x + bw)]))
        side = int(min(max(bw, bh), w, h))
        for _ in range(50):
            bx, by = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            if all(_overlap((bx, by, side, side), b) < 0.1 for b in boxes):
                out.append((k, "background", image[by : by + side, bx : bx + side]))
                break
    return out


def write_person_crops(
    coco_root: str | Path, out: str | Path, *, size: int = 72, min_side: int = 32, max_images: int | None = None,
    seed: int = 0,
) -> dict[str, int]:  # fmt: skip
    """Write ``out/{train,val}/{person,background}/*.png`` from the COCO mini set; returns the count per split/class.

    *person* = the box of every annotated person at least ``min_side`` px on each side; *background* = a random
    square of the same size elsewhere in the same image overlapping no person box by more than 10 %. Images are
    split by id (every fifth to validation), so no image feeds both splits. Crops are resized to ``size``.
    ``max_images`` caps the images read per annotation file (tests).
    """
    root, out = Path(coco_root), Path(out)
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for split_file, folder in (("person_keypoints_val2017_mini.json", "val2017"),
                               ("person_keypoints_train2017_mini.json", "train2017")):  # fmt: skip
        ann_path = root / "annotations" / split_file
        if not ann_path.is_file():
            raise DataError("COCO mini annotation file not found", ann_path)
        ann = json.loads(ann_path.read_text())
        boxes: dict[int, list[list[float]]] = {}
        for a in ann["annotations"]:
            boxes.setdefault(a["image_id"], []).append(list(a["bbox"]))
        images = [img for img in ann["images"] if img["id"] in boxes][:max_images]
        for img in images:
            image = cv2.imread(str(root / "images" / folder / img["file_name"]))
            if image is None:
                continue
            split = "val" if img["id"] % 5 == 0 else "train"
            for k, cls, crop in _crops_of_image(image, boxes[img["id"]], rng, min_side):
                d = out / split / cls
                d.mkdir(parents=True, exist_ok=True)
                small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
                atomic_write_image(d / f"{img['id']}_{k}.png", small)
                counts[f"{split}/{cls}"] = counts.get(f"{split}/{cls}", 0) + 1
    return counts
