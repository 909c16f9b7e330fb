"""Small stand-in networks for testing export, the runtime and ``edgepose predict`` without trained weights.

* :class:`TinyTopdown`: a few convolutions with the top-down contract (``task="topdown"``, ``(N, K, H/4, W/4)``
  heatmaps); exports in about a second.
* :class:`OracleBottomup`: a bottom-up "network" that ignores the pixels and returns the heatmaps and PAFs
  :class:`~edgepose.codecs.paf.PafCodec` renders for known people. Exported to ONNX it exercises the whole
  deployment path (resize, padding, decoding, scaling back) with an answer known in advance, the way the
  oracle tests check the codecs.

Both carry their metadata (``model_info``, :func:`edgepose.meta.describe_network`) as every built model does.
They are test helpers, not part of the package: any test imports them as ``standins`` (``tests/`` is on
``sys.path`` through ``tests/conftest.py``); ``benchmarks/bad_input_sweep.py`` adds ``tests/`` itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgepose.keypoints import KeypointSpec, coco_to_openpose, get_keypoint_spec
from edgepose.meta import describe_network


class TinyTopdown(nn.Module):
    task = "topdown"
    stride = 4
    input_normalization = "imagenet"

    def __init__(
        self, keypoints: str | KeypointSpec = "coco", input_size: tuple[int, int] = (64, 48), width: int = 16,
        codec: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        spec = get_keypoint_spec(keypoints) if isinstance(keypoints, str) else keypoints
        num_keypoints = spec.num_keypoints
        self.num_keypoints, self.input_size = num_keypoints, tuple(input_size)
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(width, num_keypoints, 1),
        )  # fmt: skip
        self.model_info = describe_network(self, model_name="tiny_topdown", keypoints=spec, codec=codec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OracleBottomup(nn.Module):
    """Returns fixed ``[heatmaps (N, 19, h, w), pafs (N, 38, h, w)]`` for any input, cropped to ``input / 8``.

    Build it with :meth:`from_coco_keypoints` for people given in image pixels of an image that the runtime
    will resize to ``height``.
    """

    task = "bottomup"
    stride = 8
    input_normalization = "openpose"

    def __init__(self, heatmaps: np.ndarray, pafs: np.ndarray, input_size: tuple[int, int] = (368, 368)) -> None:
        super().__init__()
        self.register_buffer("heatmaps", torch.as_tensor(heatmaps, dtype=torch.float32)[None])
        self.register_buffer("pafs", torch.as_tensor(pafs, dtype=torch.float32)[None])
        self.input_size = tuple(input_size)
        self.final_only = True
        self.model_info = describe_network(self, model_name="oracle_bottomup")

    @classmethod
    def from_coco_keypoints(cls, keypoints: np.ndarray, image_size: tuple[int, int], height: int = 368):
        """People ``(P, 17, 3)`` (x, y, v) in pixels of an image of ``image_size`` = (H, W), rendered at the
        network input the runtime makes of that image (height ``height``, padded to a multiple of 8)."""
        from edgepose.codecs.paf import PafCodec

        in_w = max(1, round(image_size[1] * height / image_size[0]))
        scale = np.array([in_w / image_size[1], height / image_size[0]])  # (sx, sy) of the runtime's resize
        kp = coco_to_openpose(np.asarray(keypoints, dtype=np.float64))
        found = kp[..., 2] > 0
        kp[..., :2] = np.where(found[..., None], (kp[..., :2] + 0.5) * scale - 0.5, 0.0)
        in_h, in_w = int(np.ceil(height / 8) * 8), int(np.ceil(in_w / 8) * 8)
        margin = 64  # zero maps beyond the image, so larger inputs (the export's parity check) work too
        heat, pafs = PafCodec().encode(kp, (in_h + margin, in_w + margin))
        return cls(heat, pafs, input_size=(height, height))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        zero = x[:, :1, ::8, ::8] * 0.0  # keeps the input in the graph and sets the output size
        h, w = zero.shape[2], zero.shape[3]
        return [self.heatmaps[:, :, :h, :w] + zero, self.pafs[:, :, :h, :w] + zero]


@torch.no_grad()
def unit_scale_outputs(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """Re-initialise an untrained model so its outputs have unit standard deviation on ``example``.

    Random-init pose heads are near zero (std-0.001 heads, zero-init BN), which makes a PyTorch-vs-ONNX parity
    tolerance of 1e-4 meaningless and heatmaps flat. Kaiming weights everywhere, BN gammas of 1, then the last
    convolution rescaled: outputs of order 1 with distinct peaks. Returns ``model`` (in eval mode).
    """
    model.eval()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
    out = model(example)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    last = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    std = float(torch.cat([o.flatten() for o in outs]).std())
    last.weight /= std
    if last.bias is not None:
        last.bias /= std
    return model


# A standing COCO-17 person as (x, y) offsets from its centre in units of its height: the one template that the
# bottom-up codec, dataset, task and oracle tests build their scenes from.
PERSON_TEMPLATE = np.array(
    [[0, -0.45], [-0.03, -0.48], [0.03, -0.48], [-0.07, -0.46], [0.07, -0.46], [-0.12, -0.33], [0.12, -0.33],
     [-0.16, -0.15], [0.16, -0.15], [-0.18, 0.0], [0.18, 0.0], [-0.08, 0.02], [0.08, 0.02], [-0.09, 0.25],
     [0.09, 0.25], [-0.1, 0.48], [0.1, 0.48]]
)  # fmt: skip


def standing_person(cx: float, cy: float, h: float, decimals: int | None = None) -> np.ndarray:
    """(17, 3) COCO keypoints (x, y, v=2) of a standing person centred at (cx, cy), ``h`` pixels tall.

    ``decimals`` rounds the coordinates (0: whole pixels, as a COCO annotation file might hold them).
    """
    kp = np.zeros((17, 3))
    kp[:, 0] = cx + PERSON_TEMPLATE[:, 0] * h
    kp[:, 1] = cy + PERSON_TEMPLATE[:, 1] * h
    if decimals is not None:
        kp[:, :2] = np.round(kp[:, :2], decimals)
    kp[:, 2] = 2
    return kp
