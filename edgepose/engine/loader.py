"""The training loader and the batches' way onto the device.

Shuffling is a function of (seed, epoch) alone (:class:`EpochShuffleSampler`, or ``DistributedSampler`` under
``torchrun``) and DataLoader workers are seeded from the loader's generator, which the trainer re-seeds from
(seed, epoch, rank) at every epoch start: that is what lets a resumed run see the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from edgepose.engine import distributed as du
from edgepose.engine.config import ExperimentConfig
from edgepose.engine.task import Task
from edgepose.errors import TrainingError


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
    """The leading size of the first tensor found in ``batch`` (0 when it holds none): the images/s count."""
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
    """The training DataLoader of ``cfg.train`` (batch size, workers), shuffled per (seed, epoch) on each rank."""
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
