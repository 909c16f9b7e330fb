"""The learning-rate schedule: a pure function of (epoch, step), so a resumed run gets the same rates back.

:class:`MultiStepWarmup` sets every parameter group's lr to base lr x the group's ``lr_mult`` x an epoch factor
(multi-step drops, or a half cosine over the run) x a linear warm-up over the first steps. It keeps no running
state worth saving: its ``state_dict`` records the recipe and the position for the checkpoint's reader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from edgepose.engine.config import ExperimentConfig


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
        """The multiplier of the base lr at ``epoch`` (0-based) and global optimiser ``step``."""
        if self.cosine_epochs:
            f = 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.cosine_epochs) / self.cosine_epochs))
        else:
            f = self.gamma ** sum(1 for m in self.milestones if epoch >= m)
        if self.warmup_steps > 0 and step < self.warmup_steps:
            f *= (step + 1) / self.warmup_steps
        return f

    def set(self, epoch: int, step: int) -> float:
        """Set every group's lr for (epoch, step); returns the base lr times the factor (what the logs show)."""
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


def build_schedule(cfg: ExperimentConfig, optimizer: torch.optim.Optimizer) -> MultiStepWarmup:
    """The schedule of ``cfg.train`` (``lr_schedule: cosine`` spans ``epochs``; else the milestones and gamma)."""
    t = cfg.train
    cosine_epochs = t.epochs if t.lr_schedule == "cosine" else None
    return MultiStepWarmup(optimizer, t.lr, t.lr_milestones, t.lr_gamma, t.warmup_steps, cosine_epochs=cosine_epochs)
