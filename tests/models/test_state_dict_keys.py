"""State-dict key names and shapes are a file format: checkpoints and the shipped model depend on them.

The digests below were taken from the models as they were before the table-driven builder
(``edgepose/models/topdown.py``) replaced three hand-written trunks; a refactor of the builders must leave
them unchanged. If a model's layout changes on purpose, old checkpoints stop loading: say so in the change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from edgepose.models import build_model

SHIPPED = Path(__file__).resolve().parents[2] / "edgepose" / "assets" / "model" / "model.pt"
FLPN_SMALL_OVERRIDES = {  # the small FLPN of configs/flpn_small_lspet_160x160.yaml (the previous default)
    "num_keypoints": 14,
    "input_size": [160, 160],
    "blocks": [1, 1, 1, 1],
    "width": 0.5,
    "deconv_channels": 128,
}

# case -> (model, overrides, (state-dict entries, values, sha256[:16] of the "key shape" lines))
PINNED = {
    "flpn_sres50": ("flpn_sres50", {}, (664, 10133418, "97df9fa9f7a44fc4")),
    "simplebaseline_r50": ("simplebaseline_r50", {}, (338, 34054409, "2f0fc901bbab2968")),
    "lpn50": ("lpn50", {}, (466, 2937833, "56537e4fc71a23f1")),
    "xfuse_ghostnet": ("xfuse_ghostnet", {}, (528, 8862825, "3946684d843c9fe8")),
    "lwop_mobilenet": ("lwop_mobilenet", {}, (250, 4109011, "89989135452c94b0")),
    "flpn_small_lspet": ("flpn_sres50", FLPN_SMALL_OVERRIDES, (208, 1193559, "84b8c56e0a32e12a")),
}


def _layout(state: dict[str, torch.Tensor]) -> tuple[int, int, str]:
    text = "\n".join(f"{k} {tuple(v.shape)}" for k, v in state.items())
    return len(state), sum(v.numel() for v in state.values()), hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize("case", list(PINNED))
def test_state_dict_layout_is_pinned(case):
    name, overrides, expected = PINNED[case]
    assert _layout(build_model(name, **overrides).state_dict()) == expected


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped model not present")
def test_shipped_model_loads_strictly():
    """The shipped default (MoveNet-started mobilenetv2_fpn, LSP-14) rebuilds from its own name, overrides and
    metadata and takes its float16 state dict with no key missing or left over."""
    from edgepose.meta import ModelInfo

    checkpoint = torch.load(SHIPPED, map_location="cpu", weights_only=False)
    info = ModelInfo.from_dict(checkpoint["model_info"])
    assert checkpoint["model_name"] == info.model_name == "mobilenetv2_fpn"
    assert info.keypoints == "lsp" and tuple(info.input_size) == (192, 192)
    model = build_model(checkpoint["model_name"], keypoints=info.keypoints, **checkpoint["model_overrides"])
    result = model.load_state_dict({k: v.float() for k, v in checkpoint["model"].items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
