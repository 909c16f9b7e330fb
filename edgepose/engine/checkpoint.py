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

Writes go through a temporary ``.<name>.<pid>-<token>.tmp`` beside the target (created 0666 less the umask,
like ``open()``), then ``os.replace``; a kill -9 mid-write can leave that temporary behind, and
:func:`remove_stale_temporaries` clears it when the next run starts. A failed write (disk full) is a
one-line CheckpointError and leaves the previous checkpoint as it was.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import secrets
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from edgepose.errors import CheckpointError, ConfigError

FORMAT = "edgepose-checkpoint"
REQUIRED_KEYS = ("model", "model_name", "model_overrides")
# Files of a run folder that are written through a temporary ``.<name>.<...>`` beside them.
RUN_FILES = ("last.pt", "best.pt", "config.yaml", "steps.csv", "epochs.csv", "metrics.json")
# What torch.load raises on truncated zips, garbage bytes, pickled code objects (weights_only) and the like.
_LOAD_ERRORS = (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                ImportError, UnicodeDecodeError, pickle.UnpicklingError, zipfile.BadZipFile)  # fmt: skip


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


def _open_temporary(path: Path) -> tuple[BinaryIO, Path]:
    """A new ``.<name>.<pid>-<token>.tmp`` beside ``path``, created with mode 0666 so the umask applies, as for
    plain ``open()`` (``tempfile.mkstemp`` would make it 0600); the pid lets a later run tell stale files apart."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


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
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh, tmp = _open_temporary(path)
        with fh:
            sink = _RecordingWriter(fh)
            try:
                torch.save(payload, sink)  # type: ignore[arg-type]
            except RuntimeError:
                if sink.error is None:
                    raise
                raise sink.error from None
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from exc
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
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
    """Read an edgepose checkpoint; missing, corrupt or foreign files raise CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("checkpoint not found", path)
    if not path.is_file():
        raise CheckpointError("checkpoint path is not a file", path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"corrupt or unreadable checkpoint ({type(exc).__name__}: {reason[:200]})"
        raise CheckpointError(message, path) from exc
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


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The model tensors of an edgepose checkpoint, a weights-only export or a bare state dict."""
    path = Path(path)
    try:
        return strip_module_prefix(load_checkpoint(path)["model"])
    except CheckpointError as exc:
        if "not an edgepose checkpoint" not in str(exc):  # missing or corrupt: said already
            raise
    obj = torch.load(path, map_location="cpu", weights_only=True)  # read once already by load_checkpoint
    if not _looks_like_state_dict(obj):
        raise CheckpointError("neither an edgepose checkpoint nor a state dict of tensors", path)
    return strip_module_prefix(obj)


def load_pretrained(model: nn.Module, path: str | Path, show: bool = True) -> tuple[int, int]:
    """Copy into ``model`` every tensor of ``path`` whose name and shape match: the start of a fine-tune.

    Partial by design (a pre-trained backbone, a model of another keypoint set whose head differs); a file that
    matches nothing is an error rather than a silent random start. Returns (tensors copied, model tensors).
    """
    from edgepose.engine.logging import say

    state = read_weights(path)
    target = unwrap_model(model)
    own = target.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if not matched:
        raise CheckpointError("no tensor of these weights fits the model (names or shapes differ)", path)
    own.update({k: v.to(own[k].dtype) for k, v in matched.items()})
    target.load_state_dict(own)
    if show:
        say(f"initial weights: {len(matched)} of {len(own)} tensors from {path}{_unmatched_note(own, state, matched)}")
    return len(matched), len(own)


def _unmatched_note(own: Mapping[str, Any], state: Mapping[str, Any], matched: Mapping[str, Any]) -> str:
    """What the partial copy left out, by top-level module: the model's tensors left at their initialisation
    (the pose head, after a pretrained backbone), tensors whose shape differs, and file tensors that fit nothing
    (a classifier's ``fc``). Empty when everything matched."""

    def by_module(keys: list[str]) -> str:
        counts: dict[str, int] = {}
        for k in keys:
            counts[k.split(".", 1)[0]] = counts.get(k.split(".", 1)[0], 0) + 1
        return ", ".join(f"{name} ({n})" for name, n in counts.items())

    kept = [k for k in own if k not in matched]
    reshaped = [k for k in kept if k in state]
    unused = [k for k in state if k not in own]
    parts = [f"left at their initialisation: {by_module(kept)}" if kept else "",
             f"shape differs: {', '.join(reshaped[:3])}{' ...' if len(reshaped) > 3 else ''}" if reshaped else "",
             f"not in the model: {by_module(unused)}" if unused else ""]  # fmt: skip
    return "".join(f"; {p}" for p in parts if p)
