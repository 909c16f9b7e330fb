"""Training losses: top-down JointsMSELoss and the bottom-up masked-L2 losses.

Losses are torch modules; the targets they compare against come from the codecs in ``edgepose.codecs``.
"""

from __future__ import annotations

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """SimpleBaseline's heatmap loss: ½·MSE per joint of (pred·w, target·w), averaged over joints.

    ``target_weight`` (B×K or B×K×1) zeroes joints that are unlabelled or fall outside the heatmap, so the
    network is not trained to predict "nothing" where a joint exists but was not annotated.
    """

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, k = output.shape[:2]
        pred = output.reshape(b, k, -1)
        gt = target.reshape(b, k, -1)
        if self.use_target_weight and target_weight is not None:
            w = target_weight.reshape(b, k, 1).to(pred.dtype)
            pred, gt = pred * w, gt * w
        # mean over batch and pixels per joint, ×0.5, then mean over joints == 0.5 · mean over everything
        return 0.5 * torch.mean((pred - gt) ** 2)
