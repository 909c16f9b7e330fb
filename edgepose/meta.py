"""What must be known to run a pose network correctly, in one dataclass that travels with the model.

:class:`ModelInfo` is *born* when a model is built (:func:`edgepose.models.build_model` calls
:func:`describe_network` and sets ``model.model_info``), then *written* from that attribute and *read back*
strictly, without defaults:

* checkpoints hold it as a plain dict under ``"model_info"`` (:meth:`ModelInfo.to_dict` / :meth:`from_dict`);
* ONNX files hold it in ``metadata_props`` as ``edgepose.<field>`` JSON strings (:meth:`to_metadata` /
  :meth:`from_metadata`);
* the runtime's :class:`~edgepose.runtime.estimator.PoseEstimator` takes it as is.

Fields:

=================== ===============================================================================
``model_name``      the :func:`edgepose.models.build_model` name (``flpn_sres50``, ``xfuse_ghostnet``)
``task``            ``"topdown"`` (heatmaps of person crops) or ``"bottomup"`` (heatmaps + PAFs)
``input_size``      ``[H, W]``: the crop size of top-down models; for bottom-up models H is the default
                    inference height (their spatial axes are dynamic)
``normalisation``   a row of :data:`NORMALISATIONS` (channel order, mean, std in 0..255 pixel units)
``stride``          input pixels per output pixel
``keypoints``       the keypoint set's name; ``keypoint_spec`` holds the whole set (names, flip pairs,
                    skeleton, sigmas), so a custom set keeps its flips and drawing through every file
``codec``           the decoder: ``msra`` / ``dark`` (top-down heatmaps), ``paf`` (bottom-up)
``outputs``         the output names, in order (fixed by the task)
=================== ===============================================================================

Nothing is guessed: a file without a field, or whose fields contradict each other (a keypoint set whose
table differs from the built-in set of the same name, outputs that are not the task's), is one
:class:`~edgepose.errors.EdgeposeError` line naming the file. The only look-up is by *name*: a file written
before the full keypoint table was stored (edgepose 0.1, e.g. the shipped model) names a built-in set
(``coco``, ``mpii``, ``lsp``, ``openpose18``) whose table is taken from :mod:`edgepose.keypoints`.

Floor module: no numpy, no torch (importable by the runtime and by ``models/``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from edgepose.errors import EdgeposeError
from edgepose.keypoints import KEYPOINT_SPECS, KeypointSpec

__all__ = [
    "CODECS_BY_TASK",
    "NORMALISATIONS",
    "TASK_OUTPUTS",
    "ModelInfo",
    "Normalisation",
    "describe_network",
    "info_of",
]

TASK_OUTPUTS: dict[str, tuple[str, ...]] = {"topdown": ("heatmaps",), "bottomup": ("heatmaps", "pafs")}
"""The outputs each task's network returns, in order (what the ONNX exporter names them)."""

CODECS_BY_TASK: dict[str, tuple[str, ...]] = {"topdown": ("msra", "dark"), "bottomup": ("paf",)}
"""The decoders each task accepts; the first is a new model's default when its builder names none."""


@dataclass(frozen=True)
class Normalisation:
    """How pixels become network inputs: ``(pixel[order] - mean) / std``, with mean/std in 0..255 units."""

    order: str  # "RGB" or "BGR"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


NORMALISATIONS: dict[str, Normalisation] = {
    # torchvision / timm ImageNet statistics: every top-down model of the FLPN / SimpleBaseline / LPN families
    "imagenet": Normalisation("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    # Lightweight OpenPose and the cross-fusion networks: (img - 128) / 256 on BGR
    "openpose": Normalisation("BGR", (128.0, 128.0, 128.0), (256.0, 256.0, 256.0)),
}
"""The one table of input normalisations; a new network family with another convention adds a row here."""

_REQUIRED = ("model_name", "task", "input_size", "normalisation", "stride", "keypoints", "codec", "outputs")


def _spec_to_dict(spec: KeypointSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "names": list(spec.names),
        "flip_pairs": [list(p) for p in spec.flip_pairs],
        "skeleton": [list(p) for p in spec.skeleton],
        "sigmas": None if spec.sigmas is None else list(spec.sigmas),
    }


def _spec_from_dict(data: Any) -> KeypointSpec:
    if not isinstance(data, Mapping):
        raise ValueError(f"keypoint_spec must be a mapping, got {type(data).__name__}")
    missing = [k for k in ("name", "names", "flip_pairs", "skeleton", "sigmas") if k not in data]
    if missing:
        raise ValueError(f"keypoint_spec lacks {', '.join(missing)}")
    return KeypointSpec(
        str(data["name"]),
        tuple(str(n) for n in data["names"]),
        tuple((int(a), int(b)) for a, b in data["flip_pairs"]),
        tuple((int(a), int(b)) for a, b in data["skeleton"]),
        None if data["sigmas"] is None else tuple(float(s) for s in data["sigmas"]),
    )


@dataclass(frozen=True)
class ModelInfo:
    """A pose network's metadata (see the module docstring). Invalid or inconsistent fields raise ValueError."""

    model_name: str
    task: str
    input_size: tuple[int, int]  # (H, W)
    normalisation: str
    stride: int
    keypoints: str
    codec: str | None = None  # None: the task's default decoder (CODECS_BY_TASK)
    outputs: tuple[str, ...] | None = None  # None: the task's outputs (TASK_OUTPUTS)
    edgepose_version: str = ""
    keypoint_spec: KeypointSpec | None = field(default=None, repr=False)  # None: the built-in set `keypoints`

    def __post_init__(self) -> None:
        if self.task not in TASK_OUTPUTS:
            raise ValueError(f"task must be one of {tuple(TASK_OUTPUTS)}, got {self.task!r}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {tuple(NORMALISATIONS)}, got {self.normalisation!r}")
        size = tuple(int(v) for v in self.input_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"input_size must be two positive integers (H, W), got {list(self.input_size)}")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "stride", int(self.stride))
        if self.stride <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")
        codec = self.codec if self.codec is not None else CODECS_BY_TASK[self.task][0]
        if codec not in CODECS_BY_TASK[self.task]:
            raise ValueError(f"codec of a {self.task} model must be one of {CODECS_BY_TASK[self.task]}, got {codec!r}")
        object.__setattr__(self, "codec", codec)
        outputs = TASK_OUTPUTS[self.task] if self.outputs is None else tuple(self.outputs)
        if outputs != TASK_OUTPUTS[self.task]:
            raise ValueError(f"outputs of a {self.task} model are {list(TASK_OUTPUTS[self.task])}, got {list(outputs)}")
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "keypoint_spec", self._resolve_spec())

    def _resolve_spec(self) -> KeypointSpec:
        """The keypoint table: the one given (checked against a built-in set of the same name), else the built-in
        set named ``keypoints``; a custom name without its table cannot be run correctly, so it is refused."""
        builtin = KEYPOINT_SPECS.get(self.keypoints)
        spec = self.keypoint_spec
        if spec is None:
            if builtin is None:
                raise ValueError(f"keypoint set {self.keypoints!r} is not built in and its table is not given")
            return builtin
        if spec.name != self.keypoints:
            raise ValueError(f"keypoints {self.keypoints!r} but the keypoint table is named {spec.name!r}")
        if builtin is not None and spec != builtin:
            raise ValueError(f"the keypoint table named {spec.name!r} differs from the built-in set of that name")
        return spec

    @property
    def num_keypoints(self) -> int:
        assert self.keypoint_spec is not None
        return self.keypoint_spec.num_keypoints

    @property
    def input_normalisation(self) -> Normalisation:
        """The :data:`NORMALISATIONS` row of this model."""
        return NORMALISATIONS[self.normalisation]

    def replace(self, **changes: Any) -> ModelInfo:
        """A copy with ``changes`` (validated like a new one): e.g. the decoder an evaluation config picks."""
        return replace(self, **changes)

    # ---------------------------------------------------------------------------------- plain dicts
    def to_dict(self) -> dict[str, Any]:
        """JSON-able: every field, the keypoint table in full (what checkpoints store)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "keypoint_spec"}
        out["input_size"], out["outputs"] = list(self.input_size), list(self.outputs or ())
        assert self.keypoint_spec is not None
        out["keypoint_spec"] = _spec_to_dict(self.keypoint_spec)
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> ModelInfo:
        """Inverse of :meth:`to_dict`; anything missing or inconsistent is one EdgeposeError naming ``path``."""
        if not isinstance(data, Mapping):
            raise EdgeposeError(f"model metadata must be a mapping, got {type(data).__name__}", path)
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise EdgeposeError(f"model metadata lacks {', '.join(missing)}", path)
        values = {k: data[k] for k in (*_REQUIRED, "edgepose_version") if k in data}
        try:
            if data.get("keypoint_spec") is not None:
                values["keypoint_spec"] = _spec_from_dict(data["keypoint_spec"])
            return cls(**values)
        except (TypeError, ValueError, EdgeposeError) as exc:
            raise EdgeposeError(f"bad model metadata: {exc}", path) from None

    # ---------------------------------------------------------------------------------- ONNX metadata
    def to_metadata(self) -> dict[str, str]:
        """``metadata_props`` entries: every field of :meth:`to_dict` JSON-encoded under ``edgepose.<field>``."""
        return {f"edgepose.{k}": json.dumps(v) for k, v in self.to_dict().items()}

    def attach(self, onnx_model: Any) -> None:
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
        names = {*_REQUIRED, "edgepose_version", "keypoint_spec"}
        values: dict[str, Any] = {}
        for key, raw in props.items():
            if key.startswith("edgepose.") and key[len("edgepose.") :] in names:
                try:
                    values[key[len("edgepose.") :]] = json.loads(raw)
                except json.JSONDecodeError:
                    raise EdgeposeError(f"malformed metadata {key}={raw!r}", path) from None
        if not values:
            raise EdgeposeError("ONNX model has no edgepose metadata; export it with `edgepose export`", path)
        return cls.from_dict(values, path)


def describe_network(
    network: Any, *, model_name: str, keypoints: str | KeypointSpec | None = None, codec: str | None = None
) -> ModelInfo:
    """The :class:`ModelInfo` of a freshly built network, from the attributes its class declares.

    Every network states ``task``, ``stride``, ``input_size`` and ``input_normalization``; top-down networks also
    ``num_keypoints``. The keypoint set is the caller's (``keypoints``: a built-in name or a custom
    :class:`KeypointSpec`); bottom-up networks are OpenPose-18. With no set given, a top-down network of the
    constructors' default 17 channels is COCO (the set those defaults were written for); any other count without
    a named set is refused rather than labelled by its size.
    """
    task = getattr(network, "task", None)
    if task not in TASK_OUTPUTS:
        raise ValueError(f"{type(network).__name__} declares no task ('topdown' or 'bottomup')")
    missing = [a for a in ("stride", "input_size", "input_normalization") if getattr(network, a, None) is None]
    if missing:
        raise ValueError(f"{type(network).__name__} does not declare {', '.join(missing)}")
    if task == "bottomup":
        spec = KEYPOINT_SPECS["openpose18"]
        if keypoints is not None and (keypoints if isinstance(keypoints, str) else keypoints.name) != spec.name:
            raise ValueError(f"a bottom-up network outputs the openpose18 keypoints, not {keypoints!r}")
    else:
        spec = _topdown_spec(network, keypoints)
    return ModelInfo(
        model_name=model_name,
        task=task,
        input_size=tuple(network.input_size),
        normalisation=str(network.input_normalization),
        stride=int(network.stride),
        keypoints=spec.name,
        codec=codec,
        edgepose_version=_version(),
        keypoint_spec=spec,
    )


def _topdown_spec(network: Any, keypoints: str | KeypointSpec | None) -> KeypointSpec:
    k = int(getattr(network, "num_keypoints", 0))
    if keypoints is None:
        if k != KEYPOINT_SPECS["coco"].num_keypoints:
            raise ValueError(f"a top-down network of {k} keypoints needs its keypoint set named (keypoints=...)")
        keypoints = "coco"
    if isinstance(keypoints, str):
        if keypoints not in KEYPOINT_SPECS:
            raise ValueError(f"unknown keypoint set {keypoints!r}; known: {', '.join(KEYPOINT_SPECS)}")
        keypoints = KEYPOINT_SPECS[keypoints]
    if keypoints.num_keypoints != k:
        raise ValueError(f"keypoint set {keypoints.name!r} has {keypoints.num_keypoints} keypoints, the network {k}")
    return keypoints


def _version() -> str:
    from edgepose import __version__

    return __version__


def info_of(model: Any) -> ModelInfo:
    """``model.model_info`` (set by :func:`edgepose.models.build_model`), or one EdgeposeError line."""
    info = getattr(model, "model_info", None)
    if not isinstance(info, ModelInfo):
        why = getattr(model, "model_info_missing", None)
        raise EdgeposeError(why or f"{type(model).__name__} carries no model metadata (model_info); build it with "
                            "edgepose.models.build_model")  # fmt: skip
    return info
