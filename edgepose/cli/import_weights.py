"""`edgepose import SRC --out CKPT`: a published network (TFLite, OpenVINO IR) as edgepose weights.

A whole network edgepose can build (MoveNet's trunk + neck + heatmap head, Intel's Lightweight OpenPose) becomes
a checkpoint that ``--weights`` takes everywhere; a classifier (MobileNetV2 ImageNet) becomes backbone weights
that a config's ``model.pretrained`` takes. The readers (``openvino``, ``ai-edge-litert``) are the ``import``
extra, needed here only: the written file is plain PyTorch.
"""

from __future__ import annotations

import argparse
import json

from edgepose.cli.checks import output_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import",
        help="import a TFLite or OpenVINO IR network as an edgepose checkpoint or backbone weights",
        description="Read a published network (.tflite: MobileNetV2 classifiers, MoveNet SinglePose; .xml + .bin: "
        "Intel's human-pose-estimation-0001) and write edgepose weights: a checkpoint (--weights) for whole "
        "networks, backbone weights (model.pretrained) for classifiers. Needs `pip install 'edgepose[import]'`.",
    )
    p.add_argument("src", metavar="SRC", help="the .tflite file, or the OpenVINO IR .xml (its .bin beside it)")
    p.add_argument("--out", required=True, metavar="CKPT", help="the .pt file to write")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.models.importers import import_file
    from edgepose.models.importers.checkpoint import save_imported

    out = output_file(args.out, "--out")
    weights = import_file(args.src)
    save_imported(weights, out)
    summary = {
        "source": weights.source, "out": str(out), "kind": weights.kind, "model": weights.model_name,
        "overrides": weights.overrides, "tensors": len(weights.state_dict),
        "parameters": int(sum(v.numel() for v in weights.state_dict.values())), "notes": weights.notes,
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary))
        return 0
    use = "--weights" if weights.kind == "model" else "model.pretrained"
    print(f"{out}: {weights.kind} weights of {weights.model_name} ({summary['parameters']:,} values) from "
          f"{weights.source}; use it as {use}")  # fmt: skip
    for note in weights.notes:
        print(f"  {note}")
    return 0
