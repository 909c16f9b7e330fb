"""The small protocol through which one training engine drives both pipelines.

The trainer (:mod:`edgepose.engine.trainer`) knows nothing about heatmaps, PAFs, COCO or flip tests: a *task*
owns the model, the datasets, the loss and the evaluation. :class:`edgepose.engine.topdown.TopdownTask` (FLPN
and top-down baselines) and :class:`edgepose.engine.bottomup.BottomupTask` (cross-fusion, Lightweight OpenPose)
implement it; :class:`edgepose.engine.classification.ClassificationTask` pretrains backbones.

``cfg.task`` is a name from the fixed :data:`TASK_TABLE`; a config file cannot make edgepose import a module of
its choosing. Tests and Python users who bring their own task add a name to the table (a plain dict, e.g.
``monkeypatch.setitem(TASK_TABLE, "toy", "toy_task:ToyTask")``) before building the experiment.
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
    "classification": "edgepose.engine.classification:ClassificationTask",
}
"""Task name -> ``"module:Class"`` of its implementation, imported lazily (only the named task's module)."""


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


def task_target(name: object) -> str | None:
    """The ``"module:Class"`` of task ``name``, or None if the table does not know it.

    A table *value* is accepted as well as a key (``edgepose.engine.classification:ClassificationTask`` is the
    spelling older pretraining configs use); any other string is refused, never imported.
    """
    if not isinstance(name, str):
        return None
    if name in TASK_TABLE:
        return TASK_TABLE[name]
    return name if name in TASK_TABLE.values() else None


def task_class(name: str) -> type:
    """The task class for ``cfg.task`` (a :data:`TASK_TABLE` name), imported lazily."""
    target = task_target(name)
    if target is None:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(TASK_TABLE)}")
    module_name, _, cls_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ConfigError(f"task {name!r}: cannot load {target} ({exc})") from None


def build_task(cfg: ExperimentConfig) -> Task:
    """Instantiate the task that ``cfg.task`` names (it validates ``cfg.data`` and ``cfg.eval``)."""
    return task_class(cfg.task)(cfg)
