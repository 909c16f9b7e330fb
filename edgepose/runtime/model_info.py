"""What the runtime needs to know about an exported network, stored inside the ``.onnx`` file.

:func:`edgepose.export.onnx.export_onnx` writes these fields into the ONNX model's ``metadata_props`` (one
string per key, JSON-encoded), so a device holding only the ``.onnx`` file knows how to pre-process images
and decode outputs without torch or the training config:

=================== ===============================================================================
``model_name``      the :func:`edgepose.models.build_model` name (``flpn_sres50``, ``xfuse_ghostnet``)
``task``            ``"topdown"`` (heatmaps of person crops) or ``"bottomup"`` (heatmaps + PAFs)
``input_size``      ``[H, W]`` the network was exported at: the crop size for top-down models; for
                    bottom-up models H is the default inference height (spatial axes are dynamic)
``normalisation``   ``"imagenet"``: RGB, (x/255 - mean) / std; ``"openpose"``: BGR, (x - 128) / 256
``stride``          input pixels per output pixel (4 top-down, 8 bottom-up)
``keypoints``       keypoint set of the output channels (``coco`` / ``openpose18``)
``codec``           top-down heatmap decoder (``msra`` / ``dark``)
``outputs``         output names, in order
=================== ===============================================================================

numpy-free, torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from edgepose.errors import EdgeposeError

TASKS = ("topdown", "bottomup")
NORMALISATIONS = ("imagenet", "openpose")


@dataclass(frozen=True)
class ModelInfo:
    model_name: str
    task: str
    input_size: tuple[int, int]  # (H, W)
    normalisation: str
    stride: int
    keypoints: str
    codec: str = "msra"
    outputs: tuple[str, ...] = ("heatmaps",)
    edgepose_version: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "stride", int(self.stride))

    def to_metadata(self) -> dict[str, str]:
        """``metadata_props`` entries: every field JSON-encoded under ``edgepose.<field>``."""
        return {f"edgepose.{k}": json.dumps(v) for k, v in asdict(self).items()}

    def attach(self, onnx_model) -> None:
        """Set (replace) the edgepose entries of an ``onnx.ModelProto``'s ``metadata_props``."""
        props = self.to_metadata()
        kept = [(p.key, p.value) for p in onnx_model.metadata_props if p.key not in props]
        del onnx_model.metadata_props[:]
        for key, value in [*kept, *props.items()]:
            entry = onnx_model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx_model.producer_name = "edgepose"
        onnx_model.producer_version = self.edgepose_version

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], path: str | None = None) -> ModelInfo:
        """Inverse of :meth:`to_metadata`; a model exported by other tools raises EdgeposeError naming the file."""
        names = {f.name for f in fields(cls)}
        values = {}
        for key, raw in props.items():
            if key.startswith("edgepose.") and key[len("edgepose.") :] in names:
                try:
                    values[key[len("edgepose.") :]] = json.loads(raw)
                except json.JSONDecodeError:
                    raise EdgeposeError(f"malformed metadata {key}={raw!r}", path) from None
        required = ("model_name", "task", "input_size", "normalisation", "stride", "keypoints")
        missing = [k for k in required if k not in values]
        if missing:
            raise EdgeposeError(
                f"ONNX model has no edgepose metadata ({', '.join(missing)} missing); export it with `edgepose export`",
                path,
            )
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise EdgeposeError(f"bad edgepose metadata: {exc}", path) from None
