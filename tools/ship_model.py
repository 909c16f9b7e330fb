"""Package a trained top-down checkpoint as edgepose's embedded default model (edgepose/assets/model/).

    python tools/ship_model.py output/lspet/flpn_sres50/flpn_small_lspet_160x160/best.pt
    python tools/ship_model.py --migrate edgepose/assets/model/model.pt     # add model_info to an old file

Writes, into ``--out`` (default edgepose/assets/model/):

* ``model.pt``   -- a weights-only edgepose checkpoint whose state dict is stored in float16 (half the size;
  loading casts it back to float32), with the model's metadata (``model_info``);
* ``model.onnx`` -- the same weights (rounded through float16 first, so both files hold *identical* numbers)
  exported with ``edgepose.export.onnx.export_onnx`` and its parity check, for the torch-free runtime;
* ``config.yaml``, ``epochs.csv``, ``losses.png``, ``metrics.png`` -- the run's resolved config, per-epoch log
  and curves, copied from the checkpoint's folder.

``MODEL.md`` (what the model is, its figures and the commands that reproduce it) is written by hand beside them.

**Migration.** Checkpoints written before edgepose 0.2 carry no ``model_info``, and edgepose refuses to guess
it. This tool is the one place that derives it, once, from what the checkpoint's own training config states:
the keypoint set of its dataset (``data.dataset``: coco, mpii, lspet -> lsp; or ``--keypoints``), the decoder
(``eval.codec``, else ``data.codec``; or ``--codec``) and the input size (``data.input_size``), checked against
the model its name and overrides build. ``--migrate`` writes the result back into the file (the state dict is
untouched); shipping an old checkpoint migrates it in memory and says so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from edgepose.engine.checkpoint import build_model_from_checkpoint, load_checkpoint, save_checkpoint
from edgepose.errors import EdgeposeError
from edgepose.export.onnx import export_onnx
from edgepose.meta import ModelInfo

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "edgepose" / "assets" / "model"
RUN_FILES = ("config.yaml", "epochs.csv", "plots/losses.png", "plots/metrics.png")
DATASET_KEYPOINTS = {"coco": "coco", "mpii": "mpii", "lspet": "lsp"}
KEEP = ("model_name", "model_overrides", "model_info", "config", "epoch", "step", "best_metric", "metrics")


def derived_info(ckpt: dict[str, Any], keypoints: str | None = None, codec: str | None = None) -> ModelInfo:
    """The metadata of an old checkpoint, from its training config (see the module docstring)."""
    from edgepose.models import build_model

    config = ckpt.get("config") or {}
    data, evaluation = config.get("data") or {}, config.get("eval") or {}
    keypoints = keypoints or DATASET_KEYPOINTS.get(str(data.get("dataset")))
    codec = codec or evaluation.get("codec") or data.get("codec")
    if keypoints is None or codec is None:
        raise EdgeposeError("the checkpoint's config states no dataset or codec: pass --keypoints and --codec")
    overrides = dict(ckpt.get("model_overrides") or {})
    size = data.get("input_size")
    if size is not None and "input_size" in overrides and list(overrides["input_size"]) != list(size):
        raise EdgeposeError(f"model.overrides.input_size {overrides['input_size']} != data.input_size {size}")
    model = build_model(ckpt["model_name"], keypoints=keypoints, codec=codec, **overrides)
    info = model.model_info
    if size is not None and list(info.input_size) != [int(v) for v in size]:
        info = info.replace(input_size=tuple(size))
    return info


def migrate(path: Path, keypoints: str | None = None, codec: str | None = None) -> ModelInfo:
    """Write ``model_info`` into checkpoint ``path`` (derived as :func:`derived_info` says); returns it."""
    ckpt = load_checkpoint(path)
    if ckpt.get("model_info") is not None:
        raise EdgeposeError("the checkpoint has its metadata already (model_info); nothing to migrate", path)
    info = derived_info(ckpt, keypoints, codec)
    save_checkpoint(path, {**ckpt, "model_info": info.to_dict()})
    build_model_from_checkpoint(path)  # the migrated file rebuilds, metadata and model agree
    return info


def ship(checkpoint: Path, out: Path, keypoints: str | None = None, codec: str | None = None) -> None:
    """Write the embedded default model files of ``checkpoint`` into ``out`` (see the module docstring)."""
    ckpt = load_checkpoint(checkpoint)
    if ckpt.get("model_info") is None:
        tmp = out / ".migrated.pt"
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(tmp, {**ckpt, "model_info": derived_info(ckpt, keypoints, codec).to_dict()})
        print(f"{checkpoint}: no model_info; derived from its training config (written into model.pt)")
        checkpoint = tmp
    try:
        model, ckpt = build_model_from_checkpoint(checkpoint)
    finally:
        if checkpoint.name == ".migrated.pt":
            checkpoint.unlink(missing_ok=True)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", {"model": half, **{k: ckpt.get(k) for k in KEEP}})
    result = export_onnx(model, out / "model.onnx")  # size and decoder: the model's own metadata
    print(f"exported {result.path} (max parity error {result.max_abs_diff:.2e})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the training checkpoint to ship (best.pt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})")
    parser.add_argument("--migrate", action="store_true", help="only add model_info to CHECKPOINT, in place")
    parser.add_argument("--keypoints", help="keypoint set of an old checkpoint (default: its dataset's)")
    parser.add_argument("--codec", help="decoder of an old checkpoint (default: its config's eval/data codec)")
    args = parser.parse_args(argv)
    try:
        if args.migrate:
            info = migrate(args.checkpoint, args.keypoints, args.codec)
            print(f"{args.checkpoint}: model_info added ({info.model_name}, {info.keypoints}, "
                  f"{info.input_size[0]}x{info.input_size[1]}, {info.codec})")  # fmt: skip
            return 0
        ship(args.checkpoint, args.out, args.keypoints, args.codec)
    except EdgeposeError as exc:
        print(f"ship_model: error: {exc}", file=sys.stderr)
        return 2
    run_dir = args.checkpoint.parent
    for name in RUN_FILES:
        src = run_dir / name
        if src.is_file():
            shutil.copyfile(src, args.out / Path(name).name)
        else:
            print(f"warning: {src} not found, not copied", file=sys.stderr)
    for path in sorted(args.out.iterdir()):
        print(f"{path.stat().st_size / 1e6:7.2f} MB  {path}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    sys.exit(main())
