"""The top-down task (FLPN, SimpleBaseline, LPN) for the training engine.

:class:`TopdownTask` owns what the trainer does not know about: the ``data:`` and ``eval:`` sections
(validated here into :class:`~edgepose.data.topdown.TopdownDataConfig` and :class:`TopdownEvalConfig`), the
datasets, ``JointsMSELoss``, and evaluation: OKS rescoring, OKS-NMS and COCOeval for COCO, PCKh for MPII, PCK
for LSP.

Evaluation predicts with the runtime's :class:`~edgepose.runtime.estimator.PoseEstimator` (the model wrapped by
:class:`~edgepose.engine.predict.TorchNetwork`), the very object ``edgepose predict`` runs: the dataset cuts the
crops in DataLoader workers with the same geometry as the runtime, and the estimator batches them, runs the
flip test and decodes with the eval codec. Same image, box and weights -> identical keypoints (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose.codecs.heatmap import CODECS, HeatmapCodec
from edgepose.config import from_dict
from edgepose.data.topdown import TopdownDataConfig, TopdownDataset, build_topdown_dataset, worker_init_fn
from edgepose.engine.config import ExperimentConfig, resolve_path
from edgepose.engine.logging import progress_bar
from edgepose.engine.predict import TorchNetwork
from edgepose.errors import ConfigError
from edgepose.evaluation.coco import evaluate_keypoints, postprocess_instances, write_results
from edgepose.evaluation.pckh import format_pckh, pckh_metrics
from edgepose.keypoints import KeypointSpec
from edgepose.losses import JointsMSELoss
from edgepose.meta import ModelInfo, info_of
from edgepose.models.weights import unwrap_model
from edgepose.runtime.estimator import PoseEstimator

log = logging.getLogger(__name__)


@dataclass
class TopdownEvalConfig:
    """The ``eval:`` section of a top-down experiment (defaults: SimpleBaseline/HRNet test settings)."""

    flip_test: bool = True
    use_gt_boxes: bool = True  # False: crops come from det_file (COCO only)
    det_file: str | None = None  # COCO detection results [{image_id, bbox, score, category_id}]
    det_score_threshold: float = 0.0  # IMAGE_THRE
    oks_nms_threshold: float = 0.9  # OKS_THRE
    in_vis_threshold: float = 0.2  # IN_VIS_THRE
    rescore: bool = True  # instance score = box score x mean of joint maxvals above in_vis_threshold
    nms: bool = True  # OKS-NMS per image
    codec: str | None = None  # decoder: msra | dark; None = the data codec
    sigma: float | None = None  # None = data.sigma
    shift_heatmap: bool | None = None  # flip-test shift; None = codec default (yes)
    batch_size: int | None = None  # None = train.batch_size

    def __post_init__(self) -> None:
        if self.codec is not None and self.codec not in CODECS:
            raise ConfigError(f"config key 'eval.codec': {self.codec!r} is not one of {', '.join(CODECS)}")
        if not self.use_gt_boxes and not self.det_file:
            raise ConfigError("config key 'eval.det_file' is required when eval.use_gt_boxes is false")
        for key in ("oks_nms_threshold", "in_vis_threshold"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"config key 'eval.{key}': {getattr(self, key)!r} must be in [0, 1]")
        if self.sigma is not None and self.sigma <= 0:
            raise ConfigError(f"config key 'eval.sigma': {self.sigma!r} must be > 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"config key 'eval.batch_size': {self.batch_size!r} must be >= 1")


def _check_shape(heatmaps: torch.Tensor, codec: HeatmapCodec, num_keypoints: int) -> None:
    expected = (num_keypoints, *codec.heatmap_size)
    if tuple(heatmaps.shape[1:]) != expected:
        raise ConfigError(
            f"the model outputs heatmaps of shape {tuple(heatmaps.shape[1:])} but the data section expects "
            f"{expected} (num_keypoints, input_size / heatmap_stride)"
        )


def _prediction(meta: dict[str, np.ndarray], i: int, coords: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The evaluation record of crop ``i`` of a batch: its keypoints (x, y, score) and the crop's metadata."""
    return {
        "index": int(meta["index"][i]),
        "image_id": int(meta["image_id"][i]),
        "keypoints": np.concatenate([coords, scores[:, None]], axis=1),
        "box_score": float(meta["score"][i]),
        "area": float(meta["area"][i]),
        "center": meta["center"][i].astype(np.float64),
        "scale": meta["scale"][i].astype(np.float64),
        "gt_joints": meta["joints"][i].astype(np.float64),
        "pck_norm": float(meta["norm_length"][i]),  # the PCK normaliser: MPII's head size, LSP's torso length
    }


class TopdownTask:
    """The :class:`edgepose.engine.task.Task` of top-down pose estimation (see the module docstring)."""

    collate_fn = None
    worker_init_fn = staticmethod(worker_init_fn)

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.cfg = cfg
        self.data = from_dict(TopdownDataConfig, cfg.data or {}, prefix="data.")
        self.eval_cfg = from_dict(TopdownEvalConfig, cfg.eval or {}, prefix="eval.")
        if not self.eval_cfg.use_gt_boxes and self.data.dataset != "coco":
            raise ConfigError("config key 'eval.use_gt_boxes': detector boxes are only supported for COCO")
        self.spec: KeypointSpec = self.data.keypoint_spec
        self.primary_metric = {"coco": "AP", "mpii": "PCKh", "lspet": "PCK@0.2"}[self.data.dataset]
        self.codec = self.data.make_codec()
        self.eval_codec = HeatmapCodec(
            input_size=tuple(self.data.input_size),
            sigma=self.eval_cfg.sigma or self.data.sigma,
            kind=self.eval_cfg.codec or self.data.codec,
            stride=self.data.heatmap_stride,
            shift_flip=self.eval_cfg.shift_heatmap,
        )
        self.criterion = JointsMSELoss(use_target_weight=True)

    # --------------------------------------------------------------------------------------- building
    def _path(self, key: str, value: str | None) -> Path:
        if not value:
            raise ConfigError(f"config key {key!r} is required")
        return resolve_path(self.cfg, value)

    def build_model(self) -> nn.Module:
        """The model of ``model:``, born with this task's metadata: the dataset's keypoint set, ``data.input_size``
        (stated once: a ``model.overrides.input_size`` that differs is refused) and the eval decoder."""
        from edgepose.models import build_model, model_options

        if not self.cfg.model.name:
            raise ConfigError("config key 'model.name' is required")
        overrides = dict(self.cfg.model.overrides or {})
        k = overrides.pop("num_keypoints", self.spec.num_keypoints)
        if k != self.spec.num_keypoints:
            raise ConfigError(
                f"config key 'model.overrides.num_keypoints': {k} does not match the {self.spec.name} "
                f"dataset's {self.spec.num_keypoints} keypoints"
            )
        size = [int(v) for v in self.data.input_size]
        if "input_size" in overrides and [int(v) for v in overrides["input_size"]] != size:
            raise ConfigError(
                f"config key 'model.overrides.input_size': {list(overrides['input_size'])} differs from "
                f"data.input_size {size}; state the input size once, in data.input_size"
            )
        if "input_size" in model_options(self.cfg.model.name):
            overrides["input_size"] = tuple(size)
        return build_model(self.cfg.model.name, keypoints=self.spec, codec=self.eval_codec.kind, **overrides)

    def train_dataset(self) -> TopdownDataset:
        if self.data.pipeline == "device":  # the records of the uint8 store, built when missing (docs/gpu.md)
            from edgepose.engine.device_batches import device_train_dataset

            return device_train_dataset(self)
        return build_topdown_dataset(
            self.data,
            "train",
            ann=self._path("data.train_ann", self.data.train_ann),
            images=self._path("data.train_images", self.data.train_images),
            codec=self.codec,
        )

    def val_dataset(self) -> TopdownDataset:
        e = self.eval_cfg
        det = None if e.use_gt_boxes else self._path("eval.det_file", e.det_file)
        return build_topdown_dataset(
            self.data,
            "val",
            ann=self._path("data.val_ann", self.data.val_ann),
            images=self._path("data.val_images", self.data.val_images),
            det_file=det,
            det_score_threshold=e.det_score_threshold,
            codec=self.codec,
        )

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]] | None:
        return None

    # ------------------------------------------------------------------------------------------- loss
    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        output = model(batch["image"])
        outputs = list(output) if isinstance(output, (list, tuple)) else [output]
        target, weight = batch["target"], batch["target_weight"]
        _check_shape(outputs[-1], self.codec, self.spec.num_keypoints)
        if self.cfg.train.teacher:  # knowledge distillation: the teacher's heatmaps mixed into the targets
            from edgepose.engine.distill import distiller_for

            target, weight = distiller_for(self, model).targets(batch["image"], target.float(), weight)
        total = outputs[0].new_zeros(())
        for out in outputs:
            total = total + self.criterion(out.float(), target.float(), weight)
        return total, {"heatmap_mse": float(total.detach())}

    # ------------------------------------------------------------------------------------- evaluation
    def estimator(self, model: nn.Module, device: torch.device | str = "cpu") -> PoseEstimator:
        """The runtime's predictor over ``model`` with this config's eval codec, flip test and batch size."""
        info = self.model_info(model)
        return PoseEstimator(
            TorchNetwork(model, info, device),
            info,
            codec=self.eval_codec,
            flip_test=self.eval_cfg.flip_test,
            batch_size=self.eval_cfg.batch_size or self.cfg.train.batch_size,
        )

    def model_info(self, model: nn.Module) -> ModelInfo:
        """The metadata evaluation runs ``model`` with: the model's own (which must match this config's keypoint
        set and input size), with the eval decoder. A network without metadata is refused (info_of)."""
        info = info_of(unwrap_model(model))
        if info.keypoint_spec != self.spec or info.input_size != self.eval_codec.input_size:
            raise ConfigError(
                f"model {info.model_name} was built for {info.keypoints} keypoints at {list(info.input_size)}, "
                f"the config evaluates {self.spec.name} at {list(self.eval_codec.input_size)}"
            )
        return info.replace(codec=self.eval_codec.kind)

    @torch.no_grad()
    def predict_dataset(
        self, model: nn.Module, dataset: TopdownDataset, *, device: torch.device, rank: int = 0, world_size: int = 1
    ) -> list[dict[str, Any]]:
        """This rank's share (index % world_size == rank) of the dataset, predicted by :meth:`estimator`."""
        from torch.utils.data import DataLoader, Subset

        indices = list(range(rank, len(dataset), world_size))
        if not indices:
            return []
        loader = DataLoader(
            Subset(dataset, indices),
            batch_size=self.eval_cfg.batch_size or self.cfg.train.batch_size,
            shuffle=False,
            num_workers=self.cfg.train.workers,
            worker_init_fn=worker_init_fn if self.cfg.train.workers else None,
        )
        was_training = model.training
        estimator = self.estimator(model, device)
        preds: list[dict[str, Any]] = []
        try:
            for batch in progress_bar(loader, desc="validation", unit="batch"):
                meta = {k: (v.cpu().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in batch["meta"].items()}
                coords, scores = estimator.predict_crops(batch["image"].numpy(), meta["center"], meta["scale"])
                preds.extend(_prediction(meta, i, coords[i], scores[i]) for i in range(len(coords)))
        finally:
            model.train(was_training)
        return preds

    def evaluate(
        self,
        model: nn.Module,
        dataset: TopdownDataset,
        *,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        out_dir: Path,
    ) -> dict[str, float]:
        local = self.predict_dataset(model, dataset, device=device, rank=rank, world_size=world_size)
        if world_size > 1:
            from edgepose.engine.distributed import all_gather_object

            gathered = all_gather_object(local)
        else:
            gathered = [local]
        if rank != 0:
            return {}
        preds = sorted((p for part in gathered for p in part), key=lambda p: p["index"])
        out_dir = Path(out_dir)
        if self.data.dataset == "mpii":
            return self._evaluate_mpii(preds, out_dir)
        if self.data.dataset == "lspet":
            return self._evaluate_lsp(preds, out_dir)
        return self._evaluate_coco(preds, out_dir, getattr(dataset, "image_ids", None))

    def _evaluate_coco(
        self, preds: list[dict[str, Any]], out_dir: Path, image_ids: Sequence[int] | None = None
    ) -> dict[str, float]:
        e = self.eval_cfg
        results = postprocess_instances(
            preds,
            in_vis_threshold=e.in_vis_threshold,
            oks_threshold=e.oks_nms_threshold,
            rescoring=e.rescore,
            nms=e.nms,
        )
        path = write_results(results, out_dir / "keypoints_val_results.json")
        if self.data.max_images is None:
            image_ids = None  # the whole annotation file, as the official evaluation
        res = evaluate_keypoints(self._path("data.val_ann", self.data.val_ann), results, image_ids=image_ids)
        log.info("COCO keypoint evaluation (%d results -> %s):\n%s", len(results), path, res.summary)
        return dict(res.metrics)

    def _evaluate_lsp(self, preds: list[dict[str, Any]], out_dir: Path) -> dict[str, float]:
        """PCK@0.2 / PCK@0.1 / AUC against the torso diameter; per-joint PCK@0.2 as ``PCK@0.2/<joint>``."""
        from edgepose.evaluation.pck import format_pck, pck_metrics

        pred = np.stack([p["keypoints"][:, :2] for p in preds])
        gt = np.stack([p["gt_joints"] for p in preds])
        torso = np.array([p["pck_norm"] for p in preds])
        m = pck_metrics(pred, gt[..., :2], gt[..., 2] > 0, torso, self.spec.names)
        log.info("LSP PCK (%d people):\n%s", len(preds), format_pck(m))
        self._write_keypoints(preds, out_dir)
        flat = {k: float(v) for k, v in m.items() if k != "per_joint"}
        flat.update({f"PCK@0.2/{name}": v for name, v in m["per_joint"].items()})
        return flat

    @staticmethod
    def _write_keypoints(preds: list[dict[str, Any]], out_dir: Path) -> None:
        import json

        from edgepose.config import atomic_write_text

        atomic_write_text(
            out_dir / "keypoints_val_results.json",
            json.dumps(
                [{"index": p["index"], "image_id": p["image_id"], "keypoints": p["keypoints"].tolist()} for p in preds]
            ),
        )

    def _evaluate_mpii(self, preds: list[dict[str, Any]], out_dir: Path) -> dict[str, float]:
        pred = np.stack([p["keypoints"][:, :2] for p in preds])
        gt = np.stack([p["gt_joints"] for p in preds])
        head = np.array([p["pck_norm"] for p in preds])
        metrics = pckh_metrics(pred, gt[..., :2], gt[..., 2] > 0, head)
        log.info("MPII PCKh:\n%s", format_pckh(pred, gt[..., :2], gt[..., 2] > 0, head))
        self._write_keypoints(preds, out_dir)
        return metrics


__all__ = ["TopdownEvalConfig", "TopdownTask"]
