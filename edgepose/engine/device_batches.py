"""Device-resident top-down training batches (``data.pipeline: device``) and the fast-path options of training.

Why: on a GPU the CPU data loader (read, decode, warp and encode each item in worker processes) is what usually
holds training back. Here the training images are decoded once from a compact uint8 store
(:mod:`edgepose.data.device_store`) into one tensor on the device, and each batch is made there:

1. augmentation parameters drawn for the whole batch from one ``torch.Generator`` (CPU, a few numbers per item):
   scale ``clip(N*sf + 1, 1-sf, 1+sf)``, rotation ``clip(N*rf, -2rf, 2rf)`` (or ``U[-rf, rf]``) with probability
   ``rotation_prob``, a horizontal flip with probability 0.5, and optional colour jitter (brightness, contrast,
   saturation in ``[1-c, 1+c]``, ``data.device_pipeline.color_jitter``; off by default, the loader has none);
2. the crop affine of :mod:`edgepose.geometry` (the three-point similarity of ``get_affine_transform``, written
   in closed form for a batch), composed with the flip and with the store's resize, and the crops cut with
   ``affine_grid`` / ``grid_sample`` (bilinear, zero border, ``align_corners=True``: pixel centres at integers,
   the convention of ``cv2.warpAffine``);
3. the joints mapped with the same matrices and encoded by :func:`encode_heatmaps`, the MSRA / DARK Gaussians of
   :class:`~edgepose.codecs.heatmap.HeatmapCodec` vectorised in torch (same integer centre and window rules).

The result matches the loader's items (tests/engine/test_device_batches.py: heatmap argmax positions, weights and
crop pixels, with augmentation off and with fixed augmentation parameters). Half-body crops are not supported on
this path (a config error says so).

Resuming stays exact: the trainer re-seeds ``loader.generator`` from (seed, epoch, rank) at the start of every
epoch and the order comes from ``sampler.set_epoch`` (the permutation of the loader path's sampler), so an epoch's
batches are a function of (seed, epoch, rank) alone, and checkpoints fall on epoch ends.

The fast-path options live here too, applied by :func:`fast_path_loader` (the trainer's one hook, in
``attach_loader``): ``train.compile`` (``torch.compile`` of the training forward; a failure to compile stops with
one line) and ``train.amp_dtype: bfloat16`` (the forward under bf16 autocast, on CUDA or on CPU, when
``train.amp`` is on). ``train.channels_last`` is the trainer's own; batches made here are NHWC when it is set.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgepose.codecs.heatmap import HeatmapCodec
from edgepose.config import from_dict
from edgepose.data.device_store import FORMATS, StoreIndex, build_store, load_store, store_key
from edgepose.data.topdown import TopdownDataConfig, TopdownDataset, build_topdown_dataset, record_crop
from edgepose.engine.config import default_output_dir, resolve_path
from edgepose.engine.logging import progress_bar, say
from edgepose.errors import ConfigError, TrainingError
from edgepose.geometry import IMAGENET_MEAN, IMAGENET_STD, PIXEL_STD

__all__ = [
    "AugmentParams",
    "DeviceBatches",
    "DevicePipelineConfig",
    "crop_matrices",
    "device_train_dataset",
    "draw_augment",
    "encode_heatmaps",
    "fast_path_loader",
]


@dataclass
class DevicePipelineConfig:
    """``data.device_pipeline``: where the store is and how it is encoded; colour jitter of the device path."""

    store: str | None = None  # the .npz; None: <output folder>/../device_store/<dataset>_<key>.npz (shared cache)
    max_side: int | None = 192  # downscale images whose long side exceeds this (None: keep every pixel)
    quality: int = 60  # WebP / JPEG quality (ignored for png)
    format: str = "webp"  # webp | jpg | png (lossless)
    color_jitter: float = 0.0  # brightness, contrast and saturation factors in [1-c, 1+c]
    decode_threads: int | None = None  # threads decoding the store (default: up to 16)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> ConfigError:
            return ConfigError(f"config key 'data.device_pipeline.{key}': {getattr(self, key)!r} {why}")

        if self.format not in FORMATS:
            raise bad("format", f"is not one of {', '.join(FORMATS)}")
        if self.max_side is not None and self.max_side < 16:
            raise bad("max_side", "must be >= 16 or null")
        if not 1 <= self.quality <= 100:
            raise bad("quality", "must be in [1, 100]")
        if not 0 <= self.color_jitter < 1:
            raise bad("color_jitter", "must be in [0, 1)")


def pipeline_options(data: TopdownDataConfig) -> DevicePipelineConfig:
    return from_dict(DevicePipelineConfig, dict(data.device_pipeline or {}), prefix="data.device_pipeline.")


def _store_options(data: TopdownDataConfig, opts: DevicePipelineConfig) -> dict[str, Any]:
    """What a store's content depends on (not where the data folder is: a store travels to other machines)."""
    keep = ("dataset", "max_images", "min_keypoints", "train_boxes", "val_range")
    return {**{k: getattr(data, k) for k in keep}, "max_side": opts.max_side, "quality": opts.quality,
            "format": opts.format}  # fmt: skip


def store_path(task: Any) -> Path:
    """The store of a top-down task: ``data.device_pipeline.store`` or the shared cache beside the output folder."""
    opts = pipeline_options(task.data)
    if opts.store:
        return resolve_path(task.cfg, opts.store)
    out = default_output_dir(task.cfg).resolve()
    key = store_key(_store_options(task.data, opts))
    return out.parent / "device_store" / f"{task.data.dataset}_{key}.npz"


def ensure_store(task: Any, progress: bool = True) -> StoreIndex:
    """The task's store, built from its training data when missing or made with other options."""
    opts = pipeline_options(task.data)
    path = store_path(task)
    key = store_key(_store_options(task.data, opts))
    if path.is_file():
        index = load_store(path)
        if index.meta.get("key") == key:
            return index
        say(f"device store {path} was built with other data options: rebuilding it", progress)
    data = task.data
    if not data.train_ann or not data.train_images:
        raise ConfigError("config keys 'data.train_ann' and 'data.train_images' are required to build the device store")
    files = build_topdown_dataset(
        data, "train", ann=resolve_path(task.cfg, data.train_ann), images=resolve_path(task.cfg, data.train_images),
        codec=task.codec,
    )  # fmt: skip
    bar = lambda it, n: progress_bar(it, enabled=progress, total=n, desc="device store", unit="image")  # noqa: E731
    build_store(files.records, path, max_side=opts.max_side, quality=opts.quality, fmt=opts.format, key=key,
                threads=opts.decode_threads, progress=bar)  # fmt: skip
    index = load_store(path)
    say(f"device store: {len(index)} images, {index.nbytes / 1e6:.1f} MB -> {path}", progress)
    return index


def device_train_dataset(task: Any, progress: bool = True) -> TopdownDataset:
    """The training set of ``data.pipeline: device``: the store's records (no image file is read; the store is
    built first when missing). ``device_store`` names the store for :func:`fast_path_loader`."""
    if task.data.half_body_prob > 0:
        raise ConfigError("config key 'data.half_body_prob': half-body crops are not supported with data.pipeline: "
                          "device (set it to 0 or use the loader pipeline)")  # fmt: skip
    index = ensure_store(task, progress)
    ds = TopdownDataset(index.records(), task.codec, task.spec, train=True, cfg=task.data, source=index.path,
                        check_images=False)  # fmt: skip
    ds.device_store = index.path  # type: ignore[attr-defined]
    return ds


# ----------------------------------------------------------------------------------------------- geometry
def crop_matrices(
    center: torch.Tensor, scale: torch.Tensor, rot: torch.Tensor, size_wh: tuple[int, int]
) -> torch.Tensor:
    """``(B, 2, 3)`` image -> crop affines of :func:`edgepose.geometry.get_affine_transform` (no shift), batched.

    The three-point construction is a similarity: zoom ``k = out_w / (scale_x * 200)``, rotation by ``-rot``
    degrees, and the centre sent to the middle of the crop.
    """
    k = float(size_wh[0]) / (scale[:, 0] * PIXEL_STD)
    a = rot * (math.pi / 180.0)
    cs, sn = torch.cos(a) * k, torch.sin(a) * k
    tx = size_wh[0] * 0.5 - (cs * center[:, 0] + sn * center[:, 1])
    ty = size_wh[1] * 0.5 - (-sn * center[:, 0] + cs * center[:, 1])
    return torch.stack([torch.stack([cs, sn, tx], 1), torch.stack([-sn, cs, ty], 1)], 1)


def _homogeneous(m: torch.Tensor) -> torch.Tensor:
    bottom = torch.zeros(m.shape[0], 1, 3, dtype=m.dtype, device=m.device)
    bottom[:, 0, 2] = 1.0
    return torch.cat([m, bottom], 1)


def encode_heatmaps(joints: torch.Tensor, codec: HeatmapCodec) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K, 3)`` crop joints (x, y, v) -> targets ``(B, K, h, w)`` float32 and weights ``(B, K, 1)``: the
    :meth:`HeatmapCodec.encode` of every person at once (MSRA: the integer centre ``int(x / stride + 0.5)`` and a
    ``±int(3σ)`` window; DARK: the sub-pixel centre and the window ``[int(x - 3σ), int(x + 3σ + 1))``; weight 0
    for unlabelled joints and for windows that miss the heatmap)."""
    hh, hw = codec.heatmap_size
    sx, sy = (float(v) for v in codec.feat_stride)
    x = joints[..., 0].double() / sx
    y = joints[..., 1].double() / sy
    r = codec.sigma * 3
    if codec.kind == "msra":
        cx, cy = torch.trunc(x + 0.5), torch.trunc(y + 0.5)
        x0, y0, x1, y1 = cx - int(r), cy - int(r), cx + int(r) + 1, cy + int(r) + 1
    else:
        cx, cy = x, y
        x0, y0, x1, y1 = torch.trunc(x - r), torch.trunc(y - r), torch.trunc(x + r + 1), torch.trunc(y + r + 1)
    weight = (joints[..., 2] > 0) & (x0 < hw) & (y0 < hh) & (x1 > 0) & (y1 > 0)
    xs = torch.arange(hw, device=joints.device, dtype=torch.float64)
    ys = torch.arange(hh, device=joints.device, dtype=torch.float64)
    mx = (xs >= x0[..., None]) & (xs < x1[..., None])  # (B, K, w)
    my = (ys >= y0[..., None]) & (ys < y1[..., None])  # (B, K, h)
    gx = torch.exp(-((xs - cx[..., None]) ** 2) / (2 * codec.sigma**2)) * mx
    gy = torch.exp(-((ys - cy[..., None]) ** 2) / (2 * codec.sigma**2)) * my
    target = (gy[..., :, None] * gx[..., None, :]) * weight[..., None, None]
    return target.float(), weight.float()[..., None]


# ------------------------------------------------------------------------------------------- augmentation
@dataclass
class AugmentParams:
    """One batch's augmentation: scale multipliers, rotations (degrees), flips, colour factors ``(B, 3)``."""

    scale: torch.Tensor
    rot: torch.Tensor
    flip: torch.Tensor
    color: torch.Tensor | None = None

    def to(self, device: torch.device) -> AugmentParams:
        color = None if self.color is None else self.color.to(device)
        return AugmentParams(self.scale.to(device), self.rot.to(device), self.flip.to(device), color)

    @staticmethod
    def identity(n: int) -> AugmentParams:
        return AugmentParams(torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64),
                             torch.zeros(n, dtype=torch.bool))  # fmt: skip


def draw_augment(
    n: int, cfg: TopdownDataConfig, generator: torch.Generator, color_jitter: float = 0.0
) -> AugmentParams:
    """The loader's augmentation distributions (module docstring), drawn for ``n`` items at once; every draw is
    made whatever the options, so the stream depends on the generator's state only."""
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    z = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    c = torch.rand(n, 3, generator=generator, dtype=torch.float64)
    sf, rf = cfg.scale_factor, cfg.rotation_factor
    scale = torch.clamp(z[:, 0] * sf + 1, 1 - sf, 1 + sf)
    angle = (u[:, 2] * 2 - 1) * rf if cfg.rotation_dist == "uniform" else torch.clamp(z[:, 1] * rf, -2 * rf, 2 * rf)
    rot = torch.where(u[:, 0] <= cfg.rotation_prob, angle, torch.zeros_like(angle))
    flip = (u[:, 1] <= 0.5) & bool(cfg.flip)
    color = 1 + (c * 2 - 1) * color_jitter if color_jitter > 0 else None
    return AugmentParams(scale, rot, flip, color)


def _jitter_colour(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast (around the image mean) and saturation (around the grey level) of ``(B, 3, H, W)``
    images in [0, 255]."""
    f = factors.to(x.dtype)[:, :, None, None, None]
    x = x * f[:, 0]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * f[:, 1] + mean
    grey = (x * x.new_tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    return ((x - grey) * f[:, 2] + grey).clamp(0, 255)


class _EpochOrder:
    """The training order of an epoch: the permutation of the loader path's sampler (seed, epoch), this rank's
    share of it. ``set_epoch`` is what the trainer calls."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.rank, self.world_size, self.epoch = n, seed, rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.n, generator=g)
        total = math.ceil(self.n / self.world_size) * self.world_size  # every rank the same length (DDP steps)
        order = torch.cat([order, order[: total - self.n]]) if total > self.n else order
        return order[self.rank :: self.world_size]


class DeviceBatches:
    """Training batches made on ``device`` from a decoded store (module docstring); the trainer uses it in place
    of a DataLoader (``len``, iteration, ``sampler.set_epoch``, ``generator``)."""

    def __init__(
        self,
        index: StoreIndex,
        canvas: np.ndarray | torch.Tensor,
        data: TopdownDataConfig,
        codec: HeatmapCodec,
        flip_index: Any,
        *,
        batch_size: int,
        seed: int = 0,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        color_jitter: float = 0.0,
    ) -> None:
        self.device = torch.device(device)
        self.data, self.codec, self.batch_size = data, codec, int(batch_size)
        self.channels_last, self.color_jitter = channels_last, float(color_jitter)
        a = index.arrays
        h, w = codec.input_size
        records = index.records()
        if not records:
            raise TrainingError("the training set is empty")
        centers, scales = [], []
        for r, i in zip(records, a["rec_image"]):
            c, s = record_crop(r, int(a["orig_hw"][i, 1]), int(a["orig_hw"][i, 0]), w / h)
            centers.append(c)
            scales.append(s)
        dev = self.device
        f64 = {"dtype": torch.float64, "device": dev}
        self.center = torch.as_tensor(np.stack(centers), **f64)
        self.scale = torch.as_tensor(np.stack(scales), **f64)
        self.joints = torch.as_tensor(a["rec_joints"], **f64)
        self.image = torch.as_tensor(a["rec_image"].astype(np.int64), device=dev)
        orig = torch.as_tensor(a["orig_hw"], **f64)
        stored = torch.as_tensor(a["stored_hw"], **f64)
        self.orig_w = orig[:, 1]
        self.resize = stored[:, [1, 0]] / orig[:, [1, 0]]  # (fx, fy) stored / original pixels per image
        self.canvas = torch.as_tensor(canvas).to(dev)
        self.flip_index = torch.as_tensor(np.asarray(flip_index, dtype=np.int64), device=dev)
        self.mean = torch.as_tensor(IMAGENET_MEAN * 255.0, device=dev)[None, :, None, None]
        self.std = torch.as_tensor(IMAGENET_STD * 255.0, device=dev)[None, :, None, None]
        n = len(records)
        self.sampler = _EpochOrder(n, seed, rank, world_size)
        self.generator = torch.Generator().manual_seed(seed)
        per_rank = math.ceil(n / world_size)
        self.drop_last = per_rank >= self.batch_size  # as the loader: no ragged last batch unless that is all
        self.per_rank = per_rank

    @classmethod
    def from_store(cls, path: str | Path, task: Any, *, batch_size: int, seed: int = 0,
                   device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                   channels_last: bool = False, progress: bool = True) -> DeviceBatches:  # fmt: skip
        """Load and decode the store at ``path`` once (progress bar) for ``task`` (a top-down task)."""
        opts = pipeline_options(task.data)
        index = load_store(path)
        bar = lambda it, n: progress_bar(it, enabled=progress, total=n, desc="decoding store", unit="image")  # noqa: E731
        canvas = index.decode(threads=opts.decode_threads, progress=bar)
        return cls(index, canvas, task.data, task.codec, task.spec.flip_index, batch_size=batch_size, seed=seed,
                   device=device, rank=rank, world_size=world_size, channels_last=channels_last,
                   color_jitter=opts.color_jitter)  # fmt: skip

    def __len__(self) -> int:
        return self.per_rank // self.batch_size if self.drop_last else math.ceil(self.per_rank / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self.sampler.indices()
        for b in range(len(self)):
            ids = order[b * self.batch_size : (b + 1) * self.batch_size]
            params = draw_augment(len(ids), self.data, self.generator, self.color_jitter)
            yield self.make_batch(ids.to(self.device), params.to(self.device))

    def make_batch(self, ids: torch.Tensor, params: AugmentParams) -> dict[str, torch.Tensor]:
        """``image`` (B, 3, H, W) normalised, ``target`` (B, K, h, w), ``target_weight`` (B, K, 1) and ``joints``
        (B, K, 3) in the crop, for records ``ids`` with augmentation ``params`` (all on the device)."""
        h, w = self.codec.input_size
        img = self.image[ids]
        width = self.orig_w[img]
        flip = params.flip
        center = self.center[ids].clone()
        center[:, 0] = torch.where(flip, width - 1 - center[:, 0], center[:, 0])
        m = _homogeneous(crop_matrices(center, self.scale[ids] * params.scale[:, None], params.rot, (w, h)))
        mirror = torch.eye(3, dtype=torch.float64, device=self.device).repeat(len(ids), 1, 1)
        mirror[:, 0, 0] = torch.where(flip, -1.0, 1.0)
        mirror[:, 0, 2] = torch.where(flip, width - 1, 0.0)
        m = m @ mirror  # original (unflipped) image pixels -> crop pixels
        # joints: mapped, unlabelled ones at 0, then left/right swapped where flipped (geometry.flip_joints)
        joints = self.joints[ids]
        xy = joints[..., :2] @ m[:, :2, :2].transpose(1, 2) + m[:, None, :2, 2]
        xy = xy * (joints[..., 2:3] > 0)
        crop = torch.cat([xy, joints[..., 2:3]], -1)
        crop = torch.where(flip[:, None, None], crop[:, self.flip_index], crop)
        target, weight = encode_heatmaps(crop, self.codec)
        # pixels: crop pixel -> stored pixel (inverse of crop <- original <- stored), in grid_sample's units
        f = self.resize[img]
        stored_to_orig = torch.zeros_like(m)
        stored_to_orig[:, 0, 0], stored_to_orig[:, 1, 1], stored_to_orig[:, 2, 2] = 1 / f[:, 0], 1 / f[:, 1], 1.0
        stored_to_orig[:, 0, 2], stored_to_orig[:, 1, 2] = 0.5 / f[:, 0] - 0.5, 0.5 / f[:, 1] - 0.5
        inv = torch.linalg.inv(m @ stored_to_orig)
        hc, wc = self.canvas.shape[1:3]
        norm_in = torch.tensor([[2 / max(wc - 1, 1), 0, -1], [0, 2 / max(hc - 1, 1), -1], [0, 0, 1]],
                               dtype=torch.float64, device=self.device)  # fmt: skip
        denorm_out = torch.tensor([[(w - 1) / 2, 0, (w - 1) / 2], [0, (h - 1) / 2, (h - 1) / 2], [0, 0, 1]],
                                  dtype=torch.float64, device=self.device)  # fmt: skip
        theta = (norm_in @ inv @ denorm_out)[:, :2].float()
        grid = F.affine_grid(theta, [len(ids), 3, h, w], align_corners=True)
        src = self.canvas[img].permute(0, 3, 1, 2).float()
        x = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        if params.color is not None:
            x = _jitter_colour(x, params.color)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return {"image": x, "target": target, "target_weight": weight, "joints": crop.float()}


# --------------------------------------------------------------------------------------------- fast path
class _AutocastForward(nn.Module):
    """The wrapped module's forward under ``torch.autocast(device_type, dtype)`` (bf16 needs no GradScaler; a
    float16 autocast around it, the trainer's, is overridden inside)."""

    def __init__(self, module: nn.Module, device_type: str, dtype: torch.dtype) -> None:
        super().__init__()
        self.module, self.device_type, self.dtype = module, device_type, dtype

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            return self.module(*args, **kwargs)


class _CompiledForward(nn.Module):
    """``torch.compile`` of a module whose first call turns a compile failure into one TrainingError line."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.compiled = torch.compile(module)
        self.device, self.checked = device, False

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.checked:
            return self.compiled(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # inductor / dynamo raise many types; the first line says which
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise TrainingError(f"config key 'train.compile': torch.compile failed on {self.device} "
                                f"({type(exc).__name__}: {first}); set train.compile: false") from None  # fmt: skip
        self.checked = True
        return out


def wrap_training_model(model: nn.Module, cfg: Any, device: torch.device) -> nn.Module:
    """``model`` as the training loop should call it: compiled (``train.compile``) and under bf16 autocast
    (``train.amp`` with ``train.amp_dtype: bfloat16``); the saved and evaluated model stays the plain one."""
    t = cfg.train
    if getattr(t, "compile", False):
        model = _CompiledForward(model, device)
    if t.amp and getattr(t, "amp_dtype", "float16") == "bfloat16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"config key 'train.amp_dtype': bfloat16 is not supported on {device}")
        model = _AutocastForward(model, device.type, torch.bfloat16)
    return model


def fast_path_loader(state: Any) -> DeviceBatches | None:
    """The trainer's hook (``attach_loader``): wraps ``state.train_model`` for the fast-path options and returns
    the device-resident batches when ``data.pipeline`` is ``device`` (None: the trainer builds its DataLoader)."""
    t = state.cfg.train
    state.train_model = wrap_training_model(state.train_model, state.cfg, state.device)
    data = getattr(state.task, "data", None)
    if getattr(data, "pipeline", "loader") != "device":
        return None
    path = getattr(state.train_set, "device_store", None)
    if path is None:
        raise ConfigError("config key 'data.pipeline': device needs the task's device training set "
                          "(edgepose.engine.device_batches.device_train_dataset)")  # fmt: skip
    return DeviceBatches.from_store(path, state.task, batch_size=t.batch_size, seed=t.seed, device=state.device,
                                    rank=state.dist.rank, world_size=state.dist.world_size,
                                    channels_last=t.channels_last, progress=state.show)  # fmt: skip
