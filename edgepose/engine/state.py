"""A run's objects and progress (:class:`TrainState`): built fresh (:func:`build_state`), its output folder
opened (:func:`open_outputs`) and its training loader attached (:func:`attach_loader`).

Every part of the trainer reads and moves this one state: the loop (:mod:`edgepose.engine.trainer`), the
optimiser step (:mod:`~edgepose.engine.optimisation`), the resume (:mod:`~edgepose.engine.resume`) and the
epoch-end callbacks (:mod:`~edgepose.engine.callbacks`). It lives in its own module so that they can all name
its type without importing the loop.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from edgepose.config import save_yaml
from edgepose.engine import distributed as du
from edgepose.engine.callbacks import EpochCallback, default_callbacks
from edgepose.engine.checkpoint import load_pretrained, remove_stale_temporaries
from edgepose.engine.config import ExperimentConfig, default_output_dir, experiment_to_dict, resolve_path
from edgepose.engine.loader import build_train_loader
from edgepose.engine.logging import CsvLogger, TensorBoardWriter, say
from edgepose.engine.optimisation import build_optimizer
from edgepose.engine.schedule import MultiStepWarmup, build_schedule
from edgepose.engine.task import Task, build_task
from edgepose.errors import ConfigError, EdgeposeError, TrainingError


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
    """Seed python's, numpy's and torch's global generators (what datasets, models and tests draw from)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG is what datasets and tests use
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """``train.deterministic``: deterministic cuDNN / cuBLAS / torch kernels; else ``cudnn.benchmark`` on CUDA."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic or torch.are_deterministic_algorithms_enabled():  # the call itself imports torch._inductor
        torch.use_deterministic_algorithms(deterministic, warn_only=True)


@dataclasses.dataclass(eq=False)
class TrainState:
    """One run's objects and progress, shared by the loop's steps, the optimiser step and the callbacks.

    ``epoch`` counts finished epochs and ``step`` optimiser steps; ``best``/``best_epoch`` follow the task's
    primary metric. ``train_model`` is what the loop calls (DistributedDataParallel around ``model`` when
    distributed); ``model`` is what is saved and evaluated. The loggers exist on rank 0 only.
    ``callbacks`` run at every epoch end, in order (:func:`~edgepose.engine.callbacks.default_callbacks` first).
    :func:`~edgepose.engine.callbacks.checkpoint_state` is the saved form (its keys are the checkpoint format).
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
    deadline: float | None = None  # time.monotonic() at which train.max_minutes runs out (set by the driver)
    stopped_by_budget: bool = False  # the time budget ended the run: the current epoch is its last
    callbacks: list[EpochCallback] = dataclasses.field(default_factory=default_callbacks)
    # every rank's RNG states as the epoch ended: end_epoch gathers them before any callback can draw a number
    rng_states: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def main(self) -> bool:
        return self.dist.is_main

    @property
    def runner(self) -> nn.Module:
        """The module the loop calls: the DDP wrapper once the loader is attached, else the model."""
        return self.train_model if self.train_model is not None else self.model


@dataclasses.dataclass
class EpochResult:
    """One pass over the training loader: what the epoch-end callbacks log."""

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
        cfg=cfg, task=task, model=model, optimizer=optimizer, schedule=build_schedule(cfg, optimizer),
        scaler=torch.amp.GradScaler(device.type, enabled=amp), device=device, dist=dist, out_dir=out,
        train_set=train_set, val_set=val_set, amp=amp, show=progress and dist.is_main,
        primary=getattr(task, "primary_metric", "AP"), mode=getattr(task, "metric_mode", "max"),
    )  # fmt: skip


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
