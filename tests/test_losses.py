"""JointsMSELoss (SimpleBaseline's top-down heatmap loss) against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from edgepose.losses import JointsMSELoss

# one image, two joints, 1×2 heatmaps: joint 0 predicts (1, 2) for a target (0, 0), joint 1 (3, 3) for (1, 1)
PRED = torch.tensor([[[[1.0, 2.0]], [[3.0, 3.0]]]])
TARGET = torch.tensor([[[[0.0, 0.0]], [[1.0, 1.0]]]])


def test_value_without_target_weights():
    # squared errors 1, 4 | 4, 4: per joint ½·mean = ½·2.5 and ½·4, averaged over the joints = 1.625
    assert float(JointsMSELoss()(PRED, TARGET)) == pytest.approx(1.625)
    assert float(JointsMSELoss(use_target_weight=False)(PRED, TARGET, torch.tensor([[0.0, 0.0]]))) == 1.625


@pytest.mark.parametrize("shape", [(1, 2), (1, 2, 1)])
def test_target_weights_scale_each_joint(shape):
    # weight w multiplies prediction and target, so a joint's squared error is scaled by w²
    zero_second = torch.tensor([1.0, 0.0]).reshape(shape)
    assert float(JointsMSELoss()(PRED, TARGET, zero_second)) == pytest.approx(0.5 * (1 + 4 + 0 + 0) / 4)  # 0.625
    half_second = torch.tensor([1.0, 0.5]).reshape(shape)
    assert float(JointsMSELoss()(PRED, TARGET, half_second)) == pytest.approx(0.5 * (1 + 4 + 1 + 1) / 4)  # 0.875


def test_batch_mean_and_gradient():
    pred = torch.cat([PRED, TARGET]).requires_grad_()  # the second image is perfect: halves the loss
    loss = JointsMSELoss()(pred, torch.cat([TARGET, TARGET]), torch.ones(2, 2, 1))
    assert float(loss.detach()) == pytest.approx(1.625 / 2)
    loss.backward()
    # d/dp of ½·mean((p − t)²) over 8 values = (p − t) / 8
    assert torch.allclose(pred.grad[0], (PRED - TARGET) / 8) and not pred.grad[1].any()
