"""The bottom-up task (cross-fusion network, Lightweight OpenPose) for the training engine.

:class:`BottomupTask` owns what the trainer does not know about: the ``data:`` and ``eval:`` sections (validated
into :class:`~edgepose.data.bottomup.BottomupDataConfig` and :class:`BottomupEvalConfig`), the main-person
training crops with heatmap/PAF targets and masks, the loss (chosen by the model's ``loss_family``:
:class:`~edgepose.losses.CrossFusionLoss` for the cross-fusion nets, :class:`~edgepose.losses.LwopLoss` for
Lightweight OpenPose), LWOP's parameter groups (lr x1/x2 for the backbone and Cpm, x4/x8 for the fusion or
refinement stages, no weight decay on biases, BN and depth-wise weights) and the COCO evaluation of whole images.

Evaluation predicts with the runtime's :class:`~edgepose.runtime.estimator.PoseEstimator` over the model
(:func:`predict_poses`), the object ``edgepose predict`` runs: scale to ``eval.height``, pad to the stride,
optional flip and scales, decode with the eval :class:`~edgepose.codecs.paf.PafCodec`, then COCOeval. The two
differ only in settings: evaluation uses the config's codec (LWOP's x8 upsampling by default), ``edgepose
predict`` the runtime's faster default (x4, PAFs sampled bilinearly).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgepose.codecs.paf import PafCodec, PafPoses
from edgepose.codecs.paf_decode import find_peaks
from edgepose.config import from_dict
from edgepose.data.bottomup import BottomupDataConfig, BottomupDataset, BottomupValDataset
from edgepose.engine.config import ExperimentConfig, resolve_path
from edgepose.engine.logging import progress_bar
from edgepose.engine.predict import TorchNetwork, final_maps
from edgepose.errors import ConfigError
from edgepose.evaluation.coco import MAIN_STATS, evaluate_keypoints, write_results
from edgepose.evaluation.oracle_bottomup import poses_to_records
from edgepose.keypoints import coco_to_openpose, openpose_to_coco
from edgepose.losses import CrossFusionLoss, LwopLoss
from edgepose.meta import info_of
from edgepose.models.weights import unwrap_model
from edgepose.runtime.estimator import PoseEstimator

log = logging.getLogger(__name__)

_CODEC_FIELDS = {f.name for f in fields(PafCodec)} - {"stride", "sigma", "paf_thickness"}
LOSS_FAMILIES = ("crossfusion", "openpose")


@dataclass
class BottomupEvalConfig:
    """The ``eval:`` section of a bottom-up experiment (defaults: LWOP's single-scale COCO evaluation)."""

    height: int = 368  # images are scaled to this input height, width padded to the stride
    scales: list[float] = field(default_factory=lambda: [1.0])  # multi-scale: e.g. [0.5, 1.0, 1.5, 2.0]
    upsample: int = 8  # maps upsampled x8 (LWOP val.py) or x4 (LWOP demo, faster) before peak finding
    flip_test: bool = False  # average with the mirrored image's maps
    decoder: str = "default"  # default | lwop (Lightweight OpenPose's grouping, unchanged)
    codec: dict[str, Any] = field(default_factory=dict)  # PafCodec decode overrides, e.g. {min_keypoints: 2}
    max_images: int | None = None  # evaluate only the first N images (smoke runs)

    def __post_init__(self) -> None:
        if self.height < 8:
            raise ConfigError(f"config key 'eval.height': {self.height!r} must be >= 8")
        if not self.scales or any(s <= 0 for s in self.scales):
            raise ConfigError(f"config key 'eval.scales': {self.scales!r} must be positive numbers")
        if self.upsample not in (1, 2, 4, 8):
            raise ConfigError(f"config key 'eval.upsample': {self.upsample!r} must be 1, 2, 4 or 8")
        if self.decoder not in ("default", "lwop"):
            raise ConfigError(f"config key 'eval.decoder': {self.decoder!r} must be 'default' or 'lwop'")
        unknown = set(self.codec) - _CODEC_FIELDS
        if unknown:
            raise ConfigError(
                f"unknown config key 'eval.codec.{sorted(unknown)[0]}'; "
                f"known keys here: {', '.join(sorted(_CODEC_FIELDS))}"
            )
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError(f"config key 'eval.max_images': {self.max_images!r} must be >= 1 or null")

    def make_codec(self, data: BottomupDataConfig) -> PafCodec:
        base = PafCodec.lwop() if self.decoder == "lwop" else PafCodec()
        return replace(
            base, stride=data.stride, sigma=data.sigma, paf_thickness=data.paf_thickness, upsample=self.upsample,
            **self.codec,
        )  # fmt: skip


# ------------------------------------------------------------------------------------------- helpers
def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def loss_family(model: nn.Module) -> str:
    """The model's ``loss_family`` attribute (``"crossfusion"`` or ``"openpose"``).

    Models that do not declare one fall back to their outputs: heat_u*/paf_u*/heat_v*/paf_v* names (or, with
    ``final_only``, a class named CrossFusion*) are the cross-fusion family, anything else is OpenPose's.
    """
    net = _unwrap(model)
    family = getattr(net, "loss_family", None)
    if isinstance(family, str):
        if family not in LOSS_FAMILIES:
            raise ConfigError(
                f"model {type(net).__name__} has loss_family {family!r}; known: {', '.join(LOSS_FAMILIES)}"
            )
        return family
    if getattr(net, "final_only", False):
        return "crossfusion" if type(net).__name__.lower().startswith("crossfusion") else "openpose"
    names = getattr(net, "output_names", None) or []
    return "crossfusion" if any(str(n).startswith("heat_u") for n in names) else "openpose"


def is_cross_fusion(model: nn.Module) -> bool:
    """True for the cross-fusion family (:func:`loss_family`)."""
    return loss_family(model) == "crossfusion"


def lwop_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]] | None:
    """LWOP's parameter groups (see :func:`edgepose.models.openpose_blocks.param_groups`) as ``lr_mult`` groups;
    ``None`` for models without ``parts()`` (one plain group)."""
    model = _unwrap(model)
    if not hasattr(model, "parts"):
        return None
    from edgepose.models.openpose_blocks import param_groups

    groups = []
    for g in param_groups(model, base_lr=1.0, weight_decay=weight_decay):
        g = dict(g)
        g["lr_mult"] = float(g.pop("lr"))
        groups.append(g)
    return groups


# ---------------------------------------------------------------------------------------------- inference
def bottomup_estimator(
    model: nn.Module,
    codec: PafCodec,
    *,
    height: int = 368,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    device: torch.device | str = "cpu",
) -> PoseEstimator:
    """The runtime's :class:`PoseEstimator` over a bottom-up PyTorch ``model`` with these decoder settings."""
    info = info_of(unwrap_model(model))
    if codec.stride != info.stride:
        raise ConfigError(f"the decoder's stride {codec.stride} is not model {info.model_name}'s {info.stride}")
    info = info.replace(input_size=(int(height), int(height)))
    return PoseEstimator(TorchNetwork(model, info, device), info, codec=codec, height=height, scales=scales,
                         bottomup_flip=flip)  # fmt: skip


def predict_poses(
    model: nn.Module,
    image_bgr_uint8: np.ndarray,
    *,
    height: int = 368,
    scales: Sequence[float] = (1.0,),
    codec: PafCodec | None = None,
    device: torch.device | str = "cpu",
    flip: bool = False,
) -> PafPoses:
    """Decoded :class:`PafPoses` of one BGR uint8 image in *image* pixels (pixel centres), all scales averaged.

    Runs :meth:`PoseEstimator.bottomup_poses` (the predictor of ``edgepose predict``) over ``model``; the
    model's training mode is restored afterwards.
    """
    codec = codec or PafCodec(upsample=4, paf_sampling="bilinear")
    was_training = model.training
    try:
        return bottomup_estimator(model, codec, height=height, scales=scales, flip=flip, device=device).bottomup_poses(
            image_bgr_uint8
        )
    finally:
        model.train(was_training)


def predict_bottomup(
    model: nn.Module,
    image_bgr_uint8: np.ndarray,
    *,
    height: int = 368,
    upsample: int = 4,
    scales: Sequence[float] = (1.0,),
    device: torch.device | str = "cpu",
    codec: PafCodec | None = None,
    flip: bool = False,
) -> list[tuple[np.ndarray, float]]:
    """Persons in one BGR uint8 image: ``[(keypoints (17, 3), score), ...]``, best first (:func:`predict_poses`).

    Keypoints are COCO-17 ``(x, y, peak score)`` in image pixels, COCO's continuous convention (the same values
    as the evaluation's results file); a keypoint that was not found is ``(0, 0, 0)``. ``score`` is LWOP's
    person score (sum of peak and limb scores x (keypoints - 1)). ``upsample`` is the heatmap upsampling factor
    (4: LWOP's demo, fast; 8: LWOP's evaluation), ``scales`` multiplies ``height`` (averaged maps). The default
    codec samples the PAFs bilinearly at stride 8 instead of upsampling them (same oracle AP, ~2x faster).
    """
    codec = replace(codec or PafCodec(paf_sampling="bilinear"), upsample=int(upsample))
    poses = predict_poses(model, image_bgr_uint8, height=height, scales=scales, codec=codec, device=device, flip=flip)
    kps, scores = poses.to_coco(codec.coco_offset)  # (P, 17, 3) with v = 1 where found
    conf = openpose_to_coco(poses.keypoints)[..., 2] if len(poses) else np.zeros(kps.shape[:2])
    kps[..., 2] = np.where(kps[..., 2] > 0, conf, 0.0)
    order = np.argsort(-scores, kind="stable")
    return [(kps[i], float(scores[i])) for i in order]


@torch.no_grad()
def keypoint_peak_stats(
    model: nn.Module,
    dataset: BottomupValDataset,
    *,
    height: int = 368,
    codec: PafCodec | None = None,
    max_images: int | None = None,
    radius: float = 8.0,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Recall and precision of the heatmap peaks (before grouping) against the labelled keypoints, in input px.

    A finer learning signal than AP for short runs: a ground-truth keypoint is found when an unmatched peak of
    its type lies within ``radius`` input pixels. Returns ``recall``, ``precision``, ``tp``, ``fn``, ``fp``.
    """
    codec = codec or PafCodec(upsample=4)
    tp = fn = fp = 0
    was_training = model.training
    estimator = bottomup_estimator(model, codec, height=height, device=device)
    try:
        n = len(dataset) if max_images is None else min(len(dataset), max_images)
        for i in range(n):
            item = dataset[i]
            heat, _, (sx, sy), valid = estimator.bottomup_maps(item["image"])
            peaks = find_peaks(
                codec.upsample_maps(heat[:18], codec.upsample, valid),
                threshold=codec.peak_threshold,
                radius=codec.nms_radius,
                to_input=codec.to_input(codec.upsample),
            )
            people = [p for p in dataset.coco.persons[item["image_id"]] if not p.iscrowd and p.num_keypoints > 0]
            gt = np.zeros((0, 18, 3))
            if people:
                kp = np.stack([p.keypoints for p in people]).astype(np.float64)
                kp[..., 0] = (kp[..., 0] - codec.coco_offset + 0.5) * sx - 0.5
                kp[..., 1] = (kp[..., 1] - codec.coco_offset + 0.5) * sy - 0.5
                gt = coco_to_openpose(kp)
            for k in range(gt.shape[1] if len(gt) else 18):
                idx = peaks.of_kind(k)
                matched: set[int] = set()
                for gx, gy, v in gt[:, k] if len(gt) else ():
                    if v <= 0:
                        continue
                    d = np.hypot(peaks.x[idx] - gx, peaks.y[idx] - gy) if idx.size else np.zeros(0)
                    free = [j for j in np.argsort(d) if d[j] < radius and int(idx[j]) not in matched]
                    if free:
                        matched.add(int(idx[free[0]]))
                        tp += 1
                    else:
                        fn += 1
                fp += int(idx.size) - len(matched)
    finally:
        model.train(was_training)
    return {
        "recall": tp / max(tp + fn, 1),
        "precision": tp / max(tp + fp, 1),
        "tp": float(tp),
        "fn": float(fn),
        "fp": float(fp),
    }


# --------------------------------------------------------------------------------------------------- task
class BottomupTask:
    """The :class:`edgepose.engine.task.Task` of bottom-up pose estimation (see the module docstring)."""

    primary_metric = "AP"
    collate_fn = None

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.cfg = cfg
        data = dict(cfg.data or {})
        # data.param_groups: "lwop" (default: LWOP's lr multipliers, tuned for lr 4e-5) | "uniform" (one group,
        # lr x1 everywhere, weight decay as LWOP's groups: none on biases/BN/depth-wise). Short runs at lr ~1e-3
        # train better uniform: the x4/x8 stage multipliers make the fusion stages' steps too large.
        self.param_group_mode = str(data.pop("param_groups", "lwop"))
        if self.param_group_mode not in ("lwop", "uniform"):
            raise ConfigError(f"config key 'data.param_groups': {self.param_group_mode!r} must be 'lwop' or 'uniform'")
        self.data = from_dict(BottomupDataConfig, data, prefix="data.")
        self.eval_cfg = from_dict(BottomupEvalConfig, cfg.eval or {}, prefix="eval.")
        self.codec = self.eval_cfg.make_codec(self.data)
        self._synth_paths: dict[str, str] | None = None

    # --------------------------------------------------------------------------------------- building
    def _synthetic(self) -> dict[str, str] | None:
        """Generate (once, cached on disk) the synthetic dataset of ``data.synthetic``; its paths."""
        if not self.data.synthetic:
            return None
        if self._synth_paths is None:
            from edgepose.data.synthetic import SynthConfig, ensure_dataset

            opts = dict(self.data.synthetic)
            out = opts.pop("dir", None)
            if not out:
                raise ConfigError("config key 'data.synthetic.dir' is required (where the dataset is written)")
            synth = from_dict(SynthConfig, opts, prefix="data.synthetic.")
            info = ensure_dataset(resolve_path(self.cfg, out), synth)
            if "val" not in info["annotations"]:
                raise ConfigError("config key 'data.synthetic.val_fraction' must be > 0 (a val split is needed)")
            self._synth_paths = {
                "train_ann": info["annotations"]["train"],
                "val_ann": info["annotations"]["val"],
                "images": info["image_dir"],
            }
        return self._synth_paths

    def _path(self, key: str) -> Path:
        value = getattr(self.data, key)
        synth = self._synthetic()
        if not value and synth:
            value = synth["images"] if key.endswith("images") else synth[key]
        if not value:
            raise ConfigError(f"config key 'data.{key}' is required")
        return resolve_path(self.cfg, value)

    def build_model(self) -> nn.Module:
        from edgepose.models import build_model

        if not self.cfg.model.name:
            raise ConfigError("config key 'model.name' is required")
        return build_model(self.cfg.model.name, **dict(self.cfg.model.overrides or {}))

    def train_dataset(self) -> BottomupDataset:
        return BottomupDataset.from_files(self._path("train_ann"), self._path("train_images"), self.data, train=True)

    def val_dataset(self) -> BottomupValDataset:
        max_images = self.eval_cfg.max_images or self.data.max_val_images
        return BottomupValDataset(self._path("val_ann"), self._path("val_images"), max_images)

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]] | None:
        groups = lwop_param_groups(model, self.cfg.train.weight_decay)
        if groups is not None and self.param_group_mode == "uniform":
            for g in groups:
                g["lr_mult"] = 1.0
        return groups

    # ------------------------------------------------------------------------------------------- loss
    def criterion_for(self, model: nn.Module) -> nn.Module:
        """The loss of the model's :func:`loss_family`."""
        return CrossFusionLoss() if loss_family(model) == "crossfusion" else LwopLoss()

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = model(batch["image"])
        if not isinstance(outputs, (list, tuple)):
            raise ConfigError("bottom-up training needs the model's list of stage outputs (final_only must be off)")
        outputs = [o.float() for o in outputs]
        heat, paf, mask = batch["heatmaps"].float(), batch["pafs"].float(), batch["mask"].float()
        if outputs[-2].shape[1:] != heat.shape[1:] or outputs[-1].shape[1:] != paf.shape[1:]:
            raise ConfigError(
                f"the model outputs maps of shape {tuple(outputs[-2].shape[1:])}/{tuple(outputs[-1].shape[1:])} but "
                f"the targets are {tuple(heat.shape[1:])}/{tuple(paf.shape[1:])} (data.input_size / data.stride)"
            )
        total, terms = self.criterion_for(model)(outputs, heat, paf, mask)
        logged = {name: float(v.detach()) for name, v in terms.items()}
        return total, logged

    # ------------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict_dataset(
        self, model: nn.Module, dataset: BottomupValDataset, *, device: torch.device, rank: int = 0, world_size: int = 1
    ) -> list[dict[str, Any]]:
        """COCO result records of this rank's images (index % world_size == rank), predicted by the runtime's
        estimator with the eval codec, height, scales and flip (:func:`predict_poses`)."""
        e = self.eval_cfg
        records: list[dict[str, Any]] = []
        for index in progress_bar(range(rank, len(dataset), world_size), desc="validation", unit="image"):
            item = dataset[index]
            poses = predict_poses(
                model, item["image"], height=e.height, scales=e.scales, codec=self.codec, device=device,
                flip=e.flip_test,
            )  # fmt: skip
            records.extend(poses_to_records(item["image_id"], poses, self.codec))
        return records

    def evaluate(
        self,
        model: nn.Module,
        dataset: BottomupValDataset,
        *,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        out_dir: Path,
    ) -> dict[str, float]:
        local = self.predict_dataset(_unwrap(model), dataset, device=device, rank=rank, world_size=world_size)
        if world_size > 1:
            from edgepose.engine.distributed import all_gather_object

            gathered = all_gather_object(local)
        else:
            gathered = [local]
        if rank != 0:
            return {}
        records = sorted((r for part in gathered for r in part), key=lambda r: (r["image_id"], -r["score"]))
        path = write_results(records, Path(out_dir) / "keypoints_val_results.json")
        image_ids = list(dataset.image_ids) if len(dataset.image_ids) < len(dataset.coco.images) else None
        res = evaluate_keypoints(dataset.ann_path, records, image_ids=image_ids)
        log.info("COCO keypoint evaluation (%d results -> %s):\n%s", len(records), path, res.summary)
        return {k: float(res.metrics[k]) for k in MAIN_STATS}


__all__ = [
    "BottomupEvalConfig",
    "BottomupTask",
    "bottomup_estimator",
    "final_maps",
    "is_cross_fusion",
    "keypoint_peak_stats",
    "loss_family",
    "lwop_param_groups",
    "predict_bottomup",
    "predict_poses",
]
