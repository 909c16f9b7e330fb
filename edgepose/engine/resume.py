"""Exact resume: which checkpoint to continue from, and putting a run back where it stopped.

``last.pt`` is the normal place to continue from; ``best.pt`` when it is further along (a kill came between
writing the two, or ``save_every`` > 1) and this run's ``epochs.csv`` logged it. :func:`restore_state` puts
back the model, optimiser, schedule, GradScaler, counters and best metric; the python / numpy / torch RNG
states (:func:`capture_rng` at every epoch end, :func:`restore_rng`) go back last, after everything that draws
numbers has been built -- which is what makes a resumed run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edgepose.engine.checkpoint import load_checkpoint, load_model_state
from edgepose.engine.config import experiment_to_dict
from edgepose.engine.logging import read_csv_rows, say
from edgepose.errors import CheckpointError

if TYPE_CHECKING:
    from edgepose.engine.state import TrainState


def capture_rng() -> dict[str, Any]:
    """The python / numpy / torch generator states as plain data and tensors (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }  # fmt: skip
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Put back the generator states :func:`capture_rng` returned (CUDA ones for the devices present)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    keys = np.asarray(n["keys"].numpy() if isinstance(n["keys"], torch.Tensor) else n["keys"], dtype=np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))  # noqa: NPY002
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key.path: old -> new`` for every leaf where two nested config dicts differ."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_config_differences(a, b, f"{prefix}{k}."))
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _logged_by_this_run(out_dir: Path, ckpt: Mapping[str, Any]) -> bool:
    """Whether ``out_dir/epochs.csv`` logged the epoch ``ckpt`` ends with (same step, same best value).

    The epoch-end callbacks log the row before writing any checkpoint, so a ``best.pt`` of this run always has
    its row; a ``best.pt`` left by an earlier run in the same folder (a fresh start does not delete it) does not.
    """
    primary = ckpt.get("primary_metric") or "AP"
    for row in read_csv_rows(out_dir / "epochs.csv"):
        if row.get("epoch") == ckpt.get("epoch") and row.get("step") == ckpt.get("step"):
            return ckpt.get("best_epoch") != ckpt.get("epoch") or row.get(f"val_{primary}") == ckpt.get("best_metric")
    return False


def _position(ckpt: Mapping[str, Any]) -> tuple[int, int]:
    return int(ckpt.get("epoch") or 0), int(ckpt.get("step") or 0)


def find_resume_checkpoint(out_dir: Path) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """The checkpoint of ``out_dir`` to continue from: (path, contents, notes on files passed over).

    ``last.pt`` normally; ``best.pt`` when it is further along (a kill between writing ``best.pt`` and
    ``last.pt`` of one epoch, or ``save_every`` > 1) or ``last.pt`` is damaged -- provided this run's
    ``epochs.csv`` logged it. Files that exist but cannot be used raise CheckpointError rather than a silent
    restart over them; (None, None, []) means the folder holds no checkpoint.
    """
    found: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for name in ("last.pt", "best.pt"):
        if (out_dir / name).is_file():
            try:
                found[name] = load_checkpoint(out_dir / name)
            except CheckpointError as exc:
                notes.append(str(exc))
    last, best = found.get("last.pt"), found.get("best.pt")
    if best is not None and best.get("optimizer") is not None:
        ahead = last is None or _position(best) > _position(last)
        if ahead and _logged_by_this_run(out_dir, best):
            return out_dir / "best.pt", best, notes
        if ahead:
            notes.append(f"{out_dir / 'best.pt'}: not in this run's epochs.csv (left by an earlier run?)")
    if last is not None:
        return out_dir / "last.pt", last, notes
    if notes:
        raise CheckpointError(f"nothing to resume from ({'; '.join(notes)}); name a checkpoint to resume from "
                              "explicitly, or start without --resume", out_dir)  # fmt: skip
    return None, None, []


def resolve_resume(resume: Any, out_dir: Path, verbose: bool = True) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint to resume from and its contents, or (None, None) for a fresh run.

    ``None``/``False``: fresh. ``True``: :func:`find_resume_checkpoint` of ``out_dir`` (fresh when it holds
    none). A path: that checkpoint, which must exist.
    """
    if resume is None or resume is False:
        return None, None
    if resume is True or resume == "":
        path, ckpt, notes = find_resume_checkpoint(out_dir)
        for note in notes:
            say(f"note: passed over {note}", verbose)
        if path is not None and path.name != "last.pt":
            say(f"note: {path.name} is further along than last.pt (a run stopped between writing the two)", verbose)
        if path is not None and verbose:  # rank 0: keep a damaged checkpoint aside rather than write over it
            for name in ("last.pt", "best.pt"):
                damaged = out_dir / name
                if damaged != path and damaged.is_file() and any(str(damaged) in n for n in notes):
                    kept = damaged.replace(damaged.with_name(f"{name}.damaged"))
                    say(f"note: kept the damaged {name} as {kept.name} (the run will write a new {name})", verbose)
        return path, ckpt
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError("checkpoint to resume from not found", path)
    return path, load_checkpoint(path, map_location="cpu")


def restore_state(state: TrainState, ckpt: Mapping[str, Any], path: Path) -> None:
    """Model, optimiser, schedule, scaler, counters and best metric from checkpoint ``ckpt`` (read from ``path``).

    The RNG states are not restored here: the trainer's ``start_run`` does that last, after everything that draws
    numbers.
    """
    load_model_state(state.model, ckpt["model"], path)
    if ckpt.get("optimizer") is None:
        raise CheckpointError("weights-only checkpoint: it has no optimizer state to resume from", path)
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"optimizer state does not fit this config ({exc})", path) from None
    state.schedule.load_state_dict(ckpt.get("scheduler") or {})
    if ckpt.get("scaler"):
        state.scaler.load_state_dict(ckpt["scaler"])
    state.epoch, state.step = int(ckpt["epoch"]), int(ckpt["step"])
    state.best, state.best_epoch = ckpt.get("best_metric"), ckpt.get("best_epoch")
    state.last_metrics = dict(ckpt.get("metrics") or {})
    saved_primary = ckpt.get("primary_metric")
    if saved_primary and saved_primary != state.primary:  # a best value of another metric cannot be compared
        say(f"note: the checkpoint ranked best.pt by {saved_primary!r}, this task by {state.primary!r}: "
            "best metric reset", state.main)  # fmt: skip
        state.best = state.best_epoch = None
    differences = _config_differences(ckpt.get("config") or {}, experiment_to_dict(state.cfg))
    if differences:
        say(f"note: config differs from the checkpoint's: {'; '.join(differences[:8])}", state.main)
    say(f"resuming from {path} (finished epochs: {state.epoch}, steps: {state.step})", state.main)
