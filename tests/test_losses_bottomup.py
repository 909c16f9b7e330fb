"""Bottom-up losses: LWOP's masked L2 and the cross-fusion weighting (paper Eqs. 8-12)."""

from __future__ import annotations

import pytest
import torch

from edgepose.losses import CrossFusionLoss, LwopLoss, masked_l2


def _targets(batch=2, h=3, w=4):
    torch.manual_seed(1)
    return torch.rand(batch, 19, h, w), torch.rand(batch, 38, h, w) * 2 - 1


def test_masked_l2_by_hand():
    pred = torch.zeros(2, 1, 1, 2)
    target = torch.tensor([[[[1.0, 2.0]]], [[[3.0, 0.0]]]])
    # Σ (pred − target)² / 2 / batch = (1 + 4 + 9) / 2 / 2
    assert masked_l2(pred, target).item() == pytest.approx(3.5)
    mask = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 1.0]]]])
    assert masked_l2(pred, target, mask).item() == pytest.approx((1 + 9) / 4)
    with pytest.raises(ValueError, match="shape"):
        masked_l2(pred, target[:, :, :, :1])


def test_cross_fusion_weights_apply_as_the_paper_says():
    heat, paf = _targets()
    # each output differs from its target by a constant c over every element -> L2 = c²·N/2/B
    n_heat, n_paf = heat[0].numel(), paf[0].numel()
    offsets = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]  # heat_u0 paf_u0 heat_v0 paf_v0 heat_u1 ...
    outputs = [(heat if i % 2 == 0 else paf) + c for i, c in enumerate(offsets)]
    total, terms = CrossFusionLoss()(outputs, heat, paf)

    def l2(c, n):
        return c * c * n / 2

    expected = {
        "heat_u0": l2(0.1, n_heat), "paf_u0": l2(0.2, n_paf), "heat_v0": l2(0.3, n_heat), "paf_v0": l2(0.4, n_paf),
        "heat_u1": l2(0.5, n_heat), "paf_u1": l2(0.6, n_paf), "heat_v1": l2(0.7, n_heat), "paf_v1": l2(0.8, n_paf),
    }  # fmt: skip
    assert list(terms) == list(expected)
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-5), name
    e = expected
    l_h = 0.01 * (e["heat_u0"] + e["heat_u1"]) + 1.0 * (e["heat_v0"] + e["heat_v1"])
    l_p = 0.01 * (e["paf_u0"] + e["paf_u1"]) + 1.0 * (e["paf_v0"] + e["paf_v1"])
    assert total.item() == pytest.approx(0.6 * l_h + 0.4 * l_p, rel=1e-5)
    # custom weights: only the after-cross heatmaps count
    total, _ = CrossFusionLoss(a=1, b=0, a_u=0, a_v=1)(outputs, heat, paf)
    assert total.item() == pytest.approx(e["heat_v0"] + e["heat_v1"], rel=1e-5)


def test_perfect_prediction_gives_zero_and_gradients_flow():
    heat, paf = _targets()
    outputs = [heat, paf, heat, paf]
    total, terms = CrossFusionLoss()(outputs, heat, paf)
    assert total.item() == 0 and all(t.item() == 0 for t in terms.values())
    pred = torch.zeros_like(heat, requires_grad=True)
    total, _ = CrossFusionLoss()([pred, paf, heat, paf], heat, paf)
    total.backward()
    # d/dpred of 0.6·0.01·Σ(pred−t)²/2/B = 0.006·(pred−t)/B
    torch.testing.assert_close(pred.grad, 0.006 * (0 - heat) / heat.shape[0])


def test_masks_zero_out_masked_pixels():
    heat, paf = _targets()
    outputs = [heat.clone(), paf.clone(), heat.clone(), paf.clone()]
    mask = torch.ones(2, 1, 3, 4)
    mask[:, :, 0, 0] = 0
    for o in outputs:
        o[:, :, 0, 0] += 5.0  # wrong only where the mask is 0
    total, _ = CrossFusionLoss()(outputs, heat, paf, mask=mask)
    assert total.item() == 0
    total_unmasked, _ = CrossFusionLoss()(outputs, heat, paf)
    assert total_unmasked.item() > 0
    # separate masks: heat masked, pafs not -> only PAF terms remain
    _, terms = CrossFusionLoss()(outputs, heat, paf, heat_mask=mask, paf_mask=torch.ones(2, 1, 3, 4))
    assert terms["heat_v0"].item() == 0 and terms["paf_v0"].item() > 0


def test_output_count_is_checked():
    heat, paf = _targets()
    with pytest.raises(ValueError, match="groups of 4"):
        CrossFusionLoss()([heat, paf], heat, paf)
    with pytest.raises(ValueError, match="pairs"):
        LwopLoss()([heat], heat, paf)


def test_lwop_loss_is_the_plain_sum():
    heat, paf = _targets()
    outputs = [heat + 0.1, paf - 0.2, heat + 0.3, paf]
    total, terms = LwopLoss()(outputs, heat, paf)
    assert list(terms) == ["heat0", "paf0", "heat1", "paf1"]
    assert terms["paf1"].item() == 0
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-6)
    assert terms["heat0"].item() == pytest.approx(0.01 * heat[0].numel() / 2, rel=1e-5)
