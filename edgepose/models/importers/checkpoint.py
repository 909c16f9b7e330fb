"""Write an :class:`ImportedWeights` as a file the rest of edgepose takes.

``kind="model"``: an edgepose checkpoint -- the format of :mod:`edgepose.engine.checkpoint` (``model``,
``model_name``, ``model_overrides``, ``model_info`` as the built model states it, ``format``,
``edgepose_version``), so ``--weights CKPT`` rebuilds and
loads the model everywhere (predict, coco, export). ``kind="backbone"``: a plain state dict of the trunk, what
``model.pretrained`` reads. The model is built and loaded strictly before anything is written, so a file that
would not load is never produced. Written atomically and fsynced (:func:`edgepose.io.atomic_write`) like every
checkpoint.

Lives under ``models/`` (which may not import ``engine/``), hence its own small writer of the same format.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgepose.errors import CheckpointError
from edgepose.io import atomic_write
from edgepose.models.importers.base import ImportedWeights

__all__ = ["save_imported"]

FORMAT = "edgepose-checkpoint"  # the value edgepose.engine.checkpoint writes


def save_imported(weights: ImportedWeights, out_path: str | Path) -> Path:
    """Save ``weights`` to ``out_path`` (a checkpoint for ``kind="model"``, a state dict for ``"backbone"``)."""
    from edgepose import __version__
    from edgepose.models import build_model

    out_path = Path(out_path)
    state = {k: v.detach().cpu().contiguous() for k, v in weights.state_dict.items()}
    if weights.kind == "model":
        model = build_model(weights.model_name, keypoints=weights.keypoints, **dict(weights.overrides))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(
                f"imported weights do not fit {weights.model_name}: {first[:200]}", out_path
            ) from None
        payload: dict = {
            "model": state,
            "model_name": weights.model_name,
            "model_overrides": dict(weights.overrides),
            "config": None,
            "model_info": model.model_info.to_dict() if getattr(model, "model_info", None) is not None else None,
            "format": FORMAT,
            "edgepose_version": __version__,
            "imported_from": weights.source,
            "import_notes": list(weights.notes),
        }
    else:
        payload = state
    try:
        return atomic_write(out_path, lambda fh: torch.save(payload, fh), fsync=True)
    except OSError as exc:
        raise CheckpointError(f"cannot write: {exc.strerror or exc}", out_path) from None
