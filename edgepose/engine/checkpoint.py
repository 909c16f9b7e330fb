"""Checkpoints: written atomically, read with errors that name the file, and enough to rebuild the model.

A checkpoint is a dict saved with :func:`torch.save`:

=================== ===================================================================================
``model``           the state dict (never with DistributedDataParallel's ``module.`` prefix)
``model_name``      the :func:`edgepose.models.build_model` name
``model_overrides`` its keyword overrides, so ``--weights ckpt.pt`` alone rebuilds the right model
``model_info``      the model's metadata (:meth:`edgepose.meta.ModelInfo.to_dict`): task, keypoint set with
                    its table, input size, stride, normalisation, decoder; required to rebuild the model
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

Writes go through :mod:`edgepose.io` (a temporary ``.<name>.<pid>-<token>.tmp`` beside the target, created
0666 less the umask like ``open()``, fsynced, then ``os.replace``); a kill -9 mid-write can leave that
temporary behind, and :func:`remove_stale_temporaries` clears it when the next run starts. A failed write
(disk full) is a one-line CheckpointError and leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from edgepose.errors import CheckpointError, ConfigError, EdgeposeError
from edgepose.io import atomic_write
from edgepose.meta import ModelInfo
from edgepose.models.weights import (  # noqa: F401 (load_model_state, unwrap_model, ...: re-exported)
    check_finite,
    keypoint_row_map,
    load_file,
    load_model_state,
    load_weights,
    state_dict_mismatches,
    strip_module_prefix,
    unwrap_model,
)

FORMAT = "edgepose-checkpoint"
REQUIRED_KEYS = ("model", "model_name", "model_overrides")
# Files of a run folder that are written through a temporary ``.<name>.<...>`` beside them.
RUN_FILES = ("last.pt", "best.pt", "config.yaml", "steps.csv", "epochs.csv", "metrics.json")
class _RecordingWriter:
    """A file wrapper that remembers the OSError of a failed write.

    torch.save turns an error raised by a buffered file's ``write`` into ``RuntimeError: unexpected pos ...``;
    remembering the original error lets :func:`save_checkpoint` say "no space left on device" instead.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.error = fh, None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _write_error(path: Path, exc: OSError) -> CheckpointError:
    """One line for a failed write: the reason, and what is left on disk (the previous file, untouched)."""
    reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
    kept = "the previous checkpoint there is intact" if path.is_file() else "nothing was written"
    return CheckpointError(f"cannot write checkpoint: {reason} ({kept})", path)


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, fsync, then ``os.replace``.

    A crash (or Ctrl-C) while saving leaves the previous file intact and no partial file behind (a kill -9 can
    leave the temporary file: :func:`remove_stale_temporaries` clears it on the next start). A failed write
    (disk full, permission denied) raises CheckpointError, one line naming the file. The file honours the umask.
    """
    from edgepose import __version__

    path = Path(path)
    payload = dict(state)
    payload.setdefault("format", FORMAT)
    payload.setdefault("edgepose_version", __version__)

    def write(fh: BinaryIO) -> None:
        sink = _RecordingWriter(fh)
        try:
            torch.save(payload, sink)  # type: ignore[arg-type]
        except RuntimeError:
            if sink.error is None:
                raise
            raise sink.error from None

    try:
        atomic_write(path, write, fsync=True)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    return path


_TEMP_PID = re.compile(r"\.(\d+)-[0-9a-f]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: str | Path, names: tuple[str, ...] = RUN_FILES) -> list[Path]:
    """Delete the temporary files that killed writers of ``names`` left in ``folder``; returns them.

    Atomic writes leave ``.<name>.*`` behind only when the process dies mid-write (kill -9, power loss), and
    nothing else would ever remove them (34 MB after 8 kills of a small model). A temporary whose name carries
    the pid of another live process is being written right now and is kept.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for name in names:
        for tmp in folder.glob(f".{name}.*"):
            m = _TEMP_PID.search(tmp.name)
            if m and int(m.group(1)) != os.getpid() and _pid_alive(int(m.group(1))):
                continue
            try:
                tmp.unlink()
            except FileNotFoundError:  # removed meanwhile
                continue
            removed.append(tmp)
    return removed


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read an edgepose checkpoint; missing, corrupt, foreign or non-finite files raise CheckpointError naming it."""
    path = Path(path)
    ckpt = load_file(path, "checkpoint", map_location)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        what = "a bare state dict" if _looks_like_state_dict(ckpt) else f"a {type(ckpt).__name__}"
        raise CheckpointError(
            f"not an edgepose checkpoint (it is {what}; expected keys {', '.join(REQUIRED_KEYS)})", path
        )
    check_finite(ckpt["model"], path)
    return ckpt


def _looks_like_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def model_info_record(model: nn.Module) -> dict[str, Any] | None:
    """What a checkpoint stores under ``model_info``: the model's metadata as a plain dict (None for networks
    that are not pose models, e.g. a pretraining classifier)."""
    info = getattr(unwrap_model(model), "model_info", None)
    return info.to_dict() if isinstance(info, ModelInfo) else None


def checkpoint_info(ckpt: Mapping[str, Any], path: str | Path | None = None) -> ModelInfo:
    """The :class:`ModelInfo` a checkpoint holds, read strictly; a checkpoint without one is refused."""
    if ckpt.get("model_info") is None:
        raise CheckpointError(
            "checkpoint has no model metadata (model_info; written before edgepose 0.2): add it with "
            "`python tools/ship_model.py --migrate CKPT --keypoints SET --codec KIND`",
            path,
        )
    try:
        return ModelInfo.from_dict(ckpt["model_info"])
    except EdgeposeError as exc:
        raise CheckpointError(str(exc), path) from None


def build_model_from_checkpoint(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the checkpoint's model (name + overrides + metadata) with its weights, in eval mode.

    The metadata stored in the file must agree with the model its name and overrides build (keypoint count,
    input size, stride, task, normalisation): a file whose parts disagree is refused rather than run wrongly.
    Returns (model, ckpt).
    """
    from edgepose.models import build_model

    ckpt = load_checkpoint(path, map_location=map_location)
    info = checkpoint_info(ckpt, path)
    try:
        model = build_model(ckpt["model_name"], keypoints=info.keypoint_spec, codec=info.codec,
                            **dict(ckpt["model_overrides"] or {}))  # fmt: skip
    except ConfigError as exc:
        raise CheckpointError(f"cannot rebuild the checkpoint's model: {exc}", path) from None
    built = model.model_info.replace(edgepose_version=info.edgepose_version)
    if built != info:
        diff = [f"{k} {getattr(info, k)!r} vs {getattr(built, k)!r}" for k in ("model_name", "task", "input_size",
                "normalisation", "stride", "keypoints", "codec") if getattr(info, k) != getattr(built, k)]  # fmt: skip
        raise CheckpointError(f"the checkpoint's metadata disagrees with its model ({'; '.join(diff)})", path)
    model.model_info = info
    load_model_state(model, ckpt["model"], path)
    model.eval()
    return model, ckpt


def export_weights(src: str | Path, dst: str | Path) -> Path:
    """A weights-only copy of checkpoint ``src`` (no optimizer / RNG state): what to publish or deploy."""
    ckpt = load_checkpoint(src)
    keep = ("model", "model_name", "model_overrides", "model_info", "config", "epoch", "step", "best_metric",
            "metrics")
    return save_checkpoint(dst, {k: ckpt.get(k) for k in keep})


def _shared_keypoint_rows(model: nn.Module, path: str | Path) -> dict[int, int] | None:
    """Rows of the keypoints a pose checkpoint of another keypoint set shares with ``model`` by name (its final
    conv starts from them: COCO-17 MoveNet's wrists become LSP-14's wrists); None for bare state dicts."""
    ckpt = load_file(Path(path), "weights file")
    own = getattr(model, "model_info", None)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model_info"), dict) or own is None:
        return None
    try:
        theirs = ModelInfo.from_dict(ckpt["model_info"]).keypoint_spec
    except EdgeposeError:
        return None
    if theirs.name == own.keypoint_spec.name:
        return None
    return keypoint_row_map(theirs.names, own.keypoint_spec.names) or None


def load_pretrained(model: nn.Module, path: str | Path, show: bool = True) -> tuple[int, int]:
    """Copy into ``model`` every tensor of ``path`` whose name and shape match: the start of a fine-tune.

    Partial by design (a pre-trained backbone, a model of another keypoint set whose head differs); a file that
    matches nothing is an error rather than a silent random start. The loading and its report are
    :func:`edgepose.models.weights.load_weights`'. Returns (tensors copied, model tensors).
    """
    from edgepose.engine.logging import say

    target = unwrap_model(model)
    report = load_weights(target, path, keypoint_rows=_shared_keypoint_rows(target, path))
    if not report.loaded:
        raise CheckpointError("no tensor of these weights fits the model (names or shapes differ)", path)
    if show:
        say(f"initial weights: {report.summary()}")
    return len(report.loaded), len(target.state_dict())
