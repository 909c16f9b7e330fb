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


# ------------------------------------------------------------------------------ bottom-up (PAF) losses
def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Lightweight OpenPose's per-output loss: Σ over all elements of ((pred − target)·mask)², / 2 / batch.

    ``mask`` (B×1×h×w or B×C×h×w, 1 = supervised, 0 = crowd/unlabelled region) broadcasts over channels.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    diff = pred - target
    if mask is not None:
        diff = diff * mask.to(diff.dtype)
    return (diff * diff).sum() / 2 / pred.shape[0]


def _masks(
    mask: torch.Tensor | None, heat_mask: torch.Tensor | None, paf_mask: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    return (heat_mask if heat_mask is not None else mask), (paf_mask if paf_mask is not None else mask)


class CrossFusionLoss(nn.Module):
    """The cross-fusion paper's loss (Eqs. 8–12; SPEC A.2.5).

    For the model's output list [heat_u0, paf_u0, heat_v0, paf_v0, heat_u1, ...] (any number of stages):

        L_H = a_u · Σ_k L(heat_u^k) + a_v · Σ_k L(heat_v^k)
        L_P = b_u · Σ_k L(paf_u^k)  + b_v · Σ_k L(paf_v^k)
        L   = a · L_H + b · L_P

    where L is :func:`masked_l2` against the heatmap target (B×19×h×w, background channel included) or the
    PAF target (B×38×h×w). ``mask`` applies to both map types; ``heat_mask`` / ``paf_mask`` override it per
    type. ``forward`` returns ``(total, terms)`` where ``terms`` maps each output name ("heat_u0", ...) to
    its *unweighted* L2 value, so training can log every stage before and after the cross.
    """

    def __init__(
        self, a: float = 0.6, b: float = 0.4, a_u: float = 0.01, a_v: float = 1.0, b_u: float = 0.01, b_v: float = 1.0
    ) -> None:
        super().__init__()
        self.a, self.b, self.a_u, self.a_v, self.b_u, self.b_v = a, b, a_u, a_v, b_u, b_v

    def weight(self, name: str) -> float:
        """The total weight of output ``name`` ("heat_u0", "paf_v1", ...) in the loss."""
        kind = name.rstrip("0123456789")
        return {
            "heat_u": self.a * self.a_u,
            "heat_v": self.a * self.a_v,
            "paf_u": self.b * self.b_u,
            "paf_v": self.b * self.b_v,
        }[kind]

    def forward(
        self,
        outputs: list[torch.Tensor] | tuple[torch.Tensor, ...],
        heat_target: torch.Tensor,
        paf_target: torch.Tensor,
        mask: torch.Tensor | None = None,
        heat_mask: torch.Tensor | None = None,
        paf_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if len(outputs) == 0 or len(outputs) % 4:
            raise ValueError(
                f"cross-fusion outputs come in groups of 4 per stage (heat_u, paf_u, heat_v, paf_v), got {len(outputs)}"
            )
        hm, pm = _masks(mask, heat_mask, paf_mask)
        terms: dict[str, torch.Tensor] = {}
        total = outputs[0].new_zeros(())
        for k in range(len(outputs) // 4):
            heat_u, paf_u, heat_v, paf_v = outputs[4 * k : 4 * k + 4]
            for name, pred, target, m in (
                (f"heat_u{k}", heat_u, heat_target, hm),
                (f"paf_u{k}", paf_u, paf_target, pm),
                (f"heat_v{k}", heat_v, heat_target, hm),
                (f"paf_v{k}", paf_v, paf_target, pm),
            ):
                term = masked_l2(pred, target, m)
                terms[name] = term
                total = total + self.weight(name) * term
        return total, terms


class LwopLoss(nn.Module):
    """Lightweight OpenPose's loss: the plain sum of :func:`masked_l2` over all outputs
    [heat0, paf0, heat1, paf1, ...]. Returns ``(total, terms)`` with terms named "heat0", "paf0", ..."""

    def forward(
        self,
        outputs: list[torch.Tensor] | tuple[torch.Tensor, ...],
        heat_target: torch.Tensor,
        paf_target: torch.Tensor,
        mask: torch.Tensor | None = None,
        heat_mask: torch.Tensor | None = None,
        paf_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if len(outputs) == 0 or len(outputs) % 2:
            raise ValueError(f"LWOP outputs come in (heatmaps, pafs) pairs, got {len(outputs)}")
        hm, pm = _masks(mask, heat_mask, paf_mask)
        terms: dict[str, torch.Tensor] = {}
        total = outputs[0].new_zeros(())
        for k in range(len(outputs) // 2):
            terms[f"heat{k}"] = masked_l2(outputs[2 * k], heat_target, hm)
            terms[f"paf{k}"] = masked_l2(outputs[2 * k + 1], paf_target, pm)
            total = total + terms[f"heat{k}"] + terms[f"paf{k}"]
        return total, terms
