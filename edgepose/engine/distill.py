"""Knowledge distillation for top-down training: a trained teacher's heatmaps mixed into the targets.

``train.teacher: CKPT`` (an edgepose checkpoint) and ``train.distill_weight: w`` (in [0, 1]) make every training
step run the teacher (eval mode, no gradients) on the very batch the student sees — same crops, same
augmentation, same flips — and train the student, with the task's usual loss, towards::

    target = (1 - w) * ground truth + w * teacher heatmaps

The teacher's heatmaps are resized bilinearly when its heatmap size differs from the student's (another output
stride at the same input size). A teacher whose heatmaps end in a sigmoid (``mobilenetv2_fpn``) and a student
trained on raw Gaussian targets share one scale: both peak at 1 where the joint is.

**Joints without a label** (target weight 0: unlabelled, or outside the crop) are supervised by the teacher alone,
at weight ``w``: the teacher has something to say about a joint LSPet left unlabelled (an occluded wrist), which
is what distillation on partly labelled crops is for; the ground truth there says nothing. With ``w = 0`` this is
exactly the loss without a teacher.

The teacher must predict the student's keypoint set (by name, in order) from the same input: same input size and
the same pixel normalisation. Anything else is refused in one line naming the checkpoint — a teacher fed another
normalisation or whose channel k is another joint would silently teach garbage.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgepose.errors import ConfigError
from edgepose.meta import ModelInfo

__all__ = ["Distiller", "distiller_for", "load_teacher"]


class Distiller:
    """A frozen teacher and the weight of its heatmaps in the targets (see the module docstring)."""

    def __init__(self, teacher: nn.Module, weight: float) -> None:
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"config key 'train.distill_weight': {weight!r} must be in [0, 1]")
        self.teacher = teacher.eval().requires_grad_(False)
        self.weight = float(weight)

    @torch.no_grad()
    def teacher_heatmaps(self, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The teacher's final heatmaps for ``images`` (float32), resized bilinearly to ``size`` when they differ."""
        first = next(self.teacher.parameters(), None)
        if first is not None and first.device != images.device:
            self.teacher.to(images.device)
        self.teacher.eval()
        output = self.teacher(images)
        heatmaps = (output[-1] if isinstance(output, (list, tuple)) else output).float()
        if tuple(heatmaps.shape[-2:]) != tuple(size):
            heatmaps = F.interpolate(heatmaps, size=tuple(size), mode="bilinear", align_corners=False)
        return heatmaps

    def targets(
        self, images: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, target_weight)`` with the teacher mixed in: labelled joints ``(1-w) gt + w T`` at their own
        weight; unlabelled joints (weight 0) ``T`` alone at weight ``w``."""
        teacher = self.teacher_heatmaps(images, tuple(target.shape[-2:])).to(target.dtype)
        w = self.weight
        labelled = (target_weight.reshape(*target.shape[:2], 1, 1) > 0).to(target.dtype)
        mixed = labelled * ((1.0 - w) * target + w * teacher) + (1.0 - labelled) * teacher
        weight = torch.where(target_weight > 0, target_weight, torch.full_like(target_weight, w))
        return mixed, weight


def check_compatible(teacher: ModelInfo, student: ModelInfo, path: str | Path) -> None:
    """Refuse a teacher of another keypoint set, input size or input normalisation than the student's."""
    problems = []
    if tuple(teacher.keypoint_spec.names) != tuple(student.keypoint_spec.names):  # type: ignore[union-attr]
        problems.append(f"keypoints {teacher.keypoints} ({teacher.num_keypoints}) where the student predicts "
                        f"{student.keypoints} ({student.num_keypoints})")  # fmt: skip
    if tuple(teacher.input_size) != tuple(student.input_size):
        problems.append(f"input size {list(teacher.input_size)} where the student takes {list(student.input_size)}")
    if teacher.normalisation != student.normalisation:
        problems.append(f"input normalisation {teacher.normalisation!r} where the student's is "
                        f"{student.normalisation!r}")  # fmt: skip
    if teacher.task != student.task:
        problems.append(f"a {teacher.task} model where the student is {student.task}")
    if problems:
        raise ConfigError(f"config key 'train.teacher': the teacher {path} is unfit: {'; '.join(problems)}")


def load_teacher(path: str | Path, student: ModelInfo, weight: float) -> Distiller:
    """The checkpoint at ``path`` as a :class:`Distiller` for a student described by ``student``."""
    from edgepose.engine.checkpoint import build_model_from_checkpoint
    from edgepose.meta import info_of

    if not Path(path).is_file():
        raise ConfigError(f"config key 'train.teacher': no checkpoint at {path}")
    teacher, _ = build_model_from_checkpoint(path)
    check_compatible(info_of(teacher), student, path)
    return Distiller(teacher, weight)


def distiller_for(task: object, model: nn.Module) -> Distiller:
    """The task's :class:`Distiller`, loaded on first use (``train.teacher`` resolved against the config's folder)
    and checked against ``model``'s metadata; cached on the task. Top-down training calls this from its loss."""
    cached = getattr(task, "_distiller", None)
    if cached is not None:
        return cached
    from edgepose.engine.config import resolve_path
    from edgepose.engine.logging import say
    from edgepose.meta import info_of
    from edgepose.models.weights import unwrap_model

    cfg = task.cfg  # type: ignore[attr-defined]
    path = resolve_path(cfg, cfg.train.teacher)
    distiller = load_teacher(path, info_of(unwrap_model(model)), cfg.train.distill_weight)
    say(f"distilling from {path} ({info_of(distiller.teacher).model_name}, weight {distiller.weight:g})")
    task._distiller = distiller  # type: ignore[attr-defined]
    return distiller
