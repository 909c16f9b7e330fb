"""The training and evaluation loops shared by the top-down and bottom-up pipelines.

:func:`train_experiment` runs one experiment (:class:`~edgepose.engine.config.ExperimentConfig`) through its
task (:mod:`edgepose.engine.task`): optimiser with per-group lr multipliers, multi-step schedule with optional
linear warm-up, mixed precision and ``cudnn.benchmark`` on CUDA, DistributedDataParallel under ``torchrun``
(NCCL on GPUs, Gloo on CPU), periodic distributed evaluation, and an output folder holding::

    config.yaml     the resolved config
    steps.csv       every log_every steps: epoch, step, lr, loss and every loss term (window means)
    epochs.csv      per epoch: train_<term> means, val_<metric>, lr, seconds, images/s
    plots/          losses.png (one panel per loss term), metrics.png (AP etc. per epoch)
    last.pt         written atomically after every epoch; best.pt when the primary metric improves
    metrics.json    final and best metrics
    eval/           whatever the task writes while evaluating (result JSONs)

``resume`` continues exactly where ``last.pt`` stopped: model, optimiser, schedule, GradScaler, the python /
numpy / torch RNG states of every rank, epoch, step, best metric and the CSV logs (rows written after the
checkpoint are dropped). Shuffling is a function of (seed, epoch), so with ``deterministic: true`` and
``workers: 0`` a resumed run ends with bit-identical weights to an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from edgepose.config import save_yaml
from edgepose.engine import distributed as du
from edgepose.engine.checkpoint import load_checkpoint, load_model_state, save_checkpoint, unwrap_model
from edgepose.engine.config import ExperimentConfig, default_output_dir, experiment_to_dict
from edgepose.engine.logging import CsvLogger, TensorBoardWriter, write_json
from edgepose.engine.task import Task, build_task
from edgepose.errors import CheckpointError, ConfigError, EdgeposeError


class TrainingError(EdgeposeError):
    """Training cannot continue (diverged loss, empty dataset, ...)."""


# ----------------------------------------------------------------------------------------------- helpers
def select_device(spec: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU. Asking for CUDA without it is an error."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"config key 'train.device': {spec!r} requested but CUDA is not available")
        return torch.device(spec if ":" in spec else f"cuda:{local_rank}")
    return torch.device(spec)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG is what datasets and tests use
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic or torch.are_deterministic_algorithms_enabled():  # the call itself imports torch._inductor
        torch.use_deterministic_algorithms(deterministic, warn_only=True)


def capture_rng() -> dict[str, Any]:
    """The python / numpy / torch generator states as plain data and tensors (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }  # fmt: skip
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    keys = np.asarray(n["keys"].numpy() if isinstance(n["keys"], torch.Tensor) else n["keys"], dtype=np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))  # noqa: NPY002
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def move_to_device(obj: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Tensors (also inside dicts, lists and tuples) moved to ``device``; everything else untouched."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return {k: move_to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, list):
        return [move_to_device(v, device, non_blocking) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(move_to_device(v, device, non_blocking) for v in obj)
    return obj


def to_channels_last(obj: Any) -> Any:
    """4-D floating-point tensors (also inside dicts and lists) in NHWC memory format; everything else untouched."""
    if isinstance(obj, torch.Tensor):
        return obj.contiguous(memory_format=torch.channels_last) if obj.ndim == 4 and obj.is_floating_point() else obj
    if isinstance(obj, Mapping):
        return {k: to_channels_last(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_channels_last(v) for v in obj]
    return obj


def batch_size_of(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, Mapping):
        for v in batch.values():
            n = batch_size_of(v)
            if n:
                return n
    if isinstance(batch, (list, tuple)) and batch:
        return batch_size_of(batch[0])
    return 0


class EpochShuffleSampler(Sampler[int]):
    """Shuffled indices that depend only on (seed, epoch), not on any global RNG: resumable by construction."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _worker_init(worker_id: int, task_init: Any = None) -> None:
    """Seed python's and numpy's global RNGs of a DataLoader worker from its torch seed (the loader's per-epoch
    generator's base seed + worker id), then run the task's own ``worker_init_fn`` if it has one."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    if task_init is not None:
        task_init(worker_id)


def build_train_loader(
    task: Task, dataset: Dataset, cfg: ExperimentConfig, dist: du.DistInfo, device: torch.device
) -> DataLoader:
    t = cfg.train
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise TrainingError("the training set is empty")
    if dist.distributed:
        from torch.utils.data.distributed import DistributedSampler

        sampler: Sampler[int] = DistributedSampler(
            dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True, seed=t.seed
        )
        per_rank = math.ceil(n / dist.world_size)
    else:
        sampler = EpochShuffleSampler(n, t.seed)
        per_rank = n
    return DataLoader(
        dataset,
        batch_size=t.batch_size,
        sampler=sampler,
        num_workers=t.workers,
        collate_fn=getattr(task, "collate_fn", None),
        pin_memory=device.type == "cuda",
        drop_last=per_rank >= t.batch_size,  # no ragged last batch (BatchNorm), unless that is all there is
        worker_init_fn=functools.partial(_worker_init, task_init=getattr(task, "worker_init_fn", None))
        if t.workers > 0
        else None,
        generator=torch.Generator(),
        persistent_workers=False,
    )


class MultiStepWarmup:
    """lr of group g = base_lr x g["lr_mult"] x gamma^(milestones reached by epoch) x linear warm-up(step).

    A function of (epoch, step) only, so resuming restores it exactly; ``state_dict`` records the recipe.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, milestones: list[int], gamma: float,
                 warmup_steps: int = 0) -> None:  # fmt: skip
        self.optimizer, self.base_lr, self.gamma = optimizer, base_lr, gamma
        self.milestones, self.warmup_steps = list(milestones), warmup_steps
        self.epoch = self.step_count = 0

    def factor(self, epoch: int, step: int) -> float:
        f = self.gamma ** sum(1 for m in self.milestones if epoch >= m)
        if self.warmup_steps > 0 and step < self.warmup_steps:
            f *= (step + 1) / self.warmup_steps
        return f

    def set(self, epoch: int, step: int) -> float:
        self.epoch, self.step_count = epoch, step
        f = self.factor(epoch, step)
        for g in self.optimizer.param_groups:
            g["lr"] = self.base_lr * g.get("lr_mult", 1.0) * f
        return self.base_lr * f

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "milestones": self.milestones, "gamma": self.gamma,
                "warmup_steps": self.warmup_steps, "epoch": self.epoch, "step": self.step_count}  # fmt: skip

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.step_count = int(state.get("epoch", 0)), int(state.get("step", 0))


def build_optimizer(cfg: ExperimentConfig, task: Task, model: nn.Module) -> torch.optim.Optimizer:
    """The optimiser over the task's parameter groups (lr = base lr x ``lr_mult``; per-group weight decay)."""
    t = cfg.train
    groups = task.param_groups(model) if hasattr(task, "param_groups") else None
    if not groups:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    seen: set[int] = set()
    out = []
    for i, g in enumerate(groups):
        g = dict(g)
        params = [p for p in g.pop("params") if p.requires_grad]
        for p in params:
            if id(p) in seen:
                raise ConfigError(f"task parameter group {i} repeats a parameter already in another group")
            seen.add(id(p))
        if not params:
            continue
        mult = float(g.pop("lr_mult", 1.0))
        out.append({"params": params, "lr": t.lr * mult, "lr_mult": mult, **g})
    if not out:
        raise TrainingError("the model has no trainable parameters")
    if t.optimizer == "adam":
        return torch.optim.Adam(out, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(out, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(out, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def run_evaluation(
    task: Task, model: nn.Module, dataset: Dataset, device: torch.device, dist: du.DistInfo, out_dir: Path
) -> dict[str, float]:
    """The task's evaluation on every rank (unwrapped model, eval mode, no grad); every rank gets rank 0's
    metrics back."""
    model = unwrap_model(model)
    if dist.distributed:  # BatchNorm running stats drift apart per rank between DDP's syncs: use rank 0's
        for buf in model.buffers():
            torch.distributed.broadcast(buf.data, src=0)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            metrics = task.evaluate(
                model, dataset, device=device, rank=dist.rank, world_size=dist.world_size, out_dir=out_dir
            )
    finally:
        model.train(was_training)
    metrics = du.broadcast_object(dict(metrics or {}) if dist.is_main else None)
    return {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float))}


def _progress(iterable: Any, enabled: bool, **kwargs: Any) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, dynamic_ncols=True, file=sys.stderr, **kwargs)


def _say(msg: str, enabled: bool) -> None:
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(msg, file=sys.stderr)


def _better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def _config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_config_differences(a, b, f"{prefix}{k}."))
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def resolve_resume(resume: Any, out_dir: Path) -> Path | None:
    """``None``/``False``: fresh run; ``True``: ``out_dir/last.pt`` if present; a path: that checkpoint."""
    if resume is None or resume is False:
        return None
    if resume is True or resume == "":
        path = out_dir / "last.pt"
        return path if path.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError("checkpoint to resume from not found", path)
    return path


# ------------------------------------------------------------------------------------------------ train
def train_experiment(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, resume: Any = None, progress: bool = True
) -> dict[str, float]:
    """Train ``cfg`` and return the metrics of the final evaluation (see the module docstring)."""
    t = cfg.train
    own_group = not du.is_distributed() and du.env_world_size() > 1
    dist = du.init_distributed("cuda" if select_device(t.device).type == "cuda" else "cpu")
    try:
        return _train(cfg, out_dir, resume, progress, dist)
    finally:
        if own_group:
            du.cleanup()


def _train(cfg: ExperimentConfig, out_dir: Any, resume: Any, progress: bool, dist: du.DistInfo) -> dict[str, float]:
    t = cfg.train
    main = dist.is_main
    show = progress and main
    device = select_device(t.device, dist.local_rank)
    out_dir = Path(out_dir) if out_dir is not None else default_output_dir(cfg)
    # The saved config names its own folder, so `edgepose train OUT/config.yaml --resume` continues in place.
    cfg = dataclasses.replace(cfg, output_dir=str(out_dir.resolve()))
    configure_determinism(t.deterministic, device)
    seed_everything(t.seed + dist.rank)
    amp = t.amp and device.type == "cuda"

    task = build_task(cfg)
    model = task.build_model().to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_set, val_set = task.train_dataset(), task.val_dataset()
    optimizer = build_optimizer(cfg, task, model)
    schedule = MultiStepWarmup(optimizer, t.lr, t.lr_milestones, t.lr_gamma, t.warmup_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    primary = getattr(task, "primary_metric", "AP")
    mode = getattr(task, "metric_mode", "max")

    start_epoch, step, best, best_epoch, last_metrics = 0, 0, None, None, {}
    ckpt_path = resolve_resume(resume, out_dir)
    ckpt = None
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, map_location="cpu")
        load_model_state(model, ckpt["model"], ckpt_path)
        if ckpt.get("optimizer") is None:
            raise CheckpointError("weights-only checkpoint: it has no optimizer state to resume from", ckpt_path)
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"optimizer state does not fit this config ({exc})", ckpt_path) from None
        schedule.load_state_dict(ckpt.get("scheduler") or {})
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, step = int(ckpt["epoch"]), int(ckpt["step"])
        best, best_epoch = ckpt.get("best_metric"), ckpt.get("best_epoch")
        last_metrics = dict(ckpt.get("metrics") or {})
        differences = _config_differences(ckpt.get("config") or {}, experiment_to_dict(cfg))
        if differences:
            _say(f"note: config differs from the checkpoint's: {'; '.join(differences[:8])}", main)
        _say(f"resuming from {ckpt_path} (finished epochs: {start_epoch}, steps: {step})", main)
    elif resume is True and main:
        _say(f"no checkpoint in {out_dir} to resume from; starting fresh", main)

    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        if ckpt_path is None and (out_dir / "last.pt").is_file():
            _say(f"note: {out_dir} already holds a run; starting fresh (use --resume to continue it)", main)
        save_yaml(experiment_to_dict(cfg), out_dir / "config.yaml")
    du.barrier()

    model_for_train: nn.Module = model
    if dist.distributed:
        model_for_train = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(task, "find_unused_parameters", False)),
        )
    loader = build_train_loader(task, train_set, cfg, dist, device)
    steps_per_epoch = len(loader) if t.max_steps_per_epoch is None else min(len(loader), t.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise TrainingError(f"no training batches (dataset of {len(train_set)} with batch size {t.batch_size})")

    step_log = epoch_log = tb = None
    if main:
        step_log = CsvLogger(out_dir / "steps.csv", resume=ckpt is not None)
        epoch_log = CsvLogger(out_dir / "epochs.csv", resume=ckpt is not None)
        step_log.truncate("step", step)
        epoch_log.truncate("epoch", start_epoch)
        tb = TensorBoardWriter(out_dir / "tensorboard")

    if ckpt is not None:  # last, so that building the model/loader above cannot disturb the restored RNGs
        rng = ckpt.get("rng")
        if isinstance(rng, list) and rng:
            restore_rng(rng[dist.rank % len(rng)])
    del ckpt

    if start_epoch >= t.epochs:
        _say(f"training already finished ({start_epoch}/{t.epochs} epochs)", main)
    _say(f"training {cfg.name}: {t.epochs} epochs x {steps_per_epoch} steps, batch {t.batch_size} x "
         f"{dist.world_size} process(es) on {device}{' with AMP' if amp else ''}; output: {out_dir}", main)  # fmt: skip
    started = time.time()
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, t.epochs):
            epoch_started = time.time()
            loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            loader.generator.manual_seed(t.seed * 100003 + epoch * 1009 + dist.rank)  # type: ignore[union-attr]
            model_for_train.train()
            sums: dict[str, float] = {}
            window: dict[str, list[float]] = {}
            images = n_steps = 0
            bar = _progress(loader, show, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{t.epochs}", leave=False)
            lr = schedule.set(epoch, step)
            for batch in bar:
                lr = schedule.set(epoch, step)
                batch = move_to_device(batch, device, non_blocking=device.type == "cuda")
                if t.channels_last:
                    batch = to_channels_last(batch)
                images += batch_size_of(batch)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                    loss, terms = task.loss(model_for_train, batch)
                loss_value = float(loss.detach().float().item())
                bad = not math.isfinite(loss_value)
                if dist.distributed:
                    flag = torch.tensor([1.0 if bad else 0.0], device=device)
                    torch.distributed.all_reduce(flag)
                    bad = flag.item() > 0
                if bad:
                    raise TrainingError(
                        f"loss is not finite at epoch {epoch + 1}, step {step + 1} (lr {lr:.3g}); "
                        "lower train.lr or add train.grad_clip / train.warmup_steps"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if t.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                n_steps += 1
                values = {"loss": loss_value, **{k: float(v) for k, v in (terms or {}).items() if k != "loss"}}
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
                    window.setdefault(k, []).append(v)
                if show and hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.2g}", refresh=False)
                if step % t.log_every == 0 and main:
                    row = {"epoch": epoch + 1, "step": step, "lr": lr}
                    row.update({k: sum(v) / len(v) for k, v in window.items()})
                    step_log.log(row)  # type: ignore[union-attr]
                    tb.scalars("train", row, step)  # type: ignore[union-attr]
                    window = {}
                if n_steps >= steps_per_epoch:
                    break
            if hasattr(bar, "close"):
                bar.close()
            means = du.all_reduce_mean({k: v / max(n_steps, 1) for k, v in sums.items()})
            seconds = time.time() - epoch_started
            finished = epoch + 1
            is_last = finished == t.epochs
            metrics: dict[str, float] = {}
            if is_last or (t.eval_every and finished % t.eval_every == 0):
                metrics = run_evaluation(task, model, val_set, device, dist, out_dir / "eval")
                last_metrics = metrics
                value = metrics.get(primary)
                if value is None:
                    _say(f"warning: evaluation returned no {primary!r} (got {', '.join(metrics) or 'nothing'})", main)
                elif _better(value, best, mode):
                    best, best_epoch = value, finished
            rng_states = du.all_gather_object(capture_rng())
            if main:
                row = {"epoch": finished, "step": step, "lr": lr, "seconds": round(seconds, 3),
                       "images_per_s": round(images * dist.world_size / max(seconds, 1e-9), 2)}  # fmt: skip
                row.update({f"train_{k}": v for k, v in means.items()})
                row.update({f"val_{k}": v for k, v in metrics.items()})
                epoch_log.log(row)  # type: ignore[union-attr]
                tb.scalars("epoch", row, finished)  # type: ignore[union-attr]
                state = {
                    "model": unwrap_model(model).state_dict(),
                    "model_name": getattr(model, "model_name", cfg.model.name),
                    "model_overrides": dict(getattr(model, "model_overrides", cfg.model.overrides)),
                    "config": experiment_to_dict(cfg),
                    "epoch": finished,
                    "step": step,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": schedule.state_dict(),
                    "scaler": scaler.state_dict(),
                    "rng": rng_states,
                    "best_metric": best,
                    "best_epoch": best_epoch,
                    "primary_metric": primary,
                    "metrics": last_metrics,
                }
                if metrics and best_epoch == finished:
                    save_checkpoint(out_dir / "best.pt", state)
                if is_last or finished % t.save_every == 0:
                    save_checkpoint(out_dir / "last.pt", state)
                if metrics or is_last:  # curves are redrawn with each evaluation (cheap next to one)
                    _write_plots(out_dir, step_log, epoch_log)  # type: ignore[arg-type]
                summary = " ".join(f"{k} {v:.4g}" for k, v in means.items())
                shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in (primary, "AP50", "AR"))
                _say(f"epoch {finished}/{t.epochs} ({seconds:.1f}s) {summary}" + (f" | val {shown}" if shown else ""),
                     main)  # fmt: skip
            du.barrier()
    except KeyboardInterrupt:
        if main:
            print(f"\ninterrupted in epoch {epoch + 1}; continue with --resume (from {out_dir / 'last.pt'})",
                  file=sys.stderr)  # fmt: skip
        raise
    finally:
        if tb is not None:
            tb.close()

    if main:
        summary = {
            "experiment": cfg.name,
            "model": cfg.model.name,
            "epochs": t.epochs,
            "steps": step,
            "world_size": dist.world_size,
            "seconds_this_run": round(time.time() - started, 2),
            "primary_metric": primary,
            "best": {"value": best, "epoch": best_epoch},
            "final": last_metrics,
        }
        write_json(out_dir / "metrics.json", summary)
    du.barrier()
    return dict(last_metrics)


def _write_plots(out_dir: Path, step_log: CsvLogger, epoch_log: CsvLogger) -> None:
    """Loss and metric curves; a plotting failure is reported, never fatal to training."""
    try:
        from edgepose.vis.plots import plot_loss_curves, plot_metric_curves

        plot_loss_curves(step_log.rows or epoch_log.rows, out_dir / "plots" / "losses.png", epoch_log.rows)
        plot_metric_curves(epoch_log.rows, out_dir / "plots" / "metrics.png")
    except Exception as exc:  # matplotlib missing or broken: the run matters more than its pictures
        print(f"warning: could not draw plots ({type(exc).__name__}: {exc})", file=sys.stderr)


# --------------------------------------------------------------------------------------------- evaluate
def evaluate_experiment(
    cfg: ExperimentConfig, weights: str | Path, out_dir: str | Path | None = None, progress: bool = True
) -> dict[str, float]:
    """Evaluate checkpoint ``weights`` on ``cfg``'s validation set (distributed under torchrun); rank 0 writes
    ``eval_metrics.json`` into ``out_dir`` (default: the experiment's output folder ``/eval``)."""
    own_group = not du.is_distributed() and du.env_world_size() > 1
    dist = du.init_distributed("cuda" if select_device(cfg.train.device).type == "cuda" else "cpu")
    try:
        device = select_device(cfg.train.device, dist.local_rank)
        configure_determinism(cfg.train.deterministic, device)
        seed_everything(cfg.train.seed)
        out = Path(out_dir) if out_dir is not None else default_output_dir(cfg) / "eval"
        task = build_task(cfg)
        model = task.build_model()
        ckpt = load_checkpoint(weights)
        name = getattr(model, "model_name", cfg.model.name)
        if ckpt.get("model_name") and name and ckpt["model_name"] != name:
            raise CheckpointError(f"checkpoint holds model {ckpt['model_name']!r} but the config builds {name!r}",
                                  weights)  # fmt: skip
        load_model_state(model, ckpt["model"], weights)
        model.to(device)
        dataset = task.val_dataset()
        if dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
        du.barrier()
        _say(f"evaluating {weights} ({name}) on {len(dataset)} samples on {device}", progress and dist.is_main)
        metrics = run_evaluation(task, model, dataset, device, dist, out)
        if dist.is_main:
            write_json(out / "eval_metrics.json", {"weights": str(weights), "config": cfg.name, "metrics": metrics})
        du.barrier()
        return metrics
    finally:
        if own_group:
            du.cleanup()
