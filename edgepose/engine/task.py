"""The small protocol through which one training engine drives both pipelines.

The trainer (:mod:`edgepose.engine.trainer`) knows nothing about heatmaps, PAFs, COCO or flip tests: a *task*
owns the model, the datasets, the loss and the evaluation. :class:`edgepose.engine.topdown.TopdownTask` (FLPN
and top-down baselines) and :class:`edgepose.engine.bottomup.BottomupTask` (cross-fusion, Lightweight OpenPose)
implement it; tests use a toy task. ``cfg.task`` may also name any class as ``"package.module:ClassName"``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edgepose.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import Dataset

    from edgepose.engine.config import ExperimentConfig

TASK_TABLE: dict[str, str] = {
    "topdown": "edgepose.engine.topdown:TopdownTask",
    "bottomup": "edgepose.engine.bottomup:BottomupTask",
}


@runtime_checkable
class Task(Protocol):
    """What the trainer needs from a pipeline.

    * ``primary_metric``: the metrics key that picks ``best.pt`` (``"AP"`` for COCO, ``"PCKh"`` for MPII,
      ``"PCK@0.2"`` for LSPet);
      higher is better unless the task sets ``metric_mode = "min"``.
    * ``collate_fn``: ``None`` (PyTorch's default) or the DataLoader collate function.
    * :meth:`loss` receives the batch already moved to the device (every tensor of the dict, including tensors
      inside nested dicts such as ``batch["meta"]``; other values untouched) and the model as the trainer
      runs it (wrapped in DistributedDataParallel when distributed, so call ``model(...)``, never its
      submodules). It returns the loss to minimise and the terms to log (plain floats, e.g. one per output
      for the bottom-up network; every term is logged and plotted).
    * :meth:`param_groups`: ``None`` for one group of all parameters, else ``[{"params": [...],
      "lr_mult": 2.0, "weight_decay": 0.0}, ...]``; the trainer sets each group's lr to base lr x lr_mult.
    * :meth:`evaluate` is called on every rank with the unwrapped model in eval mode under ``torch.no_grad``;
      the task shards the dataset by index (:func:`edgepose.engine.distributed.shard_indices`), gathers
      (:func:`edgepose.engine.distributed.all_gather_object`), and rank 0 returns the metrics (others ``{}``).
    """

    primary_metric: str
    collate_fn: Callable[..., Any] | None

    def __init__(self, cfg: ExperimentConfig) -> None: ...

    def build_model(self) -> nn.Module: ...

    def train_dataset(self) -> Dataset: ...

    def val_dataset(self) -> Dataset: ...

    def loss(self, model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]: ...

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]] | None: ...

    def evaluate(
        self,
        model: nn.Module,
        dataset: Dataset,
        *,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        out_dir: Path,
    ) -> dict[str, float]: ...


def task_class(name: str) -> type:
    """The task class for ``cfg.task``: ``topdown``, ``bottomup`` or ``"module:Class"``, imported lazily."""
    target = TASK_TABLE.get(name, name)
    if ":" not in target:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(TASK_TABLE)} (or 'module:Class')")
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"task {name!r}: module {module_name!r} is not available") from None
        raise
    try:
        return getattr(module, cls_name)
    except AttributeError:
        raise ConfigError(f"task {name!r}: {module_name} has no {cls_name!r}") from None


def build_task(cfg: ExperimentConfig) -> Task:
    """Instantiate the task that ``cfg.task`` names (it validates ``cfg.data`` and ``cfg.eval``)."""
    return task_class(cfg.task)(cfg)
