"""Checkpoints: written atomically, read with errors that name the file, and enough to rebuild the model.

A checkpoint is a dict saved with :func:`torch.save`:

=================== ===================================================================================
``model``           the state dict (never with DistributedDataParallel's ``module.`` prefix)
``model_name``      the :func:`edgepose.models.build_model` name
``model_overrides`` its keyword overrides, so ``--weights ckpt.pt`` alone rebuilds the right model
``config``          the resolved experiment config (plain dict)
``epoch``/``step``  finished epochs / optimiser steps
``optimizer``,      state dicts needed to resume exactly (``None`` in weights-only exports)
``scheduler``,
``scaler``
``rng``             python / numpy / torch (CPU and CUDA) generator states, one entry per rank
``best_metric``     the best value of the task's primary metric so far
``metrics``         the metrics of the last evaluation
``edgepose_version``
=================== ===================================================================================

Everything in it is a tensor or plain Python data, so checkpoints load with ``weights_only=True`` (no
arbitrary code runs when opening a downloaded file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgepose.errors import CheckpointError, ConfigError

FORMAT = "edgepose-checkpoint"
REQUIRED_KEYS = ("model", "model_name", "model_overrides")


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, fsync, then ``os.replace``.

    A crash (or Ctrl-C) while saving leaves the previous file intact and no partial file behind.
    """
    from edgepose import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(state)
    payload.setdefault("format", FORMAT)
    payload.setdefault("edgepose_version", __version__)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read an edgepose checkpoint; missing, corrupt or foreign files raise CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path)
    if not path.is_file():
        raise CheckpointError("checkpoint path is not a file", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, garbage bytes, pickled code objects, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"corrupt or unreadable checkpoint ({type(exc).__name__}: {reason[:200]})"
        raise CheckpointError(message, path) from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        what = "a bare state dict" if _looks_like_state_dict(ckpt) else f"a {type(ckpt).__name__}"
        raise CheckpointError(
            f"not an edgepose checkpoint (it is {what}; expected keys {', '.join(REQUIRED_KEYS)})", path
        )
    return ckpt


def _looks_like_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop DataParallel / DistributedDataParallel's ``module.`` prefix (and torch.compile's ``_orig_mod.``)."""
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def state_dict_mismatches(model: nn.Module, state: Mapping[str, Any], limit: int = 5) -> list[str]:
    """Human-readable differences between ``model``'s parameters/buffers and ``state`` (first ``limit`` of each)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    out = []
    if shapes:
        out.append(f"{len(shapes)} shape mismatches: " + "; ".join(shapes[:limit]))
    if missing:
        out.append(f"{len(missing)} keys missing from the checkpoint: " + ", ".join(missing[:limit]))
    if unexpected:
        out.append(f"{len(unexpected)} unexpected keys: " + ", ".join(unexpected[:limit]))
    return out


def load_model_state(model: nn.Module, state: Mapping[str, Any], path: str | Path | None = None) -> None:
    """Load ``state`` into ``model`` strictly; a state that does not fit raises CheckpointError listing the
    first few mismatched keys and shapes."""
    state = strip_module_prefix(state)
    target = unwrap_model(model)
    problems = state_dict_mismatches(target, state)
    if problems:
        raise CheckpointError("weights do not fit the model: " + " | ".join(problems), path)
    target.load_state_dict(state, strict=True)


def build_model_from_checkpoint(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the checkpoint's model (name + overrides) with its weights, in eval mode; returns (model, ckpt)."""
    from edgepose.models import build_model

    ckpt = load_checkpoint(path, map_location=map_location)
    try:
        model = build_model(ckpt["model_name"], **dict(ckpt["model_overrides"] or {}))
    except ConfigError as exc:
        raise CheckpointError(f"cannot rebuild the checkpoint's model: {exc}", path) from None
    load_model_state(model, ckpt["model"], path)
    model.eval()
    return model, ckpt


def export_weights(src: str | Path, dst: str | Path) -> Path:
    """A weights-only copy of checkpoint ``src`` (no optimizer / RNG state): what to publish or deploy."""
    ckpt = load_checkpoint(src)
    keep = ("model", "model_name", "model_overrides", "config", "epoch", "step", "best_metric", "metrics")
    return save_checkpoint(dst, {k: ckpt.get(k) for k in keep})
