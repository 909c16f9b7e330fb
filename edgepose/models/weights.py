"""Loading local weights (state dicts) into models, with a report of what did and did not fit.

No pretrained weights for FLPN's SResNet exist anywhere (SPEC A.1.7), and edgepose downloads nothing: a user
who has a state dict — a training checkpoint of ours, a torchvision ResNet, an LPN release — loads it with
:func:`load_weights` (the CLI's ``--weights``). The loader

- reads with ``torch.load(map_location="cpu", weights_only=True)`` (no code execution from the file);
- accepts a raw state dict or a checkpoint dict holding one under ``"model"`` or ``"state_dict"``;
- strips the ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes;
- optionally renames key prefixes (``rename={"conv1.": "stem.conv1."}``; :data:`TORCHVISION_RESNET_RENAME` maps
  a torchvision ResNet onto SimpleBaseline/FLPN's ``stem.`` layout);
- copies every tensor whose key and shape match, and reports the rest in a :class:`LoadReport`;
- with ``strict=True`` raises :class:`~edgepose.errors.CheckpointError` listing every missing, unexpected and
  mis-shaped key instead of loading a partial model.

Every failure (no such file, unreadable file, not a state dict) is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgepose.errors import CheckpointError

__all__ = ["TORCHVISION_RESNET_RENAME", "LoadReport", "extract_state_dict", "load_weights", "read_state_dict"]

TORCHVISION_RESNET_RENAME: dict[str, str] = {"conv1.": "stem.conv1.", "bn1.": "stem.bn1."}
"""Prefix renames that put a torchvision ResNet's stem under our top-down models' ``stem.`` part."""

_STRIP_PREFIXES = ("module.", "_orig_mod.")
_STATE_KEYS = ("model", "state_dict")


@dataclass
class LoadReport:
    """What :func:`load_weights` did: keys loaded, missing from the file, unexpected in it, mis-shaped."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    """(key, shape in the file, shape in the model)."""

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and nothing in the file was left over."""
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self, max_keys: int = 5) -> str:
        """One paragraph: counts, then the first few keys of each kind."""

        def some(keys: list[str]) -> str:
            more = f", … (+{len(keys) - max_keys})" if len(keys) > max_keys else ""
            return ", ".join(keys[:max_keys]) + more

        total = len(self.loaded) + len(self.missing) + len(self.shape_mismatch)
        parts = [f"{self.path}: loaded {len(self.loaded)} of {total} model tensors"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing from the file ({some(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} in the file but not in the model ({some(self.unexpected)})")
        if self.shape_mismatch:
            shown = [f"{k} {tuple(a)} in file vs {tuple(b)} in model" for k, a, b in self.shape_mismatch]
            parts.append(f"{len(self.shape_mismatch)} with a different shape ({some(shown)})")
        if self.complete:
            parts.append("every key matched")
        return "; ".join(parts) + "."


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weights file into a flat ``{key: tensor}`` dict, or raise CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError("weights file not found" if not path.exists() else "not a file", path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or non-torch files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read weights ({reason})", path) from None
    return extract_state_dict(obj, path)


def extract_state_dict(obj: object, path: str | Path = "<object>") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded object (raw, or under "model"/"state_dict"), prefixes stripped."""
    if isinstance(obj, Mapping):
        for key in _STATE_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError("not a state dict (expected a mapping of tensor names to tensors)", path)
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"not a state dict: entry {key!r} is a {type(value).__name__}, not a tensor", path)
        name = key
        stripped = True
        while stripped:
            stripped = False
            for prefix in _STRIP_PREFIXES:
                if name.startswith(prefix):
                    name, stripped = name[len(prefix) :], True
        out[name] = value
    return out


def _rename(key: str, rename: Mapping[str, str] | None) -> str:
    for old, new in (rename or {}).items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def load_weights(
    model: nn.Module,
    path: str | Path,
    *,
    strict: bool = False,
    rename: Mapping[str, str] | None = None,
) -> LoadReport:
    """Copy the tensors of weights file ``path`` into ``model`` wherever key and shape match.

    Args:
        model: the network (its ``state_dict()`` keys are the targets).
        path: a ``.pt``/``.pth`` file: a state dict or a checkpoint dict with ``"model"``/``"state_dict"``.
        strict: raise CheckpointError (loading nothing) unless every key matches in name and shape.
        rename: prefix renames applied to the file's keys (first matching prefix wins).

    Returns:
        a :class:`LoadReport`; BN ``num_batches_tracked`` counters absent from old files are not "missing".
    """
    state = read_state_dict(path)
    state = {_rename(k, rename): v for k, v in state.items()}
    target = model.state_dict()
    report = LoadReport(path=str(path))
    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in target:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            report.shape_mismatch.append((key, tuple(value.shape), tuple(target[key].shape)))
        else:
            to_load[key] = value
            report.loaded.append(key)
    report.missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    if strict and not report.complete:
        lines = [f"weights do not fit {type(model).__name__} (strict)"]
        if report.missing:
            lines.append("missing: " + ", ".join(report.missing))
        if report.unexpected:
            lines.append("unexpected: " + ", ".join(report.unexpected))
        if report.shape_mismatch:
            lines.append(
                "shape mismatch: "
                + ", ".join(f"{k} {tuple(a)} in file vs {tuple(b)} in model" for k, a, b in report.shape_mismatch)
            )
        raise CheckpointError("; ".join(lines), path)
    model.load_state_dict(to_load, strict=False)
    return report
