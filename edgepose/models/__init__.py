"""Model constructors and ``build_model(name, **overrides)``.

Every model is a class whose keyword arguments are its options, and every name below is that class with some
keywords fixed (``flpn_sres50 = variant(FLPN, ..., depth=50)``, :mod:`edgepose.models.variants`), called like a
function: ``flpn_sres50(gc=False, ratios=(2, 2, 2, 2))``. Ablations are keyword overrides, the same keys in
YAML (``model.overrides``) and on the command line (``--set gc=false``). ``build_model`` is a dictionary
lookup, not a registry: the table below is the whole list of models. Constructors are imported lazily so
that listing models stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from edgepose.errors import ConfigError
from edgepose.keypoints import KEYPOINT_SPECS, KeypointSpec
from edgepose.meta import TASK_OUTPUTS, ModelInfo, describe_network

# name -> "module:function"
MODEL_TABLE: dict[str, str] = {
    # top-down (FLPN and baselines)
    "flpn_sres50": "edgepose.models.flpn:flpn_sres50",
    "flpn_sres101": "edgepose.models.flpn:flpn_sres101",
    "flpn_sres152": "edgepose.models.flpn:flpn_sres152",
    "simplebaseline_r50": "edgepose.models.simplebaseline:simplebaseline_r50",
    "simplebaseline_r101": "edgepose.models.simplebaseline:simplebaseline_r101",
    "simplebaseline_r152": "edgepose.models.simplebaseline:simplebaseline_r152",
    "lpn50": "edgepose.models.lpn:lpn50",
    "lpn101": "edgepose.models.lpn:lpn101",
    "lpn152": "edgepose.models.lpn:lpn152",
    "mobilenetv2_fpn": "edgepose.models.mobilenetv2_pose:mobilenetv2_fpn",
    "mobilenetv2_deconv": "edgepose.models.mobilenetv2_pose:mobilenetv2_deconv",
    # bottom-up (cross-fusion and baseline)
    "xfuse_ghostnet": "edgepose.models.xfuse:xfuse_ghostnet",
    "xfuse_resnet18": "edgepose.models.xfuse:xfuse_resnet18",
    "xfuse_resnet50": "edgepose.models.xfuse:xfuse_resnet50",
    "lwop_mobilenet": "edgepose.models.lwop:lwop_mobilenet",
    "lwop_mobilenet_intel": "edgepose.models.lwop:lwop_mobilenet_intel",
    "lwop_resnet18": "edgepose.models.lwop_resnet:lwop_resnet18",
    "lwop_resnet50": "edgepose.models.lwop_resnet:lwop_resnet50",
}


def list_models() -> list[str]:
    """All model names, in the table's order."""
    return list(MODEL_TABLE)


def get_constructor(name: str) -> Callable[..., nn.Module]:
    """The constructor function of model ``name``; unknown names raise ConfigError listing the known ones."""
    if name not in MODEL_TABLE:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_TABLE)}")
    module_name, func_name = MODEL_TABLE[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)


def model_options(name: str) -> dict[str, Any]:
    """The overridable keyword arguments of model ``name`` with their defaults."""
    sig = inspect.signature(get_constructor(name))
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not inspect.Parameter.empty
    }


def build_model(
    name: str, *, keypoints: str | KeypointSpec | None = None, codec: str | None = None, **overrides: Any
) -> nn.Module:
    """Build model ``name`` with keyword overrides; an unknown key raises ConfigError naming it.

    This is where a model's metadata is born: the returned module carries ``model_info``
    (:class:`~edgepose.meta.ModelInfo`: task, keypoint set, input size, stride, normalisation, decoder), plus
    ``model_name`` and ``model_overrides`` so a checkpoint can rebuild it. ``keypoints`` names the keypoint set
    (a built-in name or a custom :class:`~edgepose.keypoints.KeypointSpec`) and fixes ``num_keypoints``;
    ``codec`` is the heatmap decoder (``msra`` / ``dark``; bottom-up models decode with ``paf``).
    """
    options = model_options(name)
    for key in overrides:
        if key not in options:
            raise ConfigError(f"model {name!r} has no option {key!r}; options: {', '.join(sorted(options))}")
    if keypoints is not None and "num_keypoints" in options:
        k = (KEYPOINT_SPECS[keypoints] if isinstance(keypoints, str) and keypoints in KEYPOINT_SPECS else keypoints)
        count = getattr(k, "num_keypoints", None)
        if count is not None and overrides.setdefault("num_keypoints", count) != count:
            raise ConfigError(
                f"model {name!r}: num_keypoints={overrides['num_keypoints']} but keypoint set {k.name!r} has {count}"
            )
    try:
        model = get_constructor(name)(**overrides)
        info = _born_info(model, name, keypoints, codec, overrides)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
    model.model_name = name
    model.model_overrides = dict(overrides)
    model.model_info = info
    return model


def _born_info(
    model: nn.Module, name: str, keypoints: str | KeypointSpec | None, codec: str | None, overrides: dict[str, Any]
) -> ModelInfo | None:
    """The metadata of a new model, or None when its keypoint set is unknown: a top-down model whose
    ``num_keypoints`` was changed without naming the set (a network to count FLOPs of is fine; exporting,
    saving or running it is refused by :func:`edgepose.meta.info_of`, never labelled by its channel count)."""
    if getattr(model, "task", None) not in TASK_OUTPUTS:
        model.model_info_missing = f"model {name!r} is not a pose network (it declares no task)"
        return None
    if keypoints is None and "num_keypoints" in overrides and model.task == "topdown":
        model.model_info_missing = (
            f"model {name!r} was built with num_keypoints={overrides['num_keypoints']} but no keypoint set: "
            "build it with keypoints=NAME (--set keypoints=lsp)"
        )
        return None
    return describe_network(model, model_name=name, keypoints=keypoints, codec=codec)


def checkpoint_fields(model: nn.Module) -> dict[str, Any]:
    """What a checkpoint needs to rebuild ``model`` exactly: its state dict, ``model_name``, ``model_overrides``
    and ``model_info`` (the metadata, as a plain dict). A model without metadata is refused with one line."""
    from edgepose.meta import info_of

    info = info_of(model)
    return {
        "model": model.state_dict(),
        "model_name": info.model_name,
        "model_overrides": dict(getattr(model, "model_overrides", {}) or {}),
        "model_info": info.to_dict(),
    }
