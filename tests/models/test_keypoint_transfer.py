"""A pose checkpoint of another keypoint set starts a fine-tune with the rows of the keypoints both sets share.

A COCO-17 ``mobilenetv2_fpn`` checkpoint loaded with ``model.pretrained`` into an LSP-14 one: LSP's left wrist row
of the final conv is COCO's left wrist row (COCO index 9, LSP index 11), the neck and head top (not in COCO) keep
their initialisation, and everything else is copied whole.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgepose.engine.checkpoint import load_pretrained, save_checkpoint
from edgepose.keypoints import COCO_KEYPOINTS, LSP_KEYPOINTS
from edgepose.models import build_model, checkpoint_fields
from edgepose.models.weights import keypoint_row_map


def test_keypoint_row_map_by_name() -> None:
    rows = keypoint_row_map(COCO_KEYPOINTS, LSP_KEYPOINTS)
    assert rows[LSP_KEYPOINTS.index("left_wrist")] == COCO_KEYPOINTS.index("left_wrist") == 9
    assert LSP_KEYPOINTS.index("neck") not in rows and LSP_KEYPOINTS.index("head_top") not in rows
    assert len(rows) == 12


def test_pretrained_coco_checkpoint_fills_lsp_rows_by_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    coco = build_model("mobilenetv2_fpn", keypoints="coco")
    with torch.no_grad():
        coco.final.weight.normal_()
        coco.final.bias.normal_()
    path = save_checkpoint(tmp_path / "coco.pt", checkpoint_fields(coco))
    lsp = build_model("mobilenetv2_fpn", keypoints="lsp")
    neck = LSP_KEYPOINTS.index("neck")
    before = lsp.final.weight[neck].clone()
    loaded, total = load_pretrained(lsp, path, show=False)
    assert loaded == total  # every tensor: the final conv through its shared rows
    wrist_lsp, wrist_coco = LSP_KEYPOINTS.index("left_wrist"), COCO_KEYPOINTS.index("left_wrist")
    assert torch.equal(lsp.final.weight[wrist_lsp], coco.final.weight[wrist_coco])
    assert torch.equal(lsp.final.bias[wrist_lsp], coco.final.bias[wrist_coco])
    assert torch.equal(lsp.final.weight[neck], before)  # no COCO row: left at its initialisation
    assert torch.equal(lsp.top[0].weight, coco.top[0].weight)
