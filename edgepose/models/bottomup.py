"""What every bottom-up (heatmaps + PAFs) network in edgepose shares: its output contract and loss family.

Lightweight OpenPose and the cross-fusion networks differ in their stages, not in what they promise the rest
of the package: 19 heatmaps and 38 PAF channels at stride 8 of a 368×368 BGR image normalised as
(img − 128) / 256, a list of per-stage outputs during training and only the last stage's
``[heatmaps, pafs]`` with ``final_only`` (inference and ONNX export). :attr:`BottomUpPafNet.loss_family`
names the loss that supervises those per-stage outputs ("openpose": every stage's pair; "crossfusion": the
before- and after-cross pairs of every stage), so the training task reads it instead of guessing from a
class name.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from edgepose.keypoints import NUM_OPENPOSE_HEATMAPS, NUM_OPENPOSE_PAFS

__all__ = ["LOSS_FAMILIES", "BottomUpPafNet"]

LOSS_FAMILIES = ("openpose", "crossfusion")
"""The bottom-up loss families a model may name."""


class BottomUpPafNet(nn.Module):
    """Base of the bottom-up models: class attributes of the output contract, ``output_names``, ``final_only``.

    Subclasses set :attr:`loss_family` and :attr:`stage_outputs` (the names of one stage's outputs, in
    order), and keep ``num_stages`` and ``final_only`` as instance attributes.
    """

    task = "bottomup"
    loss_family: ClassVar[str]
    stage_outputs: ClassVar[tuple[str, ...]]
    stride = 8
    input_size = (368, 368)
    input_normalization = "openpose"
    num_heatmaps = NUM_OPENPOSE_HEATMAPS
    num_pafs = NUM_OPENPOSE_PAFS
    num_stages: int
    final_only: bool

    @property
    def output_names(self) -> list[str]:
        """Names of the tensors ``forward`` returns, in order (``heatmaps``, ``pafs`` with ``final_only``)."""
        if self.final_only:
            return ["heatmaps", "pafs"]
        return [f"{kind}{k}" for k in range(self.num_stages) for kind in self.stage_outputs]

    def set_final_only(self, flag: bool = True) -> BottomUpPafNet:
        """Return only the last stage's final [heatmaps, pafs] (inference / ONNX export)."""
        self.final_only = bool(flag)
        return self
