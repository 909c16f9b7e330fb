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

``resume`` continues exactly where the newest valid checkpoint stopped (``last.pt``, or ``best.pt`` when a
kill came between writing the two): model, optimiser, schedule, GradScaler, the python / numpy / torch RNG
states of every rank, epoch, step, best metric and the CSV logs (rows written after the checkpoint are
dropped). Shuffling is a function of (seed, epoch), so with ``deterministic: true`` and ``workers: 0`` a
resumed run ends with bit-identical weights to an uninterrupted one.

``train.max_minutes`` bounds one invocation's wall time: the run stops at the end of the step that crosses the
budget, and that (possibly cut short) epoch is treated as the last one -- evaluated, checkpointed, plotted -- so
the output folder is as valid as a finished run's and ``--resume`` continues from it.

A run is a :class:`TrainState` moved along by small steps, each callable (and tested) on its own::

    state = start_run(cfg, out_dir, resume)      # build_state, restore_state, open_outputs, attach_loader
    while state.epoch < cfg.train.epochs:
        result = train_one_epoch(state)          # the loop (train_step per batch), step logs
        metrics = evaluate(state) if evaluation_due(state) else {}   # validation, best metric
        end_epoch(state, result, metrics)        # epoch row, best.pt / last.pt, plots, one line
    finish_run(state, seconds)                   # metrics.json
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import random
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
from edgepose.engine.checkpoint import (
    load_checkpoint,
    load_model_state,
    load_pretrained,
    model_info_record,
    remove_stale_temporaries,
    save_checkpoint,
    unwrap_model,
)
from edgepose.engine.config import ExperimentConfig, default_output_dir, experiment_to_dict, resolve_path
from edgepose.engine.logging import (
    CsvLogger,
    TensorBoardWriter,
    progress_bar,
    read_csv_rows,
    say,
    show_progress,
    write_json,
)
from edgepose.engine.task import Task, build_task
from edgepose.errors import CheckpointError, ConfigError, EdgeposeError, TrainingError

__all__ = [
    "EpochResult",
    "MultiStepWarmup",
    "TrainState",
    "TrainingError",  # lives in edgepose.errors; importable from here as before
    "build_state",
    "end_epoch",
    "evaluate",
    "evaluate_experiment",
    "start_run",
    "train_experiment",
    "train_one_epoch",
]


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
    # No cv2.setNumThreads here: in a child forked after the parent used OpenCV's thread pool, resizing that pool
    # can wait forever on threads that did not survive the fork (it hung `edgepose bench train` with workers).
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
        # Workers stay alive between epochs (no respawn and no cold prefetch at each epoch start), except in
        # deterministic runs: there, respawned workers re-seed from the per-epoch generator, which keeps each
        # epoch's augmentations a function of (seed, epoch) and a resumed run identical to an uninterrupted one.
        persistent_workers=t.workers > 0 and not t.deterministic,
    )


class MultiStepWarmup:
    """lr of group g = base_lr x g["lr_mult"] x epoch factor x linear warm-up(step).

    The epoch factor is gamma^(milestones reached by epoch), or with ``cosine_epochs`` = E the half cosine
    0.5 (1 + cos(pi epoch / E)) that short budgets prefer (no hand-placed drops). A function of (epoch, step)
    only, so resuming restores it exactly; ``state_dict`` records the recipe.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, milestones: list[int], gamma: float,
                 warmup_steps: int = 0, cosine_epochs: int | None = None) -> None:  # fmt: skip
        self.optimizer, self.base_lr, self.gamma = optimizer, base_lr, gamma
        self.milestones, self.warmup_steps, self.cosine_epochs = list(milestones), warmup_steps, cosine_epochs
        self.epoch = self.step_count = 0

    def factor(self, epoch: int, step: int) -> float:
        if self.cosine_epochs:
            f = 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.cosine_epochs) / self.cosine_epochs))
        else:
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
                "warmup_steps": self.warmup_steps, "cosine_epochs": self.cosine_epochs,
                "epoch": self.epoch, "step": self.step_count}  # fmt: skip

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


def _logged_by_this_run(out_dir: Path, ckpt: Mapping[str, Any]) -> bool:
    """Whether ``out_dir/epochs.csv`` logged the epoch ``ckpt`` ends with (same step, same best value).

    ``end_epoch`` logs the row before writing any checkpoint, so a ``best.pt`` of this run always has its row;
    a ``best.pt`` left by an earlier run in the same folder (a fresh start does not delete it) does not.
    """
    primary = ckpt.get("primary_metric") or "AP"
    for row in read_csv_rows(out_dir / "epochs.csv"):
        if row.get("epoch") == ckpt.get("epoch") and row.get("step") == ckpt.get("step"):
            return ckpt.get("best_epoch") != ckpt.get("epoch") or row.get(f"val_{primary}") == ckpt.get("best_metric")
    return False


def _position(ckpt: Mapping[str, Any]) -> tuple[int, int]:
    return int(ckpt.get("epoch") or 0), int(ckpt.get("step") or 0)


def find_resume_checkpoint(out_dir: Path) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """The checkpoint of ``out_dir`` to continue from: (path, contents, notes on files passed over).

    ``last.pt`` normally; ``best.pt`` when it is further along (a kill between writing ``best.pt`` and
    ``last.pt`` of one epoch, or ``save_every`` > 1) or ``last.pt`` is damaged -- provided this run's
    ``epochs.csv`` logged it. Files that exist but cannot be used raise CheckpointError rather than a silent
    restart over them; (None, None, []) means the folder holds no checkpoint.
    """
    found: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for name in ("last.pt", "best.pt"):
        if (out_dir / name).is_file():
            try:
                found[name] = load_checkpoint(out_dir / name)
            except CheckpointError as exc:
                notes.append(str(exc))
    last, best = found.get("last.pt"), found.get("best.pt")
    if best is not None and best.get("optimizer") is not None:
        ahead = last is None or _position(best) > _position(last)
        if ahead and _logged_by_this_run(out_dir, best):
            return out_dir / "best.pt", best, notes
        if ahead:
            notes.append(f"{out_dir / 'best.pt'}: not in this run's epochs.csv (left by an earlier run?)")
    if last is not None:
        return out_dir / "last.pt", last, notes
    if notes:
        raise CheckpointError(f"nothing to resume from ({'; '.join(notes)}); name a checkpoint to resume from "
                              "explicitly, or start without --resume", out_dir)  # fmt: skip
    return None, None, []


def resolve_resume(resume: Any, out_dir: Path, verbose: bool = True) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint to resume from and its contents, or (None, None) for a fresh run.

    ``None``/``False``: fresh. ``True``: :func:`find_resume_checkpoint` of ``out_dir`` (fresh when it holds
    none). A path: that checkpoint, which must exist.
    """
    if resume is None or resume is False:
        return None, None
    if resume is True or resume == "":
        path, ckpt, notes = find_resume_checkpoint(out_dir)
        for note in notes:
            say(f"note: passed over {note}", verbose)
        if path is not None and path.name != "last.pt":
            say(f"note: {path.name} is further along than last.pt (a run stopped between writing the two)", verbose)
        if path is not None and verbose:  # rank 0: keep a damaged checkpoint aside rather than write over it
            for name in ("last.pt", "best.pt"):
                damaged = out_dir / name
                if damaged != path and damaged.is_file() and any(str(damaged) in n for n in notes):
                    kept = damaged.replace(damaged.with_name(f"{name}.damaged"))
                    say(f"note: kept the damaged {name} as {kept.name} (the run will write a new {name})", verbose)
        return path, ckpt
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError("checkpoint to resume from not found", path)
    return path, load_checkpoint(path, map_location="cpu")


# ------------------------------------------------------------------------------------------ train state
@dataclasses.dataclass(eq=False)
class TrainState:
    """One run's objects and progress, shared by :func:`train_one_epoch`, :func:`evaluate` and :func:`end_epoch`.

    ``epoch`` counts finished epochs and ``step`` optimiser steps; ``best``/``best_epoch`` follow the task's
    primary metric. ``train_model`` is what the loop calls (DistributedDataParallel around ``model`` when
    distributed); ``model`` is what is saved and evaluated. The loggers exist on rank 0 only.
    :func:`checkpoint_state` is the saved form (its keys are the checkpoint format: keep them).
    """

    cfg: ExperimentConfig
    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: MultiStepWarmup
    scaler: torch.amp.GradScaler
    device: torch.device
    dist: du.DistInfo
    out_dir: Path
    train_set: Dataset
    val_set: Dataset
    amp: bool = False
    show: bool = False  # progress bars (rank 0 unless --no-progress); messages go to rank 0 regardless
    primary: str = "AP"
    mode: str = "max"
    epoch: int = 0
    step: int = 0
    best: float | None = None
    best_epoch: int | None = None
    last_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    train_model: nn.Module | None = None
    loader: DataLoader | None = None
    steps_per_epoch: int = 0
    step_log: CsvLogger | None = None
    epoch_log: CsvLogger | None = None
    tb: TensorBoardWriter | None = None
    deadline: float | None = None  # time.monotonic() at which train.max_minutes runs out (set by _train)
    stopped_by_budget: bool = False  # the time budget ended the run: the current epoch is its last

    @property
    def main(self) -> bool:
        return self.dist.is_main

    @property
    def runner(self) -> nn.Module:
        """The module the loop calls: the DDP wrapper once :func:`attach_loader` made it, else the model."""
        return self.train_model if self.train_model is not None else self.model


@dataclasses.dataclass
class EpochResult:
    """One pass over the training loader: what :func:`end_epoch` logs."""

    means: dict[str, float]  # loss terms averaged over the epoch's steps and over ranks
    lr: float  # the base lr of the last step
    seconds: float
    images: int  # seen by this rank
    steps: int


def build_state(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, dist: du.DistInfo | None = None, progress: bool = False
) -> TrainState:
    """A fresh state at epoch 0: device, seeds, and the task's model, datasets, optimiser, schedule and scaler.

    The order (seed, then model, then datasets) is what fixes the initial weights for a seed: keep it.
    """
    dist = dist or du.DistInfo()
    t = cfg.train
    device = select_device(t.device, dist.local_rank)
    out = Path(out_dir) if out_dir is not None else default_output_dir(cfg)
    # The saved config names its own folder, so `edgepose train OUT/config.yaml --resume` continues in place.
    cfg = dataclasses.replace(cfg, output_dir=str(out.resolve()))
    if cfg.model.pretrained:  # absolute, so the saved config.yaml still finds it from the output folder
        pretrained = str(resolve_path(cfg, cfg.model.pretrained).resolve())
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=pretrained))
    configure_determinism(t.deterministic, device)
    seed_everything(t.seed + dist.rank)
    amp = t.amp and device.type == "cuda"
    task = build_task(cfg)
    model = task.build_model().to(device)
    if cfg.model.pretrained:
        load_pretrained(model, cfg.model.pretrained, show=dist.is_main)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_set, val_set = task.train_dataset(), task.val_dataset()
    optimizer = build_optimizer(cfg, task, model)
    return TrainState(
        cfg=cfg, task=task, model=model, optimizer=optimizer,
        schedule=MultiStepWarmup(optimizer, t.lr, t.lr_milestones, t.lr_gamma, t.warmup_steps,
                                 cosine_epochs=t.epochs if t.lr_schedule == "cosine" else None),
        scaler=torch.amp.GradScaler(device.type, enabled=amp), device=device, dist=dist, out_dir=out,
        train_set=train_set, val_set=val_set, amp=amp, show=progress and dist.is_main,
        primary=getattr(task, "primary_metric", "AP"), mode=getattr(task, "metric_mode", "max"),
    )  # fmt: skip


def restore_state(state: TrainState, ckpt: Mapping[str, Any], path: Path) -> None:
    """Model, optimiser, schedule, scaler, counters and best metric from checkpoint ``ckpt`` (read from ``path``).

    The RNG states are not restored here: :func:`start_run` does that last, after everything that draws numbers.
    """
    load_model_state(state.model, ckpt["model"], path)
    if ckpt.get("optimizer") is None:
        raise CheckpointError("weights-only checkpoint: it has no optimizer state to resume from", path)
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"optimizer state does not fit this config ({exc})", path) from None
    state.schedule.load_state_dict(ckpt.get("scheduler") or {})
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch, state.step = int(ckpt["epoch"]), int(ckpt["step"])
    state.best, state.best_epoch = ckpt.get("best_metric"), ckpt.get("best_epoch")
    state.last_metrics = dict(ckpt.get("metrics") or {})
    saved_primary = ckpt.get("primary_metric")
    if saved_primary and saved_primary != state.primary:  # a best value of another metric cannot be compared
        say(f"note: the checkpoint ranked best.pt by {saved_primary!r}, this task by {state.primary!r}: "
            "best metric reset", state.main)  # fmt: skip
        state.best = state.best_epoch = None
    differences = _config_differences(ckpt.get("config") or {}, experiment_to_dict(state.cfg))
    if differences:
        say(f"note: config differs from the checkpoint's: {'; '.join(differences[:8])}", state.main)
    say(f"resuming from {path} (finished epochs: {state.epoch}, steps: {state.step})", state.main)


def open_outputs(state: TrainState, resumed: bool) -> None:
    """Rank 0: the output folder (stale temporary files of killed writes removed), ``config.yaml`` and the
    CSV / TensorBoard loggers (on resume, the CSV rows logged after the checkpoint are dropped)."""
    if state.main:
        out = state.out_dir
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, no permission, read-only file system
            raise EdgeposeError(f"cannot create the output folder ({exc.strerror or exc})", out) from exc
        stale = remove_stale_temporaries(out)
        if stale:
            say(f"note: removed {len(stale)} temporary file(s) left by an interrupted write: "
                f"{', '.join(p.name for p in stale[:4])}", True)  # fmt: skip
        if not resumed and (out / "last.pt").is_file():
            say(f"note: {out} already holds a run; starting fresh (use --resume to continue it)", True)
        save_yaml(experiment_to_dict(state.cfg), out / "config.yaml")
        state.step_log = CsvLogger(out / "steps.csv", resume=resumed)
        state.epoch_log = CsvLogger(out / "epochs.csv", resume=resumed)
        state.step_log.truncate("step", state.step)
        state.epoch_log.truncate("epoch", state.epoch)
        state.tb = TensorBoardWriter(out / "tensorboard")
    du.barrier()


def attach_loader(state: TrainState) -> None:
    """The model as the loop runs it (DDP under torchrun) and the training loader with its steps per epoch."""
    t = state.cfg.train
    state.train_model = state.model
    if state.dist.distributed:
        state.train_model = nn.parallel.DistributedDataParallel(
            state.model,
            device_ids=[state.device.index] if state.device.type == "cuda" else None,
            find_unused_parameters=bool(getattr(state.task, "find_unused_parameters", False)),
        )
    from edgepose.engine.device_batches import fast_path_loader  # train.compile / bf16; data.pipeline: device

    state.loader = fast_path_loader(state) or build_train_loader(
        state.task, state.train_set, state.cfg, state.dist, state.device
    )
    n = len(state.loader)
    state.steps_per_epoch = n if t.max_steps_per_epoch is None else min(n, t.max_steps_per_epoch)
    if state.steps_per_epoch == 0:
        raise TrainingError(f"no training batches (dataset of {len(state.train_set)} with batch size {t.batch_size})")


def start_run(
    cfg: ExperimentConfig,
    out_dir: str | Path | None = None,
    resume: Any = None,
    progress: bool = True,
    dist: du.DistInfo | None = None,
) -> TrainState:
    """Everything before the first step: a state built, restored when resuming, with its outputs and loader.

    The RNG states of the checkpoint are restored last, so that building the model and loader cannot disturb
    them: that is what makes a resumed run bit-identical to an uninterrupted one.
    """
    state = build_state(cfg, out_dir, dist, progress)
    path, ckpt = resolve_resume(resume, state.out_dir, verbose=state.main)
    if path is not None and ckpt is not None:
        restore_state(state, ckpt, path)
    elif resume is True:
        say(f"no checkpoint in {state.out_dir} to resume from; starting fresh", state.main)
    open_outputs(state, resumed=ckpt is not None)
    attach_loader(state)
    rng = ckpt.get("rng") if ckpt is not None else None
    if isinstance(rng, list) and rng:
        restore_rng(rng[state.dist.rank % len(rng)])
    return state


# ---------------------------------------------------------------------------------------------- steps
def _check_finite(state: TrainState, loss_value: float, lr: float) -> None:
    """A NaN / inf loss on any rank stops every rank with the same clear error (not a silent NaN model)."""
    bad = not math.isfinite(loss_value)
    if state.dist.distributed:
        flag = torch.tensor([1.0 if bad else 0.0], device=state.device)
        torch.distributed.all_reduce(flag)
        bad = flag.item() > 0
    if bad:
        raise TrainingError(
            f"loss is not finite at epoch {state.epoch + 1}, step {state.step + 1} (lr {lr:.3g}); "
            "lower train.lr or add train.grad_clip / train.warmup_steps"
        )


def train_step(state: TrainState, batch: Any, lr: float) -> dict[str, float]:
    """One optimiser step on ``batch`` (already on the device); returns the loss and its terms as floats."""
    t = state.cfg.train
    with torch.autocast(device_type=state.device.type, dtype=torch.float16, enabled=state.amp):
        loss, terms = state.task.loss(state.runner, batch)
    loss_value = float(loss.detach().float().item())
    _check_finite(state, loss_value, lr)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if t.grad_clip:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), t.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.step += 1
    return {"loss": loss_value, **{k: float(v) for k, v in (terms or {}).items() if k != "loss"}}


def budget_spent(state: TrainState) -> bool:
    """Whether ``train.max_minutes`` has run out (rank 0's clock decides, so every rank stops at the same step)."""
    if state.deadline is None:
        return False
    spent = time.monotonic() >= state.deadline
    if state.dist.distributed:
        flag = torch.tensor([1.0 if spent and state.main else 0.0], device=state.device)
        torch.distributed.all_reduce(flag)
        spent = flag.item() > 0
    return spent


def _log_steps(state: TrainState, lr: float, window: dict[str, list[float]]) -> None:
    row: dict[str, Any] = {"epoch": state.epoch + 1, "step": state.step, "lr": lr}
    row.update({k: sum(v) / len(v) for k, v in window.items()})
    state.step_log.log(row)  # type: ignore[union-attr]
    state.tb.scalars("train", row, state.step)  # type: ignore[union-attr]


def train_one_epoch(state: TrainState) -> EpochResult:
    """Train epoch ``state.epoch`` (0-based): shuffle for (seed, epoch), step, log every ``log_every`` steps.

    Increments ``state.step`` per step and ``state.epoch`` at the end; needs :func:`attach_loader` first.
    """
    t = state.cfg.train
    if state.loader is None:
        attach_loader(state)
    loader, epoch = state.loader, state.epoch
    started = time.time()
    loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]
    loader.generator.manual_seed(t.seed * 100003 + epoch * 1009 + state.dist.rank)  # type: ignore[union-attr]
    state.runner.train()
    sums: dict[str, float] = {}
    window: dict[str, list[float]] = {}
    images = n_steps = 0
    bar = progress_bar(loader, enabled=state.show, total=state.steps_per_epoch, desc=f"epoch {epoch + 1}/{t.epochs}")
    lr = state.schedule.set(epoch, state.step)
    for batch in bar:
        lr = state.schedule.set(epoch, state.step)
        batch = move_to_device(batch, state.device, non_blocking=state.device.type == "cuda")
        if t.channels_last:
            batch = to_channels_last(batch)
        images += batch_size_of(batch)
        values = train_step(state, batch, lr)
        n_steps += 1
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
            window.setdefault(k, []).append(v)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{values['loss']:.4g}", lr=f"{lr:.2g}", refresh=False)
        if state.step % t.log_every == 0 and state.main:
            _log_steps(state, lr, window)
            window = {}
        if budget_spent(state):
            state.stopped_by_budget = True
            break
        if n_steps >= state.steps_per_epoch:
            break
    if hasattr(bar, "close"):
        bar.close()
    means = du.all_reduce_mean({k: v / max(n_steps, 1) for k, v in sums.items()})
    state.epoch += 1
    return EpochResult(means=means, lr=lr, seconds=time.time() - started, images=images, steps=n_steps)


def evaluation_due(state: TrainState) -> bool:
    """Evaluate after every ``eval_every``-th finished epoch and always after the last."""
    t = state.cfg.train
    if state.stopped_by_budget:
        return True
    return state.epoch == t.epochs or bool(t.eval_every and state.epoch % t.eval_every == 0)


def evaluate(state: TrainState) -> dict[str, float]:
    """The task's validation (on every rank, progress on rank 0); updates the best metric and last metrics."""
    with show_progress(state.show):
        metrics = run_evaluation(state.task, state.model, state.val_set, state.device, state.dist,
                                 state.out_dir / "eval")  # fmt: skip
    state.last_metrics = metrics
    value = metrics.get(state.primary)
    if value is None:
        say(f"warning: evaluation returned no {state.primary!r} (got {', '.join(metrics) or 'nothing'})", state.main)
    elif _better(value, state.best, state.mode):
        state.best, state.best_epoch = value, state.epoch
    return metrics


def checkpoint_state(state: TrainState, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``last.pt`` / ``best.pt`` hold (see :mod:`edgepose.engine.checkpoint`); ``rng_states`` per rank."""
    model, cfg = state.model, state.cfg
    return {
        "model": unwrap_model(model).state_dict(),
        "model_name": getattr(model, "model_name", cfg.model.name),
        "model_overrides": dict(getattr(model, "model_overrides", cfg.model.overrides)),
        "model_info": model_info_record(model),
        "config": experiment_to_dict(cfg),
        "epoch": state.epoch,
        "step": state.step,
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.schedule.state_dict(),
        "scaler": state.scaler.state_dict(),
        "rng": rng_states,
        "best_metric": state.best,
        "best_epoch": state.best_epoch,
        "primary_metric": state.primary,
        "metrics": state.last_metrics,
    }


def end_epoch(state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
    """After epoch ``state.epoch``: the epoch row, ``best.pt`` (when it improved) and ``last.pt``, plots, a line.

    Called on every rank (the RNG states of all ranks are gathered into the checkpoint); rank 0 writes.
    ``best.pt`` is written before ``last.pt``: a kill between the two leaves ``best.pt`` the newer, which
    :func:`resolve_resume` then picks.
    """
    t, finished = state.cfg.train, state.epoch
    is_last = finished == t.epochs or state.stopped_by_budget
    rng_states = du.all_gather_object(capture_rng())
    if state.main:
        row = {"epoch": finished, "step": state.step, "lr": result.lr, "seconds": round(result.seconds, 3),
               "images_per_s": round(result.images * state.dist.world_size / max(result.seconds, 1e-9), 2)}  # fmt: skip
        row.update({f"train_{k}": v for k, v in result.means.items()})
        row.update({f"val_{k}": v for k, v in metrics.items()})
        state.epoch_log.log(row)  # type: ignore[union-attr]
        state.tb.scalars("epoch", row, finished)  # type: ignore[union-attr]
        ckpt = checkpoint_state(state, rng_states)
        if metrics and state.best_epoch == finished:
            save_checkpoint(state.out_dir / "best.pt", ckpt)
        if is_last or finished % t.save_every == 0:
            save_checkpoint(state.out_dir / "last.pt", ckpt)
        if metrics or is_last:  # curves are redrawn with each evaluation (cheap next to one)
            _write_plots(state.out_dir, state.step_log, state.epoch_log)  # type: ignore[arg-type]
        summary = " ".join(f"{k} {v:.4g}" for k, v in result.means.items())
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in (state.primary, "AP50", "AR"))
        say(f"epoch {finished}/{t.epochs} ({result.seconds:.1f}s) {summary}" + (f" | val {shown}" if shown else ""))
    du.barrier()


def finish_run(state: TrainState, seconds: float) -> None:
    """Rank 0: ``metrics.json`` with the final and best metrics of the run."""
    if state.main:
        summary = {
            "experiment": state.cfg.name,
            "model": state.cfg.model.name,
            "epochs": state.cfg.train.epochs,
            "steps": state.step,
            "world_size": state.dist.world_size,
            "seconds_this_run": round(seconds, 2),
            "max_minutes": state.cfg.train.max_minutes,
            "stopped_by_time_budget": state.stopped_by_budget,
            "primary_metric": state.primary,
            "best": {"value": state.best, "epoch": state.best_epoch},
            "final": state.last_metrics,
        }
        write_json(state.out_dir / "metrics.json", summary)
    du.barrier()


# ------------------------------------------------------------------------------------------------ train
def train_experiment(
    cfg: ExperimentConfig, out_dir: str | Path | None = None, resume: Any = None, progress: bool = True
) -> dict[str, float]:
    """Train ``cfg`` and return the metrics of the final evaluation (see the module docstring)."""
    own_group = not du.is_distributed() and du.env_world_size() > 1
    dist = du.init_distributed("cuda" if select_device(cfg.train.device).type == "cuda" else "cpu")
    try:
        return _train(cfg, out_dir, resume, progress, dist)
    finally:
        if own_group:
            du.cleanup()


def _train(cfg: ExperimentConfig, out_dir: Any, resume: Any, progress: bool, dist: du.DistInfo) -> dict[str, float]:
    """The driver: start (or resume) a run, then train / evaluate / end each remaining epoch."""
    opened = time.monotonic()  # train.max_minutes counts building the datasets, model and loader too
    state = start_run(cfg, out_dir, resume, progress, dist)
    t = state.cfg.train
    if state.epoch >= t.epochs:
        say(f"training already finished ({state.epoch}/{t.epochs} epochs)", state.main)
    say(f"training {state.cfg.name}: {t.epochs} epochs x {state.steps_per_epoch} steps, batch {t.batch_size} x "
        f"{dist.world_size} process(es) on {state.device}{' with AMP' if state.amp else ''}; output: {state.out_dir}",
        state.main)  # fmt: skip
    started = time.time()
    if t.max_minutes is not None:
        state.deadline = opened + 60.0 * t.max_minutes
        say(f"time budget: training stops at the end of the step that passes {t.max_minutes:g} min (counted from "
            "the start of the run), then evaluates and saves as after a last epoch", state.main)  # fmt: skip
    current = state.epoch + 1
    try:
        while state.epoch < t.epochs and not state.stopped_by_budget:
            current = state.epoch + 1
            result = train_one_epoch(state)
            metrics = evaluate(state) if evaluation_due(state) else {}
            end_epoch(state, result, metrics)
    except KeyboardInterrupt:
        say(f"\ninterrupted in epoch {current}; continue with --resume (from {state.out_dir / 'last.pt'})",
            state.main)  # fmt: skip
        raise
    finally:
        if state.tb is not None:
            state.tb.close()
    if state.stopped_by_budget:
        say(f"time budget of {t.max_minutes:g} min reached: stopped after epoch {state.epoch}/{t.epochs} at step "
            f"{state.step}; continue with --resume", state.main)  # fmt: skip
    finish_run(state, time.time() - started)
    return dict(state.last_metrics)


def _write_plots(out_dir: Path, step_log: CsvLogger, epoch_log: CsvLogger) -> None:
    """Loss and metric curves; a plotting failure is reported, never fatal to training."""
    try:
        from edgepose.vis.plots import plot_loss_curves, plot_metric_curves

        plot_loss_curves(step_log.rows or epoch_log.rows, out_dir / "plots" / "losses.png", epoch_log.rows)
        plot_metric_curves(epoch_log.rows, out_dir / "plots" / "metrics.png")
    except (ImportError, OSError, ValueError, RuntimeError) as exc:  # the run matters more than its pictures
        say(f"warning: could not draw plots ({type(exc).__name__}: {exc})")


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
        say(f"evaluating {weights} ({name}) on {len(dataset)} samples on {device}", progress and dist.is_main)
        with show_progress(progress and dist.is_main):
            metrics = run_evaluation(task, model, dataset, device, dist, out)
        if dist.is_main:
            write_json(out / "eval_metrics.json", {"weights": str(weights), "config": cfg.name, "metrics": metrics})
        du.barrier()
        return metrics
    finally:
        if own_group:
            du.cleanup()
