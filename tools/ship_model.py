"""Package a trained top-down checkpoint as edgepose's embedded default model (edgepose/assets/model/).

    python tools/ship_model.py output/lspet/flpn_sres50/flpn_small_lspet_160x160/best.pt

Writes, into ``--out`` (default edgepose/assets/model/):

* ``model.pt``   -- a weights-only edgepose checkpoint whose state dict is stored in float16 (half the size;
  loading casts it back to float32);
* ``model.onnx`` -- the same weights (rounded through float16 first, so both files hold *identical* numbers)
  exported with ``edgepose.export.onnx.export_onnx`` and its parity check, for the torch-free runtime;
* ``config.yaml``, ``epochs.csv``, ``losses.png``, ``metrics.png`` -- the run's resolved config, per-epoch log
  and curves, copied from the checkpoint's folder.

``MODEL.md`` (what the model is, its figures and the commands that reproduce it) is written by hand beside them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from edgepose.engine.checkpoint import build_model_from_checkpoint, save_checkpoint
from edgepose.engine.predict import config_codec
from edgepose.export.onnx import export_onnx

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "edgepose" / "assets" / "model"
RUN_FILES = ("config.yaml", "epochs.csv", "plots/losses.png", "plots/metrics.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="the training checkpoint to ship (best.pt)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    model, ckpt = build_model_from_checkpoint(args.checkpoint)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    args.out.mkdir(parents=True, exist_ok=True)
    keep = ("model_name", "model_overrides", "config", "epoch", "step", "best_metric", "metrics")
    save_checkpoint(args.out / "model.pt", {"model": half, **{k: ckpt.get(k) for k in keep}})
    config = ckpt.get("config") or {}
    size = tuple(config["data"]["input_size"])
    result = export_onnx(model, args.out / "model.onnx", input_size=size, codec=config_codec(config))
    print(f"exported {result.path} (max parity error {result.max_abs_diff:.2e})")
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
