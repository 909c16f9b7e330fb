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

``resume`` continues exactly where the newest valid checkpoint stopped (:mod:`~edgepose.engine.resume`): with
``deterministic: true`` and ``workers: 0`` a resumed run ends with bit-identical weights to an uninterrupted one.
``train.max_minutes`` bounds one invocation's wall time: the run stops at the end of the step that crosses the
budget, and that (possibly cut short) epoch is treated as the last one -- evaluated, checkpointed, plotted -- so
the output folder is as valid as a finished run's and ``--resume`` continues from it.

This module is the loop; its parts live beside it: :mod:`~edgepose.engine.state` (:class:`TrainState`: built,
its outputs opened, its loader attached), :mod:`~edgepose.engine.schedule` (the lr),
:mod:`~edgepose.engine.optimisation` (the optimiser and :func:`train_step`), :mod:`~edgepose.engine.loader`
(shuffling, workers, batches to the device), :mod:`~edgepose.engine.resume` (which checkpoint, restoring it and
the RNG states) and :mod:`~edgepose.engine.callbacks` (what each epoch end does; ``callbacks=`` adds one's own).
A run is a :class:`TrainState` moved along by small steps, each callable (and tested) on its own::

    state = start_run(cfg, out_dir, resume)      # build_state, restore_state, open_outputs, attach_loader
    while state.epoch < cfg.train.epochs:
        result = train_one_epoch(state)          # the loop (train_step per batch), step logs
        metrics = evaluate(state) if evaluation_due(state) else {}   # validation, best metric
        end_epoch(state, result, metrics)        # the callbacks: epoch row, best.pt / last.pt, plots, one line
    finish_run(state, seconds)                   # metrics.json
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from edgepose.engine import distributed as du
from edgepose.engine.callbacks import EpochCallback, checked_callbacks
from edgepose.engine.checkpoint import load_checkpoint, load_model_state, unwrap_model
from edgepose.engine.config import ExperimentConfig, default_output_dir
from edgepose.engine.loader import batch_size_of, build_train_loader, move_to_device, to_channels_last
from edgepose.engine.logging import progress_bar, say, show_progress, write_json
from edgepose.engine.optimisation import build_optimizer, train_step
from edgepose.engine.resume import capture_rng, find_resume_checkpoint, resolve_resume, restore_rng, restore_state
from edgepose.engine.schedule import MultiStepWarmup
from edgepose.engine.state import (
    EpochResult,
    TrainState,
    attach_loader,
    build_state,
    configure_determinism,
    open_outputs,
    seed_everything,
    select_device,
)
from edgepose.engine.task import Task, build_task
from edgepose.errors import CheckpointError, TrainingError

__all__ = [
    "EpochCallback",
    "EpochResult",
    "MultiStepWarmup",
    "TrainState",
    "TrainingError",  # lives in edgepose.errors; importable from here as before
    "attach_loader",
    "batch_size_of",  # this and the names below live in the trainer's parts; importable from here as before
    "build_optimizer",
    "build_state",
    "build_train_loader",
    "capture_rng",
    "end_epoch",
    "evaluate",
    "evaluate_experiment",
    "find_resume_checkpoint",
    "move_to_device",
    "resolve_resume",
    "restore_rng",
    "select_device",
    "start_run",
    "to_channels_last",
    "train_experiment",
    "train_one_epoch",
    "train_step",
]


# ------------------------------------------------------------------------------------------------ start
def start_run(
    cfg: ExperimentConfig,
    out_dir: str | Path | None = None,
    resume: Any = None,
    progress: bool = True,
    dist: du.DistInfo | None = None,
    callbacks: Iterable[EpochCallback] = (),
) -> TrainState:
    """Everything before the first step: a state built, restored when resuming, with its outputs and loader;
    ``callbacks`` run at each epoch end after the run's own (:mod:`edgepose.engine.callbacks`).

    The RNG states of the checkpoint are restored last, so that building the model and loader cannot disturb
    them: that is what makes a resumed run bit-identical to an uninterrupted one.
    """
    extra = checked_callbacks(callbacks)  # before minutes of building datasets
    state = build_state(cfg, out_dir, dist, progress)
    state.callbacks.extend(extra)
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


# ----------------------------------------------------------------------------------------------- epochs
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


def end_epoch(state: TrainState, result: EpochResult, metrics: Mapping[str, float]) -> None:
    """After epoch ``state.epoch``: every rank's RNG states gathered, then ``state.callbacks`` in order -- by
    default the epoch row, ``best.pt`` / ``last.pt``, plots and a line (:mod:`edgepose.engine.callbacks`).

    Called on every rank, and so is each callback; all ranks wait for each other before the next epoch. The RNG
    states are taken first, where the run continues from: what the callbacks do cannot change the checkpoint.
    """
    state.rng_states = du.all_gather_object(capture_rng())
    for callback in state.callbacks:
        callback.on_epoch_end(state, result, metrics)
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
    cfg: ExperimentConfig,
    out_dir: str | Path | None = None,
    resume: Any = None,
    progress: bool = True,
    callbacks: Iterable[EpochCallback] = (),
) -> dict[str, float]:
    """Train ``cfg`` and return the metrics of the final evaluation (see the module docstring).

    ``callbacks``: objects with ``on_epoch_end(state, result, metrics)``, called at every epoch end after the
    run's own (the epoch's row and checkpoints are written by then; see :mod:`edgepose.engine.callbacks`).
    """
    own_group = not du.is_distributed() and du.env_world_size() > 1
    dist = du.init_distributed("cuda" if select_device(cfg.train.device).type == "cuda" else "cpu")
    try:
        return _train(cfg, out_dir, resume, progress, dist, callbacks)
    finally:
        if own_group:
            du.cleanup()


def _train(cfg: ExperimentConfig, out_dir: Any, resume: Any, progress: bool, dist: du.DistInfo,
           callbacks: Iterable[EpochCallback] = ()) -> dict[str, float]:  # fmt: skip
    """The driver: start (or resume) a run, then train / evaluate / end each remaining epoch."""
    opened = time.monotonic()  # train.max_minutes counts building the datasets, model and loader too
    state = start_run(cfg, out_dir, resume, progress, dist, callbacks)
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


# --------------------------------------------------------------------------------------------- evaluate
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
