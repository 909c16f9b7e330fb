"""ImageNet-style classification pretraining of a pose backbone, as a task of the shared engine (issue 14, item 1).

Why a task and not a second trainer: checkpoints, exact resume, ``torchrun``, progress and curves then come from
:mod:`edgepose.engine.trainer` unchanged. A config selects it with ``task: edgepose.engine.classification:
ClassificationTask`` and names the *pose* model whose trunk is to be pretrained::

    task: edgepose.engine.classification:ClassificationTask
    model: {name: flpn_sres50}            # the trunk of this pose model (stem + layer1..4, or .backbone)
    data: {dataset: imagefolder, train_dir: imagenet/train, val_dir: imagenet/val, input_size: 224}
    train: {optimizer: sgd, lr: 0.1, momentum: 0.9, weight_decay: 1.0e-4, epochs: 100, lr_milestones: [30, 60, 90]}

The classifier keeps the trunk's key names (``stem.*``, ``layer1.*`` … or ``backbone.*``) and adds ``fc.*``, so its
checkpoint loads into the pose model with :func:`edgepose.models.weights.load_backbone_part` (``fc`` skipped).

Data: an ImageFolder tree (``root/<class>/<image>``; classes sorted by name). Training items are a random-resized
crop (area ``[scale_min, 1]`` of the image, aspect ``[3/4, 4/3]``) and a horizontal flip; evaluation items a
resize of the short side to ``input_size / 0.875`` and a centre crop. Images are RGB, ImageNet-normalised
(:func:`edgepose.geometry.normalize_image`), like every top-down model's input. The loss is cross-entropy with
``label_smoothing`` (0.1); evaluation reports ``top1`` and ``top5`` (top-k capped at the number of classes).
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

__all__ = ["BackboneClassifier", "ClassificationTask", "ImageFolderDataset"]

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
        k = min(5, len(self.classes))
        hits: dict[int, tuple[int, int, float]] = {}
        for i in du.shard_indices(len(dataset), rank, world_size):
            item = dataset[i]
            logits = model(item["image"][None].to(device))[0].float().cpu()
            label = int(item["label"])
            top = logits.topk(k).indices.tolist()
            hits[i] = (
                int(top[0] == label),
                int(label in top),
                float(F.cross_entropy(logits[None], item["label"][None])),
            )
        gathered = du.all_gather_object(hits)
        if rank != 0:
            return {}
        merged = {i: v for part in gathered for i, v in part.items()}
        n = max(1, len(merged))
        metrics = {
            "top1": 100.0 * sum(v[0] for v in merged.values()) / n,
            f"top{k}" if k != 5 else "top5": 100.0 * sum(v[1] for v in merged.values()) / n,
            "val_ce": sum(v[2] for v in merged.values()) / n,
            "n": float(len(merged)),
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "classification_metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        return metrics
