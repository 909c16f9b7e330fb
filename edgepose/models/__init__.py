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
    # bottom-up (cross-fusion and baseline)
    "xfuse_ghostnet": "edgepose.models.xfuse:xfuse_ghostnet",
    "xfuse_resnet18": "edgepose.models.xfuse:xfuse_resnet18",
    "xfuse_resnet50": "edgepose.models.xfuse:xfuse_resnet50",
    "lwop_mobilenet": "edgepose.models.lwop:lwop_mobilenet",
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


def build_model(name: str, **overrides: Any) -> nn.Module:
    """Build model ``name`` with keyword overrides; an unknown key raises ConfigError naming it.

    The returned module carries ``model_name`` and ``model_overrides`` so a checkpoint can rebuild it.
    """
    options = model_options(name)
    for key in overrides:
        if key not in options:
            raise ConfigError(f"model {name!r} has no option {key!r}; options: {', '.join(sorted(options))}")
    try:
        model = get_constructor(name)(**overrides)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
    model.model_name = name
    model.model_overrides = dict(overrides)
    return model
