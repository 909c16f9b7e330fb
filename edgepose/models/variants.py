"""Per-depth constructors (``flpn_sres50``, ``lpn101``, ...) from one class, without repeating its arguments.

``build_model`` validates override keys against a constructor's signature, so every constructor must expose
the class's keyword arguments. Rather than copy the same keyword list into each depth's function, a variant
is ``cls(depth=depth, **overrides)`` carrying the class's signature minus ``depth``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)


def depth_variant(cls: type[M], depth: int, name: str, doc: str) -> Callable[..., M]:
    """Constructor ``name(**overrides) -> cls(depth=depth, **overrides)`` with ``cls``'s keywords as signature."""

    def constructor(**overrides: Any) -> M:
        if "depth" in overrides:
            raise TypeError(f"{name}() fixes depth={depth}; use another constructor for another depth")
        return cls(depth=depth, **overrides)

    sig = inspect.signature(cls)
    constructor.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name != "depth"], return_annotation=cls
    )
    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = doc
    constructor.__module__ = cls.__module__
    return constructor
