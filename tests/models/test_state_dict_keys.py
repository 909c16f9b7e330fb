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
SHIPPED_OVERRIDES = {
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
    "shipped_flpn_small": ("flpn_sres50", SHIPPED_OVERRIDES, (208, 1193559, "84b8c56e0a32e12a")),
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
    checkpoint = torch.load(SHIPPED, map_location="cpu", weights_only=False)
    assert checkpoint["model_name"] == "flpn_sres50"
    assert checkpoint["model_overrides"] == SHIPPED_OVERRIDES
    model = build_model(checkpoint["model_name"], **checkpoint["model_overrides"])
    result = model.load_state_dict(checkpoint["model"], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
