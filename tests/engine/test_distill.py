"""Knowledge distillation in top-down training (``train.teacher`` / ``train.distill_weight``, engine/distill.py).

The mixing rule is checked against hand-computed targets; the hook in the real top-down task against a teacher
run independently on the same batch (with the ground truth zeroed and w = 1, the student is trained towards the
teacher's heatmaps and nothing else); and a real 2-step training run on real LSPet photos.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from edgepose.config import apply_overrides
from edgepose.engine.checkpoint import load_checkpoint, model_info_record, save_checkpoint
from edgepose.engine.distill import Distiller, check_compatible
from edgepose.errors import ConfigError
from edgepose.meta import info_of
from edgepose.models import build_model
from tests.conftest import TINY_FLPN


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    torch.set_num_threads(1)


class _Constant(nn.Module):
    """A 'teacher' whose heatmaps are a fixed tensor, whatever the input (shape (K, h, w), broadcast over B)."""

    def __init__(self, maps: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("maps", maps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [torch.zeros(1), self.maps.expand(x.shape[0], *self.maps.shape)]  # the last output counts


def test_targets_mix_labelled_joints_and_give_unlabelled_ones_to_the_teacher() -> None:
    teacher_maps = torch.rand(3, 4, 4)
    gt = torch.rand(2, 3, 4, 4)
    weight = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]).unsqueeze(-1)  # B x K x 1, as the dataset gives
    target, new_weight = Distiller(_Constant(teacher_maps), 0.3).targets(torch.zeros(2, 3, 16, 16), gt, weight)
    for b in range(2):
        for k in range(3):
            if weight[b, k] > 0:
                assert torch.allclose(target[b, k], 0.7 * gt[b, k] + 0.3 * teacher_maps[k])
                assert new_weight[b, k] == weight[b, k]
            else:
                assert torch.allclose(target[b, k], teacher_maps[k]) and new_weight[b, k] == pytest.approx(0.3)
    # w = 0: the targets and weights of training without a teacher
    target, new_weight = Distiller(_Constant(teacher_maps), 0.0).targets(torch.zeros(2, 3, 16, 16), gt, weight)
    assert torch.allclose(target * (weight[..., None] > 0), gt * (weight[..., None] > 0))
    assert torch.equal(new_weight, weight)
    with pytest.raises(ConfigError, match="distill_weight"):
        Distiller(_Constant(teacher_maps), 1.5)


def test_teacher_heatmaps_of_another_size_are_resized_bilinearly() -> None:
    ramp = torch.linspace(0, 1, 8).expand(8, 8)  # a horizontal ramp: bilinear resizing keeps it a ramp
    distiller = Distiller(_Constant(ramp.expand(2, 8, 8).clone()), 1.0)
    maps = distiller.teacher_heatmaps(torch.zeros(1, 3, 32, 32), (4, 4))
    assert maps.shape == (1, 2, 4, 4)
    assert torch.all(maps[..., 1:] > maps[..., :-1]) and torch.allclose(maps[:, :, 0], maps[:, :, 3])


def test_a_teacher_of_other_keypoints_size_or_normalisation_is_refused() -> None:
    student = info_of(build_model("flpn_sres50", keypoints="lsp", **TINY_FLPN))
    check_compatible(student, student, "t.pt")  # the same kind of model is fine
    coco = info_of(build_model("flpn_sres50", keypoints="coco", **TINY_FLPN))
    for teacher, why in ((coco, "keypoints coco"), (student.replace(input_size=(96, 96)), "input size \\[96, 96\\]"),
                         (student.replace(normalisation="openpose"), "normalisation 'openpose'")):  # fmt: skip
        with pytest.raises(ConfigError, match=f"train.teacher.*t.pt.*{why}"):
            check_compatible(teacher, student, "t.pt")


def test_teacher_key_is_validated_by_the_config(tiny_lsp_experiment, tmp_path: Path) -> None:
    cfg = tiny_lsp_experiment(tmp_path, [1, 2])
    with pytest.raises(ConfigError, match="distill_weight"):
        apply_overrides(cfg, {"train.teacher": "t.pt", "train.distill_weight": -0.1})
    with pytest.raises(ConfigError, match="train.teacher"):
        apply_overrides(cfg, {"task": "bottomup", "train.teacher": "t.pt"})


# ------------------------------------------------------------------------------------- real LSPet photos
def _teacher_checkpoint(task, path: Path) -> tuple[nn.Module, Path]:
    """A tiny FLPN of the task's keypoints and size, its final bias raised so its heatmaps are unlike the labels."""
    torch.manual_seed(1)
    teacher = task.build_model().eval()
    last = [m for m in teacher.modules() if isinstance(m, nn.Conv2d)][-1]
    nn.init.constant_(last.bias, 0.25)
    save_checkpoint(path, {"model": teacher.state_dict(), "model_name": "flpn_sres50",
                           "model_overrides": dict(TINY_FLPN), "model_info": model_info_record(teacher)})  # fmt: skip
    return teacher, path


def test_student_is_trained_towards_the_teacher(tmp_path: Path, make_lsp_subset, tiny_lsp_experiment) -> None:
    from edgepose.engine.topdown import TopdownTask
    from edgepose.engine.trainer import train_experiment

    root = make_lsp_subset(tmp_path / "lsp", 6)
    base = tiny_lsp_experiment(root, [5, 6])
    teacher, ckpt = _teacher_checkpoint(TopdownTask(base), tmp_path / "teacher.pt")
    task = TopdownTask(apply_overrides(base, {"train.teacher": str(ckpt), "train.distill_weight": 1.0}))
    torch.manual_seed(0)
    student = task.build_model().eval()  # eval: two forward passes give the same heatmaps
    batch = next(iter(torch.utils.data.DataLoader(task.train_dataset(), batch_size=4)))
    batch["target"].zero_()  # no ground truth left: whatever the loss trains towards comes from the teacher
    loss, _ = task.loss(student, batch)
    with torch.no_grad():
        expected = 0.5 * torch.mean((student(batch["image"]) - teacher(batch["image"])) ** 2)  # every weight is 1
        without = 0.5 * torch.mean(student(batch["image"]) ** 2 * (batch["target_weight"][..., None] > 0))
    assert torch.allclose(loss, expected, rtol=1e-5), (float(loss), float(expected))
    assert not torch.allclose(loss, without, rtol=1e-2)

    out = tmp_path / "run"
    small = {"train.epochs": 1, "train.max_steps_per_epoch": 2, "train.batch_size": 4, "train.log_every": 1,
             "train.distill_weight": 0.5}  # fmt: skip
    metrics = train_experiment(apply_overrides(task.cfg, small), out_dir=out, progress=False)
    assert "PCK@0.2" in metrics
    saved = load_checkpoint(out / "last.pt")
    assert saved["step"] == 2 and set(saved["model"]) == set(student.state_dict())  # the teacher is not saved
