"""The one constructor style of every model: ``name = variant(ModelClass, "name", doc, depth=50)``.

Each model is a class whose keyword arguments are its options; each name in ``MODEL_TABLE`` is that class
with some of them fixed (``flpn_sres101`` is ``FLPN`` with ``depth=101``; ``lwop_mobilenet`` is
``LightweightOpenPose`` with nothing fixed). ``build_model`` validates override keys against a constructor's
signature, so a variant carries the class's signature minus the fixed keys: the options are written once, in
the class, and ``edgepose models`` lists them from there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["variant"]

M = TypeVar("M", bound=nn.Module)


def variant(cls: type[M], name: str, doc: str, **fixed: Any) -> Callable[..., M]:
    """Constructor ``name(**overrides) -> cls(**fixed, **overrides)`` with ``cls``'s keywords (minus ``fixed``)."""

    def constructor(**overrides: Any) -> M:
        clash = sorted(set(fixed) & set(overrides))
        if clash:
            fixed_text = ", ".join(f"{k}={fixed[k]!r}" for k in clash)
            raise TypeError(f"{name}() fixes {fixed_text}; use another constructor for another {clash[0]}")
        return cls(**fixed, **overrides)

    sig = inspect.signature(cls)
    constructor.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name not in fixed], return_annotation=cls
    )
    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = doc
    constructor.__module__ = cls.__module__
    return constructor
