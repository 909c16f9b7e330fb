"""The optimiser over a task's parameter groups and one optimiser step.

:func:`build_optimizer` turns the task's groups (``lr_mult``, per-group weight decay) into Adam / AdamW / SGD;
:func:`train_step` is one forward / backward / update under autocast and the GradScaler, stopping every rank
with one clear error at the first non-finite loss rather than training a NaN model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from edgepose.engine.config import ExperimentConfig
from edgepose.engine.task import Task
from edgepose.errors import ConfigError, TrainingError

if TYPE_CHECKING:
    from edgepose.engine.state import TrainState


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


def check_finite(state: TrainState, loss_value: float, lr: float) -> None:
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
    check_finite(state, loss_value, lr)
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if t.grad_clip:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), t.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    state.step += 1
    return {"loss": loss_value, **{k: float(v) for k, v in (terms or {}).items() if k != "loss"}}
