"""THE module that loads weights into models, with one report of what did and did not fit (:class:`LoadReport`).

Every weights file edgepose reads goes through :func:`load_file` (the package's one ``torch.load``, with
``weights_only=True``: no code runs from a downloaded file) and every tensor through :func:`check_finite` (a
NaN or inf is refused with one line naming the file and the key). On top of that:

- :func:`load_weights`: a state dict or a checkpoint into a model wherever key and shape match (``--weights``
  of a torchvision ResNet, an LPN release), optionally strict and with prefix renames
  (:data:`TORCHVISION_RESNET_RENAME`);
- :func:`load_model_state`: an edgepose checkpoint's state into the model rebuilt from it (strict);
- :func:`load_ghostnet_weights`: public GhostNet ImageNet files (official / timm / edgepose naming) into a
  GhostNet backbone, whatever its cut;
- :func:`load_backbone_part`: the trunk of a pretraining checkpoint into a pose model (``model.pretrained``);
- :func:`load_trunk_weights`: a torchvision ResNet into the stride-8 trunk of the ResNet bottom-up models.

The loaders accept a raw state dict or a checkpoint dict holding one under ``"model"`` or ``"state_dict"``,
strip the ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes, and raise
:class:`~edgepose.errors.CheckpointError` naming the file for every failure (no such file, unreadable file,
not a state dict, nothing fits, strict mismatch). Importers of other frameworks' files
(:mod:`edgepose.models.importers`) produce state dicts that these loaders take.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgepose.errors import CheckpointError

__all__ = [
    "GHOSTNET_LAYOUTS",
    "TORCHVISION_RESNET_RENAME",
    "LoadReport",
    "check_finite",
    "convert_ghostnet_state_dict",
    "extract_state_dict",
    "ghostnet_layout",
    "load_backbone_part",
    "load_file",
    "load_ghostnet_weights",
    "load_model_state",
    "load_trunk_weights",
    "load_weights",
    "read_state_dict",
    "state_dict_mismatches",
    "strip_module_prefix",
    "unwrap_model",
]

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
    skipped: list[str] = field(default_factory=list)
    """File keys left out on purpose (a classifier head, stages a backbone cut drops); not "unexpected"."""
    new_layers: list[str] = field(default_factory=list)
    """Model keys that no file of this kind can hold (a new projection); not "missing"."""
    layout: str = ""
    """The naming the file was read in (GhostNet: "official", "timm" or "edgepose"); empty for plain loads."""

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and nothing in the file was left over."""
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self, max_keys: int = 5) -> str:
        """One paragraph: counts, then the first few keys of each kind."""

        def some(keys: list[str]) -> str:
            more = f", … (+{len(keys) - max_keys})" if len(keys) > max_keys else ""
            return ", ".join(keys[:max_keys]) + more

        total = len(self.loaded) + len(self.missing) + len(self.shape_mismatch) + len(self.new_layers)
        layout = f" ({self.layout} layout)" if self.layout else ""
        parts = [f"{self.path}{layout}: loaded {len(self.loaded)} of {total} model tensors"]
        if self.new_layers:
            parts.append(f"{len(self.new_layers)} new, left at their initialisation ({some(self.new_layers)})")
        if self.skipped:
            parts.append(f"{len(self.skipped)} in the file skipped on purpose ({some(self.skipped)})")
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


# What torch.load raises on truncated zips, garbage bytes, pickled code objects (weights_only) and the like.
_LOAD_ERRORS = (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                ImportError, UnicodeDecodeError, pickle.UnpicklingError, zipfile.BadZipFile)  # fmt: skip


def load_file(path: str | Path, what: str = "weights file", map_location: Any = "cpu") -> Any:
    """The one ``torch.load`` of the package: ``weights_only=True`` (no code runs from a downloaded file); a
    missing, foreign or corrupt file is one CheckpointError naming it and saying what was expected (``what``)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{what} not found", path)
    if not path.is_file():
        raise CheckpointError(f"{what} path is not a file", path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"corrupt or unreadable {what}, cannot read it ({type(exc).__name__}: {reason[:200]})",
                              path) from exc  # fmt: skip


def check_finite(state: Mapping[str, Any], path: str | Path | None = None) -> None:
    """Refuse a state dict holding NaN or inf: a diverged run's weights would give garbage poses silently."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"weights are not finite: key {key} holds NaN or inf", path)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a weights file into a flat, finite ``{key: tensor}`` dict, or raise CheckpointError naming the file."""
    state = extract_state_dict(load_file(path), path)
    check_finite(state, path)
    return state


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
    keypoint_rows: Mapping[int, int] | None = None,
) -> LoadReport:
    """Copy the tensors of weights file ``path`` into ``model`` wherever key and shape match.

    Args:
        model: the network (its ``state_dict()`` keys are the targets).
        path: a ``.pt``/``.pth`` file: a state dict or a checkpoint dict with ``"model"``/``"state_dict"``.
        strict: raise CheckpointError (loading nothing) unless every key matches in name and shape.
        rename: prefix renames applied to the file's keys (first matching prefix wins).
        keypoint_rows: ``{model row: file row}`` for a file of another keypoint set (see
            :func:`keypoint_row_map`): a tensor whose first axis is the file's keypoints where the model's is its
            own (the final conv) gets the rows of the keypoints both sets share by name; the others keep their
            initialisation. Counted as loaded.

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
            rows = _keypoint_rows(value, target[key], keypoint_rows)
            if rows is not None:
                to_load[key] = rows
                report.loaded.append(key)
                continue
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


def keypoint_row_map(file_names: Sequence[str], model_names: Sequence[str]) -> dict[int, int]:
    """``{model row: file row}`` of the keypoints two sets share by name (COCO's wrists are LSP's wrists)."""
    index = {name: i for i, name in enumerate(file_names)}
    return {j: index[name] for j, name in enumerate(model_names) if name in index}


def _keypoint_rows(
    value: torch.Tensor, own: torch.Tensor, rows: Mapping[int, int] | None
) -> torch.Tensor | None:
    """``own`` with the mapped rows of ``value`` copied in, when the two differ only in their first axis (the
    keypoint count of a final conv); None otherwise."""
    if not rows or value.dim() != own.dim() or tuple(value.shape[1:]) != tuple(own.shape[1:]):
        return None
    if max(rows) >= own.shape[0] or max(rows.values()) >= value.shape[0]:
        return None
    out = own.detach().clone()
    for j, i in rows.items():
        out[j] = value[i].to(out.dtype)
    return out


# ------------------------------------------------------------------------------------- GhostNet ImageNet
GHOSTNET_LAYOUTS = ("official", "timm", "edgepose")
"""Namings a GhostNet 1.0× state dict can come in.

``official``: huawei-noah ``ghostnet_pytorch`` (``state_dict_73.98.pth``, ``ghostnet_1x.pth``): bottlenecks in nine
groups ``blocks.{g}.{j}``, the 160→960 1×1 as ``blocks.9.0.conv``/``bn1``, the head ``conv_head`` + ``classifier``.
``timm``: ``ghostnet_100`` (``ghostnet_100.in1k``) uses the *same* module names (its weights are the official
release file); a timm training checkpoint additionally wraps them under ``state_dict`` / ``state_dict_ema``.
``edgepose``: our flat ``blocks.{i}`` + ``final_conv`` (a GhostNetBackbone's own state dict), optionally under
``backbone.`` (a cross-fusion checkpoint). The tests read the key lists of the first two from
``tests/models/data/ghostnet_{official,timm}_keys.txt``.
"""

_GROUPED_BLOCK = re.compile(r"^blocks\.\d+\.\d+\.")
_FLAT_BLOCK = re.compile(r"^blocks\.\d+\.(ghost1|ghost2|conv_dw|bn_dw|se|shortcut)\.")


def ghostnet_layout(state: Mapping[str, torch.Tensor], path: str | Path = "<state dict>") -> str:
    """The naming of a GhostNet state dict: "official" (timm's is identical) or "edgepose"; else CheckpointError.

    The two public layouts cannot be told apart by key names; callers that know the source pass it on as a label.
    """
    keys = [k[len("backbone.") :] if k.startswith("backbone.") else k for k in state]
    if any(_GROUPED_BLOCK.match(k) for k in keys) and "conv_stem.weight" in keys:
        return "official"
    if any(_FLAT_BLOCK.match(k) for k in keys) and "conv_stem.weight" in keys:
        return "edgepose"
    raise CheckpointError(
        "not a GhostNet state dict (no conv_stem.weight with blocks.* bottlenecks in official/timm or edgepose naming)",
        path,
    )


def convert_ghostnet_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Translate an official/timm/edgepose GhostNet state dict to GhostNetBackbone keys.

    Returns (our state, file keys dropped): the classifier head (``conv_head``, ``classifier``) has no place in a
    backbone. Keys are translated by position (official group g, index j → flat block), never by shape, so a
    wrong-width file shows up as shape mismatches rather than loading silently.
    """
    from edgepose.models.backbones.ghostnet import official_to_ours

    layout = ghostnet_layout(state)
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for key, value in state.items():
        name = key[len("backbone.") :] if key.startswith("backbone.") else key
        target = name if layout == "edgepose" else official_to_ours(name)
        if target is None:
            dropped.append(key)
        else:
            out[target] = value
    return out, dropped


def _ghostnet_part(model: nn.Module) -> tuple[nn.Module, str]:
    """(the GhostNetBackbone inside ``model``, its key prefix): the model itself or its ``.backbone``."""
    from edgepose.models.backbones.ghostnet import GhostNetBackbone

    if isinstance(model, GhostNetBackbone):
        return model, ""
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, GhostNetBackbone):
        return backbone, "backbone."
    raise CheckpointError(f"{type(model).__name__} has no GhostNet backbone to load ImageNet GhostNet weights into")


def load_ghostnet_weights(
    model: nn.Module,
    source: str | Path | Mapping[str, torch.Tensor],
    *,
    strict: bool = False,
    layout_label: str | None = None,
) -> LoadReport:
    """Load public GhostNet 1.0× ImageNet weights (official or timm naming) into a GhostNet backbone or a model
    whose ``.backbone`` is one (``xfuse_ghostnet``), whatever the cut (R0/R1/R2, output stride, dilation).

    Why a dedicated loader: the pose cut drops layers (stage 5, the classifier) and adds one (the 512-channel
    projection), so a plain key match would report dozens of "unexpected" and "missing" keys that are expected.
    Here those land in ``skipped`` / ``new_layers``, and ``missing`` / ``unexpected`` / ``shape_mismatch`` list only
    real problems: with ``strict=True`` any of those raises CheckpointError naming the file. Keys in the report
    carry the model's own prefix (``backbone.``). Re-strided blocks keep their depth-wise layer, so they load.

    Args:
        model: a GhostNetBackbone or a model with one as ``.backbone``.
        source: a weights file (raw state dict or a checkpoint dict holding one) or an in-memory state dict.
        strict: raise instead of loading when anything other than the expected skips/new layers does not fit.
        layout_label: "official" or "timm" to name the source in the report (the two share their key names).
    """
    from edgepose.models.backbones.ghostnet import TRUNK_CHANNELS

    backbone, prefix = _ghostnet_part(model)
    path = str(source) if isinstance(source, (str, Path)) else "<state dict>"
    state = read_state_dict(source) if isinstance(source, (str, Path)) else extract_state_dict(source, path)
    check_finite(state, path)
    layout = ghostnet_layout(state, path)
    own_naming = layout == "edgepose"
    if layout_label is not None:
        if layout_label not in GHOSTNET_LAYOUTS:
            raise CheckpointError(f"layout_label must be one of {', '.join(GHOSTNET_LAYOUTS)}, got {layout_label!r}")
        layout = layout_label
    ours, dropped = convert_ghostnet_state_dict(state)
    target = backbone.state_dict()
    # the official 160->960 1×1 is our final_conv only in the full classification trunk; in pose cuts final_conv is a
    # new projection that only an edgepose file (a trained GhostNetBackbone / cross-fusion model) can hold
    own_head = own_naming or (backbone.num_stages == 5 and backbone.out_channels == TRUNK_CHANNELS)
    n_blocks = len(backbone.blocks)
    report = LoadReport(path=path, layout=layout, skipped=list(dropped))
    to_load: dict[str, torch.Tensor] = {}
    for key, value in ours.items():
        block = re.match(r"^blocks\.(\d+)\.", key)
        cut = (block is not None and int(block.group(1)) >= n_blocks) or (
            key.startswith("final_conv.") and not own_head
        )
        if cut:
            report.skipped.append(prefix + key)
        elif key not in target:
            report.unexpected.append(prefix + key)
        elif tuple(value.shape) != tuple(target[key].shape):
            report.shape_mismatch.append((prefix + key, tuple(value.shape), tuple(target[key].shape)))
        else:
            to_load[key] = value
            report.loaded.append(prefix + key)
    for key in target:
        if key in to_load or key.endswith("num_batches_tracked"):
            continue
        if key.startswith("final_conv.") and not own_head:
            report.new_layers.append(prefix + key)
        elif not any(k == prefix + key for k, _, _ in report.shape_mismatch):
            report.missing.append(prefix + key)
    if not report.loaded:
        raise CheckpointError("no tensor of the file fits the GhostNet backbone", path)
    if strict and not report.complete:
        raise CheckpointError("GhostNet weights do not fit (strict): " + report.summary(max_keys=10), path)
    backbone.load_state_dict(to_load, strict=False)
    return report


def load_backbone_part(
    model: nn.Module, path: str | Path, *, strict: bool = False, keypoint_rows: Mapping[int, int] | None = None
) -> LoadReport:
    """Load the backbone part of a pose model from a pretraining checkpoint (``model.pretrained: PATH``).

    The file is a state dict of the backbone alone (keys without prefix, e.g. what ``edgepose pretrain`` saves as
    ``backbone.pt``) or of a whole model; keys are matched against the pose model's trunk parts — ``backbone.*``
    for bottom-up models, ``stem.*`` / ``layer1..4.*`` for top-down ones — and nothing else (a pose head is never
    taken from a classification checkpoint). GhostNet files in official/timm naming go through
    :func:`load_ghostnet_weights`.
    """
    state = read_state_dict(path)
    if hasattr(model, "backbone") and "conv_stem.weight" in {k.removeprefix("backbone.") for k in state}:
        return load_ghostnet_weights(model, state, strict=strict)
    bottom_up = hasattr(model, "backbone")
    trunk_prefixes = ("backbone.",) if bottom_up else ("stem.", "layer1.", "layer2.", "layer3.", "layer4.")
    target = {k: v for k, v in model.state_dict().items() if k.startswith(trunk_prefixes)}
    if not target:
        raise CheckpointError(f"{type(model).__name__} has no backbone part to load pretrained weights into", path)
    if bottom_up and not any(k.startswith("backbone.") for k in state):
        state = {"backbone." + k: v for k, v in state.items()}
    report = LoadReport(path=str(path))
    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in target:
            # a trunk key the model lacks is a real misfit; a head (classifier, pose head) is left out on purpose
            (report.unexpected if key.startswith(trunk_prefixes) else report.skipped).append(key)
        elif tuple(value.shape) != tuple(target[key].shape):
            rows = _keypoint_rows(value, target[key], keypoint_rows)
            if rows is not None:
                to_load[key] = rows
                report.loaded.append(key)
                continue
            report.shape_mismatch.append((key, tuple(value.shape), tuple(target[key].shape)))
        else:
            to_load[key] = value
            report.loaded.append(key)
    report.missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    if not report.loaded:
        raise CheckpointError("no tensor of the file fits the model's backbone (is it a pretraining checkpoint?)", path)
    if strict and not report.complete:
        raise CheckpointError("pretrained backbone does not fit (strict): " + report.summary(max_keys=10), path)
    model.load_state_dict(to_load, strict=False)
    return report


# ------------------------------------------------------------------------------ whole models and trunks
def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop DataParallel / DistributedDataParallel's ``module.`` prefix (and torch.compile's ``_orig_mod.``)."""
    out = {}
    for k, v in state.items():
        for prefix in _STRIP_PREFIXES:
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
    """Load ``state`` into ``model`` strictly (a checkpoint into the model rebuilt from it); a state that does
    not fit raises CheckpointError listing the first few mismatched keys and shapes, a NaN/inf tensor another."""
    state = strip_module_prefix(state)
    check_finite(state, path)
    target = unwrap_model(model)
    problems = state_dict_mismatches(target, state)
    if problems:
        raise CheckpointError("weights do not fit the model: " + " | ".join(problems), path)
    target.load_state_dict(state, strict=True)


def load_trunk_weights(trunk: nn.Module, path: str | Path) -> LoadReport:
    """A torchvision-layout classifier's weights into a trunk (the classifier ``fc`` has no place there); a file
    of which nothing fits raises CheckpointError naming it."""
    report = load_weights(trunk, path)
    if not report.loaded:
        raise CheckpointError(f"no tensor of the file fits the {type(trunk).__name__} trunk", path)
    return report
